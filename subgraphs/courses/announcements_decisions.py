"""Announcements' decisions (issue 17): pure functions from what was read (and the time) to the
announcement as it should be and the events that announce it (ADR 0027). No store, no caller: the
service checks who is asking (`permissions`) and writes what these decide."""

from datetime import datetime
from typing import Any

from bson import ObjectId

from coursegraph.codes import Reason
from coursegraph.errors import Conflict, FieldError, ValidationFailed
from coursegraph.limits import ANNOUNCEMENT_BODY_MAX, ANNOUNCEMENT_TITLE_MAX
from coursegraph.rich_text import to_html
from coursegraph.text import clean_text
from coursegraph.unit_of_work import Decision
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.events import CourseEventType, course_event
from subgraphs.courses.models import Announcement, CourseStatus, Enrollment, EnrollmentStatus

# Enrollments whose learner hears from the course: learning, or done with it and keeping it (an
# enrollment taken away, as issue 17's roster does, is neither).
HEARING = frozenset({EnrollmentStatus.ACTIVE, EnrollmentStatus.COMPLETED})


def hears(enrollment: Enrollment | None) -> bool:
    """Whether the enrollment's learner sees the course's announcements and gets them by email."""
    return enrollment is not None and enrollment.status in HEARING


def _title(value: str, errors: list[FieldError]) -> str:
    # One line: a title goes into an email's subject.
    return clean_text(
        value, "title", maximum=ANNOUNCEMENT_TITLE_MAX, required=True, errors=errors, line_breaks=False
    )


def _body(value: str, errors: list[FieldError]) -> str:
    return clean_text(value, "body", maximum=ANNOUNCEMENT_BODY_MAX, required=True, errors=errors)


def _open(course: CourseSummary) -> None:
    if course.status is CourseStatus.ARCHIVED:
        raise Conflict(
            "An archived course takes no announcements.", details={"reason": Reason.COURSE_ARCHIVED}
        )


def post(
    course: CourseSummary, *, author_id: str, title: str, body: str, now: datetime
) -> Decision[Announcement]:
    """A new announcement in a course that is not archived, with ANNOUNCEMENT_POSTED (which mails it)."""
    _open(course)
    errors: list[FieldError] = []
    clean_title, clean_body = _title(title, errors), _body(body, errors)
    if errors:
        raise ValidationFailed(errors)
    announcement: Announcement = Announcement.model_construct(
        id=ObjectId(),
        course_id=course.id,
        author_id=author_id,
        title=clean_title,
        body=clean_body,
        body_html=to_html(clean_body),
        posted_at=now,
        updated_at=now,
    )
    event = course_event(
        CourseEventType.ANNOUNCEMENT_POSTED,
        key=str(announcement.id),
        course_id=course.id,
        user_id=author_id,
        announcement_id=str(announcement.id),
        title=clean_title,
        course_title=course.title,
    )
    return Decision(announcement, [event])


def edit(
    course: CourseSummary,
    announcement: Announcement,
    *,
    editor_id: str,
    title: str | None,
    body: str | None,
    now: datetime,
) -> Decision[Announcement] | None:
    """Only the given fields change; nothing given or nothing different is no change and no event.
    ANNOUNCEMENT_UPDATED says what changed and mails nobody."""
    _open(course)
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = _title(title, errors)
    if body is not None:
        changes["body"] = _body(body, errors)
    if errors:
        raise ValidationFailed(errors)
    changed = sorted(name for name, value in changes.items() if getattr(announcement, name) != value)
    if not changed:
        return None
    if "body" in changed:
        changes["body_html"] = to_html(changes["body"])
    event = course_event(
        CourseEventType.ANNOUNCEMENT_UPDATED,
        key=str(announcement.id),
        course_id=course.id,
        user_id=editor_id,
        announcement_id=str(announcement.id),
        changed=changed,
    )
    updated = announcement.model_copy(update={**changes, "updated_at": now, "edited_at": now})
    return Decision(updated, [event])
