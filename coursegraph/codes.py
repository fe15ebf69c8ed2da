"""Every code a client can see, declared once: the error codes with their HTTP status, the `details.reason`
of a refusal, and the codes of a mutation payload's field errors (ADR 0028).

The router reads its copy of the error codes from `router/codes.json`, which `coursegraph export-schemas`
writes from this module (`make check-generated` fails when it is stale); rest-compat imports this module.
No other file spells a code: services name these members (`tests/unit/test_codes.py` checks it).
"""

import json
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """`extensions.code` of a GraphQL error and `error.code` of a REST envelope (DESIGN.md §8)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    # A service the request needs cannot be reached or is still starting: retry after a moment.
    UNAVAILABLE = "UNAVAILABLE"

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self]

    @property
    def retryable(self) -> bool:
        """The same request may succeed later unchanged (REST answers carry `Retry-After`)."""
        return self in RETRYABLE


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}
RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})

# How long a client should wait before asking again while a service is unreachable or starting (a
# service starts in seconds): `extensions.retryAfter` in GraphQL, `Retry-After` in REST.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2

# Answers that carry only an HTTP status (a proxy's, a framework's, a gateway's own refusal): their code.
# Each code's own status, and the gateway statuses of a server that is down or starting.
_STATUS_CODES: dict[int, ErrorCode] = {
    **{status: code for code, status in HTTP_STATUS.items()},
    502: ErrorCode.UNAVAILABLE,
    504: ErrorCode.UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an answer that has only an HTTP status: its own, else any other 4xx is the client's input
    and anything else ours."""
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    return ErrorCode.BAD_USER_INPUT if 400 <= status < 500 else ErrorCode.INTERNAL


# Hive Gateway's own error codes, as the router answers them.
GATEWAY_CODES: dict[str, ErrorCode] = {
    "GRAPHQL_PARSE_FAILED": ErrorCode.BAD_USER_INPUT,
    "GRAPHQL_VALIDATION_FAILED": ErrorCode.BAD_USER_INPUT,
    "BAD_REQUEST": ErrorCode.BAD_USER_INPUT,
    "COST_ESTIMATED_TOO_EXPENSIVE": ErrorCode.BAD_USER_INPUT,
    "PERSISTED_QUERY_NOT_FOUND": ErrorCode.BAD_USER_INPUT,
    "INTERNAL_SERVER_ERROR": ErrorCode.INTERNAL,
    "DOWNSTREAM_SERVICE_ERROR": ErrorCode.INTERNAL,
    "SCHEMA_RELOAD": ErrorCode.INTERNAL,
    # A subgraph did not answer at all (connection refused or reset, timeout): it is down or starting.
    "SUBREQUEST_HTTP_ERROR": ErrorCode.UNAVAILABLE,
}


class Reason(StrEnum):
    """`details.reason` of a refusal: why the resource's state does not allow the request."""

    # courses (CONFLICT)
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    COURSE_ARCHIVED = "COURSE_ARCHIVED"
    COURSE_NOT_PUBLISHED = "COURSE_NOT_PUBLISHED"
    OWN_COURSE = "OWN_COURSE"
    # assessments (CONFLICT)
    ALREADY_SUBMITTED = "ALREADY_SUBMITTED"
    ATTEMPTS_EXHAUSTED = "ATTEMPTS_EXHAUSTED"
    CLOSED = "CLOSED"
    NO_QUESTIONS = "NO_QUESTIONS"
    NOT_YET_AVAILABLE = "NOT_YET_AVAILABLE"
    TIME_UP = "TIME_UP"
    # media (CONFLICT)
    DELETED = "DELETED"
    NOT_READY = "NOT_READY"
    NOT_UPLOADED = "NOT_UPLOADED"
    # any argument (BAD_USER_INPUT): a string that is not text (coursegraph.input_boundary)
    NOT_TEXT = "NOT_TEXT"
    # refresh tokens (UNAUTHENTICATED)
    INVALID = "INVALID"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    REUSED = "REUSED"


class FieldCode(StrEnum):
    """`code` of a mutation payload's `errors { code field message }` (a `FieldError`)."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_FEW = "TOO_FEW"
    TOO_MANY = "TOO_MANY"
    TOO_LARGE = "TOO_LARGE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_PRECISE = "TOO_PRECISE"
    NOT_FINITE = "NOT_FINITE"
    DUPLICATE = "DUPLICATE"
    DUPLICATE_ID = "DUPLICATE_ID"
    UNKNOWN_ID = "UNKNOWN_ID"
    UNKNOWN_QUESTION = "UNKNOWN_QUESTION"
    MISMATCH = "MISMATCH"
    NOT_ALLOWED = "NOT_ALLOWED"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    # courses
    NO_LESSONS = "NO_LESSONS"
    # assessments: questions an instructor writes, answers a learner gives
    NO_CORRECT_OPTION = "NO_CORRECT_OPTION"
    TOO_MANY_CORRECT = "TOO_MANY_CORRECT"
    EMPTY_ANSWER = "EMPTY_ANSWER"
    TOO_MANY_OPTIONS = "TOO_MANY_OPTIONS"
    NOT_A_PERMUTATION = "NOT_A_PERMUTATION"
    WRONG_ANSWER_TYPE = "WRONG_ANSWER_TYPE"
    # deadlines: a due time that has passed, one without a UTC offset, a user not enrolled in the course
    IN_THE_PAST = "IN_THE_PAST"
    NO_TIME_ZONE = "NO_TIME_ZONE"
    NOT_ENROLLED = "NOT_ENROLLED"
    # notifications
    ESSENTIAL = "ESSENTIAL"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (a code, not a secret)


def router_codes() -> str:
    """`router/codes.json`: what the router needs of this module, as JSON (ends with a line feed)."""
    document: dict[str, Any] = {
        "//": "Generated from coursegraph/codes.py by `make schemas`; do not edit (ADR 0028).",
        "codes": {
            code.value: {"status": code.http_status, "retryable": code.retryable} for code in ErrorCode
        },
        "byStatus": {str(status): code.value for status, code in sorted(_STATUS_CODES.items())},
        "clientError": ErrorCode.BAD_USER_INPUT.value,
        "serverError": ErrorCode.INTERNAL.value,
        "gatewayCodes": {name: code.value for name, code in GATEWAY_CODES.items()},
        "unavailableRetryAfterSeconds": UNAVAILABLE_RETRY_AFTER_SECONDS,
    }
    return json.dumps(document, indent=2) + "\n"
