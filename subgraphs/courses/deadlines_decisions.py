"""Deadlines' decisions (issue 17, ADR 0031 "Deadlines"): pure functions from what was read (and the time)
to the deadline as it should be and the DEADLINE_SET that announces it, and what a reader is shown.

Nothing here reads a store or looks at who is calling (see `deadlines.py`).
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError, ValidationFailed
from coursegraph.ids import derived_object_id
from coursegraph.limits import DEADLINE_YEARS_AHEAD
from coursegraph.unit_of_work import Decision
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.events import CourseEventType, course_event
from subgraphs.courses.models import NEVER, Course, Deadline, DeadlineTarget, deadline_id

AnyCourse = Course | CourseSummary

HORIZON = timedelta(days=366 * DEADLINE_YEARS_AHEAD)


@dataclass(frozen=True)
class Target:
    """A module or an assessment of a course, found in the course's outline or its assessments."""

    kind: DeadlineTarget
    id: str
    title: str


@dataclass(frozen=True)
class DeadlineView:
    """A deadline as one reader sees it: managers the course's due time and every extension, a learner
    their own due time (`extended` when it is their extension)."""

    deadline: Deadline
    due_at: datetime
    extended: bool
    extensions: dict[str, datetime]


# --- checks ---------------------------------------------------------------------------------------


def check_due_at(due_at: datetime, field: str, *, now: datetime) -> None:
    """A due time has a UTC offset (a date without one means a different instant to every reader), is not
    in the past (a typo would mark every submission late), and is at most DEADLINE_YEARS_AHEAD away."""
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise ValidationFailed(
            [
                FieldError(
                    field, FieldCode.NO_TIME_ZONE, f"{field} needs a UTC offset, e.g. 2027-01-31T23:59Z."
                )
            ]
        )
    if due_at <= now:
        raise ValidationFailed([FieldError(field, FieldCode.IN_THE_PAST, f"{field} must be in the future.")])
    if due_at > now + HORIZON:
        raise ValidationFailed(
            [
                FieldError(
                    field,
                    FieldCode.OUT_OF_RANGE,
                    f"{field} must be within {DEADLINE_YEARS_AHEAD} years from now.",
                )
            ]
        )


def find_target(
    course: AnyCourse, kind: DeadlineTarget, target_id: str, assessments: dict[str, str], *, field: str
) -> Target:
    """The module of the course's outline, or the assessment of the course (id -> title), named."""
    if kind is DeadlineTarget.MODULE:
        module = next((m for m in course.modules if m.id == target_id), None)
        if module is not None:
            return Target(kind, module.id, module.title)
        message = f"{field} is not a module of this course."
    else:
        title = assessments.get(target_id)
        if title is not None:
            return Target(kind, target_id, title)
        # Assessments are learnt from assessment.events: a new one is known within a second or so.
        message = f"{field} is not an assessment of this course (a new assessment is known within seconds)."
    raise ValidationFailed([FieldError(field, FieldCode.UNKNOWN_ID, message)])


def require_set(deadline: Deadline | None, field: str) -> Deadline:
    if deadline is None or deadline.cleared:
        raise ValidationFailed(
            [FieldError(field, FieldCode.UNKNOWN_ID, "No deadline is set for this module or assessment.")]
        )
    return deadline


# --- writes ---------------------------------------------------------------------------------------


def _announce(deadline: Deadline, actor_id: str, *, learner_id: str | None = None) -> dict[str, Any]:
    extension = None if learner_id is None else deadline.extensions.get(learner_id)
    return course_event(
        CourseEventType.DEADLINE_SET,
        key=str(deadline.id),
        course_id=deadline.course_id,
        user_id=actor_id,
        deadline_id=str(deadline.id),
        target=deadline.target.value,
        target_id=deadline.target_id,
        title=deadline.title,
        due_at=None if deadline.cleared else deadline.due_at.isoformat(),
        cleared=deadline.cleared,
        extended_user_id=learner_id,
        extension_due_at=None if extension is None else extension.isoformat(),
    )


def set_deadline(
    existing: Deadline | None,
    *,
    course_id: str,
    target: Target,
    due_at: datetime,
    actor_id: str,
    now: datetime,
) -> Decision[Deadline] | None:
    """Set (or move) the due time of a target; None when it is already so. Extensions stay; a deadline set
    again after it was cleared starts without any."""
    check_due_at(due_at, "input.dueAt", now=now)
    if existing is None:
        deadline: Deadline = Deadline.model_construct(
            id=deadline_id(course_id, target.id),
            course_id=course_id,
            target=target.kind,
            target_id=target.id,
            title=target.title,
            due_at=due_at,
            extensions={},
            cleared=False,
            version=0,
            updated_at=now,
            outbox=[],
            outbox_pending=False,
            outbox_lease=None,
        )
        return Decision(deadline, [_announce(deadline, actor_id)])
    if not existing.cleared and existing.due_at == due_at and existing.title == target.title:
        return None
    changes = {
        "due_at": due_at,
        "title": target.title,
        "target": target.kind,
        "cleared": False,
        "updated_at": now,
    }
    updated = existing.model_copy(update=changes)
    return Decision(updated, [_announce(updated, actor_id)])


def clear_deadline(existing: Deadline, *, actor_id: str, now: datetime) -> Decision[Deadline] | None:
    """No due time any more (and no extensions): `due_for` answers NEVER, so nothing is late."""
    if existing.cleared:
        return None
    changes = {"due_at": NEVER, "extensions": {}, "cleared": True, "updated_at": now}
    updated = existing.model_copy(update=changes)
    return Decision(updated, [_announce(updated, actor_id)])


def grant_extension(
    existing: Deadline, *, user_id: str, due_at: datetime | None, actor_id: str, now: datetime
) -> Decision[Deadline] | None:
    """A learner's own due time (any future time: later or, rarely, earlier than the course's); None as
    `due_at` removes it."""
    require_set(existing, "targetId")
    extensions = dict(existing.extensions)
    if due_at is None:
        if user_id not in extensions:
            return None
        del extensions[user_id]
    else:
        check_due_at(due_at, "dueAt", now=now)
        if extensions.get(user_id) == due_at:
            return None
        extensions[user_id] = due_at
    updated = existing.model_copy(update={"extensions": extensions, "updated_at": now})
    return Decision(updated, [_announce(updated, actor_id, learner_id=user_id)])


# --- reads ----------------------------------------------------------------------------------------


def shown(deadline: Deadline, course: AnyCourse) -> bool:
    """Whether a deadline is shown: set, and its module still in the course's outline."""
    if deadline.cleared:
        return False
    return deadline.target is not DeadlineTarget.MODULE or any(
        m.id == deadline.target_id for m in course.modules
    )


def title_of(deadline: Deadline, course: AnyCourse) -> str:
    """A module's current title (the outline is in hand); an assessment's as it was when last set."""
    if deadline.target is DeadlineTarget.MODULE:
        module = next((m for m in course.modules if m.id == deadline.target_id), None)
        if module is not None:
            return module.title
    return deadline.title


def managers_view(deadline: Deadline) -> DeadlineView:
    return DeadlineView(deadline, deadline.due_at, False, dict(deadline.extensions))


def learners_view(deadline: Deadline, user_id: str) -> DeadlineView:
    return DeadlineView(deadline, deadline.due_for(user_id), user_id in deadline.extensions, {})


def due_order(view: DeadlineView) -> tuple[datetime, str, str]:
    """Next due first; ties by title, then by id (a stable order)."""
    return (view.due_at, view.deadline.title, str(view.deadline.id))


def is_ahead(view: DeadlineView, now: datetime) -> bool:
    """Upcoming: due after now (a due time that has passed is left out)."""
    return view.due_at > now


# --- the calendar feed ----------------------------------------------------------------------------


def feed_key(token: str) -> str:
    """Where a feed secret is looked up: its SHA-256 (the secret has 256 random bits: no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_uid(deadline: Deadline, user_id: str) -> str:
    """A feed event's UID: the same for one deadline and one user whatever its due time, so a calendar
    moves the event rather than adding one; another user's feed has another UID (RFC 5545 §3.8.4.7)."""
    return f"{derived_object_id('calendar-event', str(deadline.id), user_id)}@coursegraph"
