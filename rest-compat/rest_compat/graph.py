"""What every domain module shares: the GraphQL client for the router, the errors and envelope answers, and
the base models that map the REST bodies' snake_case names to the graph's camelCase ones."""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from coursegraph.codes import UNAVAILABLE_RETRY_AFTER_SECONDS, ErrorCode, code_for_status
from coursegraph.envelope import Envelope
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


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# JSON Schema's integers include `21.0`; strict validation would refuse it (and still refuses "21" and
# booleans).
Integral = BeforeValidator(_integral)

# A graph enum value (`IN_PROGRESS`) read as REST spells it (`in_progress`), and the other way.
FromGraphEnum = BeforeValidator(_lower_case)
ToGraphEnum = PlainSerializer(_upper_case)


# --- text: the services' rules, stated as patterns in the OpenAPI document --------------------------------
# Every pattern here means the same to the three engines that read it: pydantic's (Rust `regex`, which
# validates requests), ECMA-262 (JSON Schema clients) and Python's `re` (schemathesis): explicit
# character classes only, no `\s`, no lookaround, anchored at both ends.

# Unicode category Cc (C0 controls, DEL, C1 controls): the services refuse them in text.
CONTROLS = r"\x00-\x1f\x7f-\x9f"
# The same less tab, line feed and carriage return, which multi-line text may hold.
CONTROLS_BUT_LINE_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# What Python's `str.strip()` removes besides those controls: text made only of these is blank.
SPACES = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def text_pattern(*, required: bool, line_breaks: bool) -> str:
    """Text without control characters (tab and line breaks allowed when `line_breaks`); when
    `required`, with at least one character that is neither a control nor a space."""
    allowed = f"[^{CONTROLS_BUT_LINE_BREAKS if line_breaks else CONTROLS}]"
    if not required:
        return f"^{allowed}*$"
    return f"^{allowed}*[^{CONTROLS}{SPACES}]{allowed}*$"


def text_rules(maximum: int, *, required: bool, line_breaks: bool) -> Any:
    """The bounds, pattern and description of a text field, for `Annotated[str, text_rules(...)]`."""
    breaks = "; tab and line breaks allowed" if line_breaks else ""
    blank = ", and not blank" if required else ""
    return Field(
        min_length=1 if required else None,
        max_length=maximum,
        pattern=text_pattern(required=required, line_breaks=line_breaks),
        description=f"At most {maximum} characters (counted once Unicode NFC-normalised and trimmed)"
        f"{blank}; no control characters{breaks}.",
    )


# --- errors and the envelope ----------------------------------------------------------------------------


NOT_TEXT = "The request has a string that is not valid Unicode text (a lone surrogate)."


class GraphError(Exception):
    """A GraphQL error (or a router refusal) in the fixed code set, ready for the envelope."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if code is ErrorCode.UNAVAILABLE and "Retry-After" not in self.headers:
            self.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)


class RouterUnavailable(Exception):
    pass


# --- what an operation may answer, for the OpenAPI document --------------------------------------------

# What each code means to a REST client; its status is the kernel's (coursegraph.codes).
_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.BAD_USER_INPUT: "The request breaks a rule; `details.fields` names the fields.",
    ErrorCode.UNAUTHENTICATED: "No valid access token where one is needed, or an invalid one.",
    ErrorCode.FORBIDDEN: "The caller may not do this.",
    ErrorCode.NOT_FOUND: "There is no such resource (or the caller may not know of it).",
    ErrorCode.CONFLICT: "The resource's state does not allow it; `details.reason` says why.",
    ErrorCode.RATE_LIMITED: "Too many requests from this client; retry after `Retry-After` seconds.",
    ErrorCode.INTERNAL: "An unexpected error.",
    ErrorCode.UNAVAILABLE: "A service the request needs is not answering or is still starting; retry after "
    "`Retry-After` seconds.",
}
_ERRORS: dict[int, tuple[ErrorCode, str]] = {
    **{code.http_status: (code, meaning) for code, meaning in _MEANINGS.items()},
    413: (ErrorCode.BAD_USER_INPUT, "The request body is over the size limit (8 MiB by default)."),
}
# Every operation may answer these: invalid input, an invalid token, the rate limit, a failure.
ALWAYS = (400, 401, 429, 500, 503)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation (the envelope with `success: false`), by status."""
    return {
        status: {"model": Envelope[None], "description": f"{_ERRORS[status][0].value}: {_ERRORS[status][1]}"}
        for status in sorted(statuses)
    }


# How an operation takes the caller's access token (`Authorization: Bearer <JWT>`): required, or optional
# (anonymous callers see less). The scheme itself is declared once (`app.py`).
BEARER = "bearer"
SIGNED_IN: dict[str, Any] = {"security": [{BEARER: []}]}
SIGNED_IN_OR_NOT: dict[str, Any] = {"security": [{}, {BEARER: []}]}


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
        headers["x-forwarded-for"] = _forwarded_for(request)
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


def _forwarded_for(request: Request) -> str:
    """The hops a request came through, for the router's per-client rate limit: those the client (or a
    proxy in front) named, then who connected to us. Which of them to believe is the router's call
    (its trusted proxies), so nothing here is trusted or dropped."""
    peer = request.client.host if request.client else None
    return ", ".join(hop for hop in (request.headers.get("x-forwarded-for"), peer) if hop)


def _graph_error(error: dict[str, Any], status: int) -> GraphError:
    extensions = error.get("extensions") or {}
    raw_code = extensions.get("code")
    try:
        code = ErrorCode(str(raw_code))
    except ValueError:
        # Codes from outside our set (the gateway's own): judge by the HTTP status it chose.
        code = code_for_status(status if status >= 400 else 500)
    # Subgraphs already mask unexpected errors; an INTERNAL message that reaches us is meant for clients.
    message = str(error.get("message") or code.value)
    details = extensions.get("details")
    # The router's rate limit (and a subgraph it cannot reach) says when to come back; REST clients read
    # that from Retry-After.
    retry_after = extensions.get("retryAfter")
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) and retry_after > 0 else {}
    return GraphError(code, message, details if isinstance(details, dict) else {}, headers)
