"""The FastAPI app every subgraph runs in: GraphQL endpoint, health probes, request ids, auth."""

import gc
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import orjson
import strawberry
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from coursegraph.errors import CourseGraphError, ErrorCode
from coursegraph.events.relay import relays_woken_after
from coursegraph.graphql import ServiceContext, with_error_codes
from coursegraph.metrics import in_request, render
from coursegraph.observability import RequestIdMiddleware, request_id_middleware_options
from coursegraph.security import Actor, TokenVerifier
from coursegraph.settings import ServiceSettings
from coursegraph.tracing import instrument_app, instrument_graphql, shutdown_tracing, untraced

ContextT = TypeVar("ContextT", bound=ServiceContext)
ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class _AuthFailed(Exception):
    def __init__(self, error: CourseGraphError) -> None:
        self.error = error


def token_verifier(settings: ServiceSettings) -> TokenVerifier:
    return TokenVerifier(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        internal_audience=settings.jwt_internal_audience,
        cache_seconds=settings.jwks_cache_seconds,
        refetch_seconds=settings.jwks_refetch_seconds,
    )


def create_service_app(
    *,
    name: str,
    schema: strawberry.Schema,
    settings: ServiceSettings,
    build_context: Callable[[Request | WebSocket, Actor], Awaitable[ContextT]],
    lifespan: Lifespan | None = None,
    readiness_checks: Sequence[ReadinessCheck] = (),
    readiness_report: Callable[[], dict[str, Any]] | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    verifier = verifier or token_verifier(settings)

    async def context_getter(request: Request = None, websocket: WebSocket = None) -> ContextT:  # type: ignore[assignment]
        connection: Request | WebSocket = request if request is not None else websocket
        try:
            actor = await verifier.actor_from_authorization(connection.headers.get("authorization"))
        except CourseGraphError as exc:
            raise _AuthFailed(exc) from exc
        return await build_context(connection, actor)

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            # What starts here (relays, consumers, sweepers) runs outside requests and makes no spans
            # unless it continues a trace itself (consumers do, from the event's traceparent).
            with untraced():
                if lifespan is None:
                    freeze_long_lived_objects()
                    yield
                else:
                    async with lifespan(app):
                        freeze_long_lived_objects()
                        yield
        finally:
            await shutdown_tracing(name)

    app = FastAPI(title=f"CourseGraph {name} subgraph", lifespan=app_lifespan, docs_url=None)
    app.add_middleware(RequestIdMiddleware, **request_id_middleware_options())
    app.add_middleware(RequestWorkMiddleware)

    @app.exception_handler(_AuthFailed)
    async def auth_failed(_: Request, exc: _AuthFailed) -> JSONResponse:
        # A bad token is refused before execution, like the router does: 401 and a GraphQL error body.
        return graphql_error_response(exc.error.code, exc.error.message)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/ready", tags=["health"])
    async def ready() -> JSONResponse:
        failures: dict[str, str] = {}
        for check in readiness_checks:
            try:
                with untraced():
                    await check()
            except Exception as exc:  # any failure means not ready; report which
                failures[getattr(check, "__name__", "check")] = type(exc).__name__
        report = readiness_report() if readiness_report is not None else {}
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures, **report}, status_code=503)
        return JSONResponse({"status": "ready", "service": name, **report})

    graphql_app: GraphQLRouter[Any, None] = CodedGraphQLRouter(
        schema,
        verifier=verifier,
        context_getter=context_getter,
        graphql_ide="graphiql" if not settings.is_production else None,
    )
    app.include_router(graphql_app, prefix="/graphql")
    instrument_app(app, name)
    instrument_graphql(schema, name)
    return app


def freeze_long_lived_objects() -> None:
    """Leave what start-up made (modules, schemas, the catalog read model) out of the garbage collector's
    full collections, which stop every request while they walk all objects: these live as long as the
    process (measured: a full collection of a courses service with the demo catalog took 120 ms)."""
    gc.freeze()


class RequestWorkMiddleware:
    """Store calls made while serving a request count as "request" work in /metrics, and the outbox relays
    its writes woke start publishing once it has answered (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = in_request.set(scope["type"] in ("http", "websocket"))
        try:
            if scope["type"] == "http":
                with relays_woken_after():
                    await self.app(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            in_request.reset(token)


class CodedGraphQLRouter(GraphQLRouter[Any, None]):
    """Every error leaves with a code, including parse and validation errors raised before execution.

    Over WebSocket (subscriptions) the token arrives in `connection_init`'s payload, not in a header:
    the router puts the client's `Authorization` there. A bad token refuses the connection.
    """

    def __init__(self, *args: Any, verifier: TokenVerifier, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verifier = verifier

    def encode_json(self, data: object) -> str:
        # orjson: the same JSON (UTF-8 text rather than \u escapes) at a tenth of `json.dumps`'s cost. Text,
        # not bytes: the WebSocket transport sends bytes as binary frames, which graphql-ws clients refuse.
        try:
            return orjson.dumps(data).decode()
        except orjson.JSONEncodeError:
            # What orjson refuses (a lone surrogate a client sent, echoed in an error; an integer past 64
            # bits): the standard library escapes or writes it, as before.
            return json.dumps(data, separators=(",", ":"))

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = with_error_codes(result.errors)
        return await super().process_result(request, result)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization:
            try:
                context.actor = await self._verifier.actor_from_authorization(str(authorization))
            except CourseGraphError as exc:
                raise ConnectionRejectionError({"code": exc.code.value, "message": exc.message}) from exc
        acknowledged: UnsetType = UNSET
        return acknowledged


def graphql_error_response(code: ErrorCode, message: str) -> JSONResponse:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status_code=code.http_status)
