"""Who may see and do what in the assessments domain (ADR 0009): every rule in one place."""

from datetime import datetime

from coursegraph.errors import Forbidden
from coursegraph.security import Actor, Role
from subgraphs.assessments.models import Assessment, Attempt, AttemptStatus, RevealPolicy
from subgraphs.assessments.ports import CourseAccess


def can_manage(actor: Actor, assessment: Assessment) -> bool:
    """The course's instructor (when the assessment was made) and admins author it and see its keys."""
    if actor.is_admin:
        return True
    return actor.role is Role.INSTRUCTOR and str(actor.user_id) == assessment.instructor_id


def can_see(actor: Actor, assessment: Assessment, course: CourseAccess | None) -> bool:
    """An assessment: its managers, and anyone who may see its course (a draft course's are private)."""
    return can_manage(actor, assessment) or (course is not None and course.status != "DRAFT")


def can_read_questions(
    actor: Actor, assessment: Assessment, course: CourseAccess | None, *, now: datetime
) -> bool:
    """Questions (never keys): the assessment's managers, and the course's learners once it opens."""
    if can_manage(actor, assessment):
        return True
    opened = assessment.available_from is None or now >= assessment.available_from
    return course is not None and course.status != "DRAFT" and course.enrolled and opened


def can_see_attempt(actor: Actor, attempt: Attempt, assessment: Assessment | None) -> bool:
    """An attempt: its learner, admins, services, and the assessment's managers."""
    if actor.is_admin or actor.is_service or str(actor.user_id) == attempt.user_id:
        return True
    return assessment is not None and can_manage(actor, assessment)


NOT_YOURS = "Only the user themself, admins and their instructors see attempts."


def attempts_scope(actor: Actor, user_id: str, *, authors_assessments: bool) -> str | None:
    """Whose attempts a caller may list for `user_id`: all of them (the user and admins: None), or
    those at one instructor's assessments (that instructor's id, if they author any). Anyone else may
    list none (raises)."""
    if actor.user_id is None:
        raise Forbidden("Sign in to see attempts.")
    if str(actor.user_id) == user_id or actor.is_admin:
        return None
    if actor.role is Role.INSTRUCTOR and authors_assessments:
        return str(actor.user_id)
    raise Forbidden(NOT_YOURS)


def may_reveal(
    actor: Actor,
    assessment: Assessment,
    attempt: Attempt,
    *,
    passed_any: bool,
    now: datetime,
    attempts_used: int = 1,
) -> bool:
    """Whether correct answers and feedback of this submitted attempt may be shown to the caller."""
    if can_manage(actor, assessment):
        return True
    if attempt.status is not AttemptStatus.SUBMITTED:
        return False
    match assessment.reveal_policy:
        case RevealPolicy.AFTER_SUBMISSION:
            return True
        case RevealPolicy.AFTER_PASSING:
            return passed_any
        case RevealPolicy.AFTER_LAST_ATTEMPT:
            # Not while another attempt could use the answers; with unlimited attempts, never.
            return assessment.max_attempts is not None and attempts_used >= assessment.max_attempts
        case RevealPolicy.AFTER_DUE:
            # Without a due date, "after due" means once submitted.
            return assessment.available_until is None or now >= assessment.available_until
        case RevealPolicy.NEVER:
            return False
