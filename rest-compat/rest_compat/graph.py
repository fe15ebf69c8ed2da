"""What every domain module shares: the GraphQL client for the router, the errors and envelope answers, and
the base models that map the REST bodies' snake_case names to the graph's camelCase ones."""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import AliasGenerator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.tracing import instrument_http_client

SERVICE = "rest-compat"

# Headers passed from the REST request to the router, so the graph sees the same caller and request id.
# With tracing on, the client span's own traceparent replaces the caller's (it is the router's parent).
FORWARDED_HEADERS = ("authorization", "x-request-id", "traceparent", "tracestate")


# --- models -------------------------------------------------------------------------------------------


class GraphInput(BaseModel):
    """A request body: read by its snake_case names, dumped by alias (camelCase) as a graph input."""

    # Unknown fields are an error and "1" is not a number: clients learn their mistakes early, and
    # `{"$gt": ""}` is never a valid value anywhere.
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=AliasGenerator(serialization_alias=to_camel)
    )

    def to_graph(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class GraphOutput(BaseModel):
    """A response body: validated from the graph's camelCase answer, serialised by its snake_case names."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel),
        validate_by_name=True,
    )


def _lower_case(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper_case(value: str) -> str:
    return value.upper()


# A graph enum value (`IN_PROGRESS`) read as REST spells it (`in_progress`), and the other way.
FromGraphEnum = BeforeValidator(_lower_case)
ToGraphEnum = PlainSerializer(_upper_case)


# --- errors and the envelope ----------------------------------------------------------------------------


NOT_TEXT = "The request has a string that is not valid Unicode text (a lone surrogate)."


class GraphError(Exception):
    """A GraphQL error (or a router refusal) in the fixed code set, ready for the envelope."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class RouterUnavailable(Exception):
    pass


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code.http_status: {"model": Envelope[None], "description": code.value} for code in ErrorCode
}


def envelope_error(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None, status: int | None = None
) -> JSONResponse:
    body = Envelope[None].fail(code.value, message, details)
    return JSONResponse(body.model_dump(mode="json"), status_code=status or code.http_status)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(field: str) -> str:
    """`modules.0.lessons.1.mediaUrl` -> `modules.0.lessons.1.media_url` (the REST bodies' spelling)."""
    return _CAMEL_BOUNDARY.sub(r"_\1", field).lower()


def user_errors(errors: list[dict[str, Any]], *, default_field: str) -> GraphError:
    """A mutation payload's typed errors as one 400 envelope with `details.fields`."""
    fields: dict[str, str] = {}
    for error in errors:
        graph_field = error["field"] or default_field
        field = snake_case(graph_field)
        fields[field] = str(error["message"]).replace(graph_field, field)
    first = next(iter(fields.values()))
    return GraphError(ErrorCode.BAD_USER_INPUT, first, {"fields": fields})


# --- the client -----------------------------------------------------------------------------------------

# How an endpoint runs its one GraphQL operation: as the REST request's caller; answers `data`.
Runner = Callable[[Request, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class GraphClient:
    def __init__(self, router_url: str, *, timeout: float) -> None:
        self._url = router_url
        # Idle connections are dropped before the router's own 5 s keep-alive would close them under a
        # request ("socket hang up").
        self._client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(keepalive_expiry=2.0))
        instrument_http_client(self._client, SERVICE)

    async def close(self) -> None:
        await self._client.aclose()

    async def run(self, request: Request, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `Runner`: sends the operation with the request's forwarded headers."""
        # A field value has no leading or trailing whitespace (RFC 9110 §5.5); uvicorn keeps what a client
        # sent after the colon, and httpx refuses to send it (`Authorization: Bearer ` was a 503).
        headers = {
            name: request.headers[name].strip(" \t") for name in FORWARDED_HEADERS if name in request.headers
        }
        try:
            content = json.dumps({"query": query, "variables": variables}, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            # JSON escapes let a client send a lone UTF-16 surrogate, which no text can hold.
            raise GraphError(ErrorCode.BAD_USER_INPUT, NOT_TEXT) from exc
        headers["content-type"] = "application/json"
        try:
            response = await self._client.post(self._url, content=content, headers=headers)
        except httpx.LocalProtocolError as exc:
            # What the client sent cannot be passed on as HTTP (a header value): their request, not our
            # router.
            raise GraphError(ErrorCode.BAD_USER_INPUT, "A request header is not a valid HTTP field.") from exc
        except httpx.TransportError as exc:
            raise RouterUnavailable(str(exc)) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise RouterUnavailable(f"router answered {response.status_code} without JSON") from exc
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise _graph_error(errors[0], response.status_code)
        if response.status_code >= 400 or not isinstance(body.get("data"), dict):
            raise RouterUnavailable(f"router answered {response.status_code}")
        data: dict[str, Any] = body["data"]
        return data


def _graph_error(error: dict[str, Any], status: int) -> GraphError:
    extensions = error.get("extensions") or {}
    raw_code = extensions.get("code")
    try:
        code = ErrorCode(str(raw_code))
    except ValueError:
        # Codes from outside our set (the gateway's own): judge by the HTTP status it chose.
        code = {401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN, 429: ErrorCode.RATE_LIMITED}.get(
            status, ErrorCode.BAD_USER_INPUT if 400 <= status < 500 else ErrorCode.INTERNAL
        )
    # Subgraphs already mask unexpected errors; an INTERNAL message that reaches us is meant for clients.
    message = str(error.get("message") or code.value)
    details = extensions.get("details")
    return GraphError(code, message, details if isinstance(details, dict) else {})
