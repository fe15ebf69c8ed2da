"""Rosters' decisions (issue 17, ADR 0031 "Rosters"): pure functions from what was read to what to write
and the events that announce it. No store, no caller: `roster.py` reads, checks `permissions`, writes.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from coursegraph.codes import FieldCode, Reason
from coursegraph.errors import Conflict, FieldError, ValidationFailed
from coursegraph.limits import ROSTER_ROW_MAX, TEACHING_ASSISTANTS_MAX
from coursegraph.text import is_text
from coursegraph.unit_of_work import Decision
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.events import CourseEventType, course_event
from subgraphs.courses.models import (
    Course,
    CourseRole,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    enrollment_id,
)

AnyCourse = Course | CourseSummary


class RosterOutcome(StrEnum):
    """What became of one entry of a bulk enrollment."""

    ENROLLED = "ENROLLED"  # enrolled now (new, or a removed enrollment made active again)
    ALREADY_ENROLLED = "ALREADY_ENROLLED"  # enrolled before: nothing changed
    UNKNOWN_USER = "UNKNOWN_USER"  # a well-formed email or user id that names no user
    INVALID = "INVALID"  # not an email or a user id, or a user who cannot be a learner here (see reason)


# --- entries: an email or a user id -----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry as given, and what it names: `email` (normalised, lower case) or `user_id`, or neither
    with the `invalid` reason."""

    given: str
    email: str | None = None
    user_id: str | None = None
    invalid: str | None = None


def parse_entry(given: str) -> Entry:
    """An email (normalised as the users service stores it) or a user id (a UUID), else INVALID."""
    value = given.strip()
    if not value:
        return Entry(given, invalid="Empty: give an email address or a user id.")
    if len(value) > ROSTER_ROW_MAX:
        return Entry(given, invalid=f"Longer than {ROSTER_ROW_MAX} characters.")
    if not is_text(value):
        return Entry(given, invalid="Not valid text.")
    if "@" in value:
        try:
            email = validate_email(value, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            return Entry(given, invalid=f"Not a valid email address: {exc}")
        return Entry(given, email=email)
    try:
        return Entry(given, user_id=str(uuid.UUID(value)))
    except ValueError:
        return Entry(given, invalid="Neither an email address nor a user id.")


# --- enrolling, removing, reactivating ----------------------------------------------------------------


def check_open_to_roster(course: AnyCourse) -> None:
    """The instructor fills a draft or a published course; an archived one is closed."""
    if course.status is CourseStatus.ARCHIVED:
        raise Conflict(
            "An archived course takes no new learners.", details={"reason": Reason.COURSE_ARCHIVED}
        )


def refusal(course: AnyCourse, user_id: str) -> str | None:
    """Why this user cannot be enrolled in the course by its instructor, or None."""
    if user_id == course.instructor_id:
        return "The course's instructor cannot be its learner."
    return None


def enroll_by(course: AnyCourse, *, user_id: str, enrolled_by: str, now: datetime) -> Decision[Enrollment]:
    """A new enrollment the course's instructor (or an admin) made, counted by the request that makes it.
    It announces COURSE_ENROLLED like a learner's own (welcome email, roster, progress)."""
    course_id = str(course.id)
    enrollment: Enrollment = Enrollment.model_construct(
        id=enrollment_id(user_id, course_id),
        user_id=user_id,
        course_id=course_id,
        enrolled_at=now,
        counted=True,
    )
    return Decision(enrollment, [_enrolled_event(course, enrollment, enrolled_by)])


def reactivate(course: AnyCourse, enrollment: Enrollment, *, enrolled_by: str) -> Decision[Enrollment] | None:
    """A REMOVED enrollment made active again with its progress (completed again if it was); None when it
    is not removed (already enrolled)."""
    if enrollment.status is not EnrollmentStatus.REMOVED:
        return None
    status = EnrollmentStatus.COMPLETED if enrollment.completed_at is not None else EnrollmentStatus.ACTIVE
    back = enrollment.model_copy(update={"status": status, "counted": True})
    return Decision(back, [_enrolled_event(course, back, enrolled_by, reactivated=True)])


def _enrolled_event(
    course: AnyCourse, enrollment: Enrollment, enrolled_by: str, *, reactivated: bool = False
) -> dict[str, object]:
    return course_event(
        CourseEventType.COURSE_ENROLLED,
        key=str(enrollment.id),
        course_id=enrollment.course_id,
        user_id=enrollment.user_id,
        enrollment_id=str(enrollment.id),
        course_title=course.title,
        enrolled_by=enrolled_by,
        reactivated=reactivated,
    )


def remove(enrollment: Enrollment, *, removed_by: str, now: datetime) -> Decision[Enrollment] | None:
    """Unenroll, keeping the enrollment and its progress; None when it is removed already."""
    if enrollment.status is EnrollmentStatus.REMOVED:
        return None
    removed = enrollment.model_copy(
        update={"status": EnrollmentStatus.REMOVED, "removed_at": now, "counted": False}
    )
    event = course_event(
        CourseEventType.ENROLLMENT_REMOVED,
        key=str(enrollment.id),
        course_id=enrollment.course_id,
        user_id=enrollment.user_id,
        enrollment_id=str(enrollment.id),
        removed_by=removed_by,
        previous_status=enrollment.status.value,
    )
    return Decision(removed, [event])


# --- course roles ---------------------------------------------------------------------------------------


def role_of(course: AnyCourse, user_id: str | None, enrollment: Enrollment | None) -> CourseRole | None:
    """The user's role in the course: a teaching assistant, else a learner while enrolled, else none."""
    if user_id is None:
        return None
    if user_id in course.teaching_assistants:
        return CourseRole.TEACHING_ASSISTANT
    if enrollment is not None and enrollment.status is not EnrollmentStatus.REMOVED:
        return CourseRole.LEARNER
    return None


def set_role(course: Course, *, user_id: str, role: CourseRole, changed_by: str) -> Decision[Course] | None:
    """Make the user a teaching assistant of the course, or (LEARNER) no longer one; None when it is so
    already. A teaching assistant need not be enrolled; their enrollment, if any, stays as it is."""
    if user_id == course.instructor_id:
        raise Conflict(
            "The course's instructor has no other role in it.", details={"reason": Reason.OWN_COURSE}
        )
    assistants = list(course.teaching_assistants)
    was = CourseRole.TEACHING_ASSISTANT if user_id in assistants else CourseRole.LEARNER
    if role is was:
        return None
    if role is CourseRole.TEACHING_ASSISTANT:
        if len(assistants) >= TEACHING_ASSISTANTS_MAX:
            raise ValidationFailed(
                [
                    FieldError(
                        "role",
                        FieldCode.TOO_MANY,
                        f"A course has at most {TEACHING_ASSISTANTS_MAX} assistants.",
                    )
                ]
            )
        assistants.append(user_id)
    else:
        assistants.remove(user_id)
    event = course_event(
        CourseEventType.COURSE_ROLE_CHANGED,
        key=str(course.id),
        course_id=str(course.id),
        user_id=user_id,
        role=role.value,
        previous_role=was.value,
        changed_by=changed_by,
    )
    return Decision(course.model_copy(update={"teaching_assistants": assistants}), [event])


class Tracked:
    """A decision for `change` that remembers whether its last call decided to write: after a lost race
    the fresh document is decided on again, and only that last answer says whether this request wrote."""

    def __init__(self, decide: Callable[[Enrollment], Decision[Enrollment] | None]) -> None:
        self._decide = decide
        self.applied = False

    def __call__(self, enrollment: Enrollment) -> Decision[Enrollment] | None:
        decision = self._decide(enrollment)
        self.applied = decision is not None
        return decision
