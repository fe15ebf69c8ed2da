"""The REST envelope and error format of the requirements, used by rest-compat."""

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Envelope(BaseModel, Generic[T]):
    success: bool
    data: T | None = None
    error: ErrorBody | None = None
    timestamp: datetime = Field(default_factory=_now)

    @classmethod
    def ok(cls, data: T) -> "Envelope[T]":
        return cls(success=True, data=data)

    @classmethod
    def fail(cls, code: str, message: str, details: dict[str, Any] | None = None) -> "Envelope[T]":
        return cls(success=False, error=ErrorBody(code=code, message=message, details=details or {}))
