"""assessment.events: what the assessments service announces, in the changed document's outbox."""

from enum import StrEnum
from typing import Any

from coursegraph.events import Event, Topic
from coursegraph.events.document_outbox import outbox_entry

SOURCE = "assessments"


class AssessmentEventType(StrEnum):
    ASSESSMENT_CREATED = "ASSESSMENT_CREATED"
    ASSESSMENT_UPDATED = "ASSESSMENT_UPDATED"
    ASSESSMENT_SUBMITTED = "ASSESSMENT_SUBMITTED"
    ASSESSMENT_COMPLETED = "ASSESSMENT_COMPLETED"


def assessment_event(
    event_type: AssessmentEventType, *, key: str, course_id: str, user_id: str, **metadata: Any
) -> dict[str, Any]:
    """Keyed by the aggregate: the assessment for its lifecycle, the attempt for a learner's events."""
    event = Event(
        event_type=event_type, user_id=user_id, course_id=course_id, metadata=metadata, source=SOURCE
    )
    return outbox_entry(Topic.ASSESSMENT, key, event)
