"""course.events: what the courses service announces, recorded in the changed document's outbox."""

from enum import StrEnum
from typing import Any

from coursegraph.events import Event, Topic
from coursegraph.events.document_outbox import outbox_entry

SOURCE = "courses"


class CourseEventType(StrEnum):
    COURSE_CREATED = "COURSE_CREATED"
    COURSE_UPDATED = "COURSE_UPDATED"
    COURSE_PUBLISHED = "COURSE_PUBLISHED"
    COURSE_ARCHIVED = "COURSE_ARCHIVED"
    COURSE_ENROLLED = "COURSE_ENROLLED"
    LESSON_COMPLETED = "LESSON_COMPLETED"
    PROGRESS_UPDATED = "PROGRESS_UPDATED"
    COURSE_COMPLETED = "COURSE_COMPLETED"
    # issue 17: deadlines
    DEADLINE_SET = "DEADLINE_SET"
    # --- issue 17: announcements ---
    ANNOUNCEMENT_POSTED = "ANNOUNCEMENT_POSTED"
    ANNOUNCEMENT_UPDATED = "ANNOUNCEMENT_UPDATED"
    # issue 17: rosters
    ENROLLMENT_REMOVED = "ENROLLMENT_REMOVED"
    COURSE_ROLE_CHANGED = "COURSE_ROLE_CHANGED"


def course_event(
    event_type: CourseEventType, *, key: str, course_id: str, user_id: str, **metadata: Any
) -> dict[str, Any]:
    """An outbox entry for course.events, keyed by its aggregate (a course, or an enrollment)."""
    event = Event(
        event_type=event_type, user_id=user_id, course_id=course_id, metadata=metadata, source=SOURCE
    )
    return outbox_entry(Topic.COURSE, key, event)


CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"


def certificate_event(*, key: str, course_id: str, user_id: str, **metadata: Any) -> dict[str, Any]:
    """An outbox entry for certification.events, keyed by the enrollment the certificate completes."""
    event = Event(
        event_type=CERTIFICATE_ISSUED, user_id=user_id, course_id=course_id, metadata=metadata, source=SOURCE
    )
    return outbox_entry(Topic.CERTIFICATION, key, event)
