"""The one error hierarchy: every failure a client can see carries a code from a fixed set.

The same code becomes `extensions.code` in GraphQL and picks the HTTP status in REST.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self]


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}


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


ERROR_TYPES: dict[ErrorCode, type[CourseGraphError]] = {
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.BAD_USER_INPUT: BadUserInput,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.INTERNAL: Internal,
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
    code: str
    message: str


class ValidationFailed(BadUserInput):
    """Input a client can fix; mutation payloads list these as typed user errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(error.message for error in errors),
            details={"fields": {error.field: error.message for error in errors}},
        )
