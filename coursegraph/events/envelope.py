"""The event envelope: the requirements' fields plus what at-least-once delivery needs.

`event_id` lets consumers drop duplicates; `source` and `version` say who wrote it and in which shape;
`traceparent` carries the W3C trace context across Kafka. It is taken when the event is made, inside the
request or consumed event that causes it: the outbox relay publishes later, outside any trace.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from coursegraph.tracing import current_traceparent


class Topic(StrEnum):
    USER = "user.events"
    COURSE = "course.events"
    ASSESSMENT = "assessment.events"
    CERTIFICATION = "certification.events"
    MEDIA = "media.events"

    @property
    def dlq(self) -> str:
        return f"{self.value}.dlq"


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    timestamp: datetime = Field(default_factory=_now)
    user_id: str | None = None
    course_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str
    version: int = 1
    traceparent: str | None = Field(default_factory=current_traceparent)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Event":
        return cls.model_validate_json(raw)
