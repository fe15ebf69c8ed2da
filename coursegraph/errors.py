"""The one error hierarchy: every failure a client can see carries a code from a fixed set.

The same code becomes `extensions.code` in GraphQL and picks the HTTP status in REST. The codes themselves
are declared in `coursegraph.codes` (imported from here too, as they always were).
"""

from dataclasses import dataclass
from typing import Any

from coursegraph.codes import HTTP_STATUS as HTTP_STATUS
from coursegraph.codes import ErrorCode as ErrorCode
from coursegraph.codes import FieldCode


class CourseGraphError(Exception):
    """An expected failure with a client-facing code and message (never internals)."""

    code: ErrorCode = ErrorCode.INTERNAL
    default_message = "Internal error."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)

    @property
    def extensions(self) -> dict[str, Any]:
        """graphql-core copies these onto the GraphQLError, so every transport (HTTP, WebSocket) has them."""
        extensions: dict[str, Any] = {"code": self.code.value}
        if self.details:
            extensions["details"] = self.details
        return extensions


class Unauthenticated(CourseGraphError):
    code = ErrorCode.UNAUTHENTICATED
    default_message = "Authentication required."


class Forbidden(CourseGraphError):
    code = ErrorCode.FORBIDDEN
    default_message = "You are not allowed to do this."


class NotFound(CourseGraphError):
    code = ErrorCode.NOT_FOUND
    default_message = "Not found."


class BadUserInput(CourseGraphError):
    code = ErrorCode.BAD_USER_INPUT
    default_message = "Invalid input."


class Conflict(CourseGraphError):
    code = ErrorCode.CONFLICT
    default_message = "Conflict with the current state."


class RateLimited(CourseGraphError):
    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests."


class Internal(CourseGraphError):
    code = ErrorCode.INTERNAL


class Unavailable(CourseGraphError):
    code = ErrorCode.UNAVAILABLE
    default_message = "A service this request needs is not available yet; retry in a moment."


ERROR_TYPES: dict[ErrorCode, type[CourseGraphError]] = {
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.BAD_USER_INPUT: BadUserInput,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.INTERNAL: Internal,
    ErrorCode.UNAVAILABLE: Unavailable,
}


def error_from_graphql(error: dict[str, Any]) -> CourseGraphError | None:
    """Rebuild our error from another service's GraphQL error; None when it carries no code of ours."""
    extensions = error.get("extensions") or {}
    try:
        code = ErrorCode(str(extensions.get("code")))
    except ValueError:
        return None
    details = extensions.get("details")
    return ERROR_TYPES[code](
        str(error.get("message") or ""), details=details if isinstance(details, dict) else None
    )


@dataclass(frozen=True)
class FieldError:
    field: str
    code: FieldCode | str  # a FieldCode; `str` only until every service names its codes (issue 16)
    message: str


class ValidationFailed(BadUserInput):
    """Input a client can fix; mutation payloads list these as typed user errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(error.message for error in errors),
            details={"fields": {error.field: error.message for error in errors}},
        )
