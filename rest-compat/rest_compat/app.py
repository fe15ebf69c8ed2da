"""rest-compat: the requirements' REST endpoints and envelope, each answered by one GraphQL operation.

It never touches a database or imports a subgraph: the router is its only backend.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursegraph.catalog_signal import catalog_signal
from coursegraph.codes import ErrorCode, code_for_status
from coursegraph.observability import RequestIdMiddleware, request_id_middleware_options
from coursegraph.tracing import instrument_app, shutdown_tracing
from rest_compat import (
    announcements,
    assessments,
    auth,
    courses,
    deadlines,
    gradebook,
    media,
    notifications,
    roster,
    users,
)
from rest_compat.cache import PublicCache
from rest_compat.graph import (
    ALWAYS,
    BEARER,
    SERVICE,
    GraphClient,
    GraphError,
    RouterUnavailable,
    envelope_error,
    responses,
)
from rest_compat.settings import RestCompatSettings

logger = logging.getLogger(__name__)


class BodyLimit:
    """Refuse a request body over `limit` bytes, announced (Content-Length) or streamed (chunked), before
    more of it is read (pure ASGI: it counts what the app receives). Field limits bound what the graph
    accepts; this bounds what is read at all."""

    def __init__(self, app: ASGIApp, *, limit: int, paths: dict[str, int] | None = None) -> None:
        """`paths`: other limits for some paths (uploads)."""
        self.app = app
        self.limit = limit
        self.paths = paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.limit)
        too_large = f"The request body is larger than {limit} bytes."
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await envelope_error(ErrorCode.BAD_USER_INPUT, too_large, status=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: the app's readers let it through, and its handler answers 413.
                    raise StarletteHTTPException(413, too_large)
            return message

        await self.app(scope, counted, send)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# Public resources, the same for every anonymous caller: cached (rest_compat/cache.py, ADR 0024).
PUBLIC_READS = ("/courses", "/courses/{course_id}", "/certificates/{code}")


def allowed_methods(app: FastAPI, request: Request) -> set[str]:
    """The methods some route answers at the request's path."""
    return {
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.routes)
    }


def create_app(settings: RestCompatSettings | None = None) -> FastAPI:
    settings = settings or RestCompatSettings()
    graph = GraphClient(settings.router_url, timeout=settings.router_timeout_seconds)
    signal = catalog_signal(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await signal.start()
        yield
        await signal.stop()
        await graph.close()
        await shutdown_tracing(SERVICE)

    # /docs loads Swagger UI's assets from this app (a pinned wheel's copies), never from a CDN: it works
    # offline and no third-party script runs in the API's origin. No /redoc: ReDoc's bundle fetches its
    # attribution logo from its vendor's CDN (ADR 0034).
    app = FastAPIOffline(
        title="CourseGraph REST compatibility API",
        redoc_url=None,
        description="The documented REST endpoints and envelope, served from the GraphQL router.",
        version="1.0.0",
        lifespan=lifespan,
        responses=responses(*ALWAYS),
    )
    # Innermost: what it answers from memory still gets a request id (and a trace).
    app.add_middleware(
        PublicCache,
        paths=PUBLIC_READS,
        signal=signal,
        max_age_seconds=settings.public_max_age_seconds,
        ttl_seconds=settings.public_cache_ttl_seconds,
        max_entries=settings.public_cache_entries,
    )
    app.add_middleware(RequestIdMiddleware, **request_id_middleware_options())

    # An upload may be as large as the media service allows, plus its form's fields and boundaries.
    uploads = {"/media/upload": settings.media_max_bytes + 1024 * 1024}
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, paths=uploads)
    # Outermost: the web app (another origin in dev) reads CSV exports and sends imports; the router
    # allows the same origins (COURSEGRAPH_CORS_ORIGINS, one setting for both).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["authorization", "content-type"],
        expose_headers=["content-disposition"],
        max_age=600,
    )

    @app.exception_handler(GraphError)
    async def graph_error(_: Request, exc: GraphError) -> JSONResponse:
        response = envelope_error(exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

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
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = envelope_error(code_for_status(exc.status_code), str(exc.detail), status=exc.status_code)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Every method the path answers, not only the first route's (RFC 9110 §15.5.6).
            response.headers["Allow"] = ", ".join(sorted(allowed_methods(app, request)))
        return response

    @app.exception_handler(RouterUnavailable)
    async def router_unavailable(request: Request, exc: RouterUnavailable) -> JSONResponse:
        # The router is down or still starting: the same answer as a subgraph it cannot reach.
        logger.error("router unavailable: %s", exc)
        unavailable = GraphError(ErrorCode.UNAVAILABLE, "The API is temporarily unavailable.")
        return await graph_error(request, unavailable)

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
        # Redis down does not make it unready: the cache bypasses itself meanwhile (ADR 0022).
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "catalog_signal": signal.describe()},
            status_code=200 if ok else 503,
        )

    app.include_router(auth.router(graph.run))
    app.include_router(users.router(graph.run))
    app.include_router(courses.router(graph.run))
    app.include_router(assessments.router(graph.run))
    app.include_router(notifications.router(graph.run))
    app.include_router(
        media.router(graph.run, storage_urls=(settings.s3_public_endpoint_url, settings.s3_endpoint_url))
    )
    app.include_router(deadlines.router(graph.run))  # issue 17: deadlines
    app.include_router(gradebook.router(graph.run))
    # --- issue 17: announcements ---
    app.include_router(announcements.router(graph.run))
    app.include_router(roster.router(graph.run))

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the bearer scheme the operations name and the public reads' 304, less
        the 422 answers FastAPI adds on its own: this API answers invalid requests with 400 (the envelope)."""
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = document.setdefault("components", {})
            components["securitySchemes"] = {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access token of a sign-in (`access_token`).",
                }
            }
            for operations in document["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
            for path in PUBLIC_READS:
                document["paths"][path]["get"]["responses"]["304"] = {
                    "description": "Not Modified: an anonymous request's `If-None-Match` names the current "
                    "ETag (no body; ETag and Cache-Control as a 200 would carry)."
                }
            for unused in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(unused, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    instrument_app(app, SERVICE)
    return app
