"""rest-compat: the requirements' REST endpoints and envelope, each answered by one GraphQL operation.

It never touches a database or imports a subgraph: the router is its only backend.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.observability import RequestIdMiddleware, request_id_middleware_options
from coursegraph.tracing import instrument_app, shutdown_tracing
from rest_compat import operations as ops
from rest_compat.assessments import assessments_router
from rest_compat.courses import courses_router
from rest_compat.graph import (
    FORWARDED_HEADERS,
    SERVICE,
    GraphClient,
    GraphError,
    RouterUnavailable,
    user_errors,
)
from rest_compat.schemas import (
    DevSignInRequest,
    OAuthSignInRequest,
    RefreshRequest,
    Roles,
    SignedOut,
    Tokens,
    UpdateUserRequest,
    User,
)
from rest_compat.settings import RestCompatSettings

logger = logging.getLogger(__name__)

UserId = Annotated[UUID, Path(description="The user's id (a UUID).")]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Envelope[None], "description": code.value}
    for code, status in ((c, c.http_status) for c in ErrorCode)
}


def envelope_error(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None, status: int | None = None
) -> JSONResponse:
    body = Envelope[None].fail(code.value, message, details)
    return JSONResponse(body.model_dump(mode="json"), status_code=status or code.http_status)


def create_app(settings: RestCompatSettings | None = None) -> FastAPI:
    settings = settings or RestCompatSettings()
    graph = GraphClient(settings.router_url, timeout=settings.router_timeout_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await graph.close()
        await shutdown_tracing(SERVICE)

    app = FastAPI(
        title="CourseGraph REST compatibility API",
        description="The documented REST endpoints and envelope, served from the GraphQL router.",
        version="1.0.0",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.add_middleware(RequestIdMiddleware, **request_id_middleware_options())

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Field limits bound what the graph accepts; this bounds what we read at all.
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_bytes:
            return envelope_error(
                ErrorCode.BAD_USER_INPUT,
                f"The request body is larger than {settings.max_body_bytes} bytes.",
                status=413,
            )
        return await call_next(request)

    async def run(request: Request, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        return await graph.execute(query, variables, headers)

    @app.exception_handler(GraphError)
    async def graph_error(_: Request, exc: GraphError) -> JSONResponse:
        return envelope_error(exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return envelope_error(ErrorCode.BAD_USER_INPUT, "The request body is not valid JSON.")
        fields = {
            ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]): error["msg"]
            for error in errors
        }
        return envelope_error(ErrorCode.BAD_USER_INPUT, "The request is not valid.", {"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND}.get(
            exc.status_code, ErrorCode.BAD_USER_INPUT if exc.status_code < 500 else ErrorCode.INTERNAL
        )
        return envelope_error(code, str(exc.detail), status=exc.status_code)

    @app.exception_handler(RouterUnavailable)
    async def router_unavailable(_: Request, exc: RouterUnavailable) -> JSONResponse:
        logger.error("router unavailable: %s", exc)
        return envelope_error(ErrorCode.INTERNAL, "The API is temporarily unavailable.", status=503)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return envelope_error(ErrorCode.INTERNAL, "Internal error.")

    @app.get("/health", tags=["health"], include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": SERVICE}

    @app.get("/ready", tags=["health"], include_in_schema=False)
    async def ready() -> JSONResponse:
        readiness = settings.router_url.rsplit("/graphql", 1)[0] + "/readiness"
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                ok = (await client.get(readiness)).status_code == 200
        except httpx.TransportError:
            ok = False
        return JSONResponse({"status": "ready" if ok else "unavailable"}, status_code=200 if ok else 503)

    # --- auth ---------------------------------------------------------------------------------------

    async def oauth_sign_in(
        request: Request, body: OAuthSignInRequest, query: str, field: str
    ) -> Envelope[Tokens]:
        variables = {
            "input": {"code": body.code, "codeVerifier": body.code_verifier, "redirectUri": body.redirect_uri}
        }
        data = await run(request, query, variables)
        return Envelope.ok(Tokens.from_graph(data[field]))

    @app.post("/auth/google", tags=["auth"], summary="Sign in with a Google authorization code (PKCE)")
    async def sign_in_with_google(request: Request, body: OAuthSignInRequest) -> Envelope[Tokens]:
        return await oauth_sign_in(request, body, ops.SIGN_IN_WITH_GOOGLE, "signInWithGoogle")

    @app.post("/auth/github", tags=["auth"], summary="Sign in with a GitHub authorization code")
    async def sign_in_with_github(request: Request, body: OAuthSignInRequest) -> Envelope[Tokens]:
        return await oauth_sign_in(request, body, ops.SIGN_IN_WITH_GITHUB, "signInWithGithub")

    @app.post("/auth/refresh", tags=["auth"], summary="Exchange a refresh token for a new token pair")
    async def refresh(request: Request, body: RefreshRequest) -> Envelope[Tokens]:
        data = await run(request, ops.REFRESH, {"refreshToken": body.refresh_token})
        return Envelope.ok(Tokens.from_graph(data["refreshToken"]))

    @app.post("/auth/logout", tags=["auth"], summary="Sign out: revoke the refresh token's session")
    async def sign_out(request: Request, body: RefreshRequest) -> Envelope[SignedOut]:
        data = await run(request, ops.SIGN_OUT, {"refreshToken": body.refresh_token})
        return Envelope.ok(SignedOut(signed_out=bool(data["signOut"])))

    @app.post("/auth/dev", tags=["auth"], summary="Dev profile only: sign in as any email")
    async def dev_sign_in(request: Request, body: DevSignInRequest) -> Envelope[Tokens]:
        data = await run(request, ops.DEV_SIGN_IN, {"email": body.email, "name": body.name})
        return Envelope.ok(Tokens.from_graph(data["devSignIn"]))

    # --- users --------------------------------------------------------------------------------------

    @app.get("/users/{user_id}", tags=["users"], summary="A user's profile")
    async def get_user(request: Request, user_id: UserId) -> Envelope[User]:
        data = await run(request, ops.USER, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        return Envelope.ok(User.from_graph(data["user"]))

    @app.put("/users/{user_id}", tags=["users"], summary="Edit a profile (own name; admins: roles)")
    async def update_user(request: Request, user_id: UserId, body: UpdateUserRequest) -> Envelope[User]:
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise GraphError(ErrorCode.BAD_USER_INPUT, "Nothing to update: give name and/or role.")
        if "role" in changes and changes["role"] is not None:
            changes["role"] = changes["role"].upper()
        data = await run(request, ops.UPDATE_USER, {"id": str(user_id), "input": changes})
        payload = data["updateUser"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(User.from_graph(payload["user"]))

    @app.get("/users/{user_id}/roles", tags=["users"], summary="A user's role and its permissions")
    async def get_user_roles(request: Request, user_id: UserId) -> Envelope[Roles]:
        data = await run(request, ops.USER_ROLES, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        roles = data["user"]["roles"]
        return Envelope.ok(
            Roles(user_id=data["user"]["id"], role=roles["role"].lower(), permissions=roles["permissions"])
        )

    # --- courses and assessments ---------------------------------------------------------------------

    app.include_router(courses_router(run))
    app.include_router(assessments_router(run))

    instrument_app(app, SERVICE)
    return app
