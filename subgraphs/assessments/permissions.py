"""Who may see and do what in the assessments domain (ADR 0009): every rule in one place."""

from datetime import datetime

from coursegraph.errors import Forbidden, NotFound
from coursegraph.security import Actor, Role
from subgraphs.assessments.models import Assessment, Attempt, AttemptStatus, RevealPolicy
from subgraphs.assessments.ports import CourseAccess


def require_signed_in(actor: Actor) -> str:
    """Reading an assessment or one's result by id, and attempting: a signed-in caller (anyone else is
    told to sign in); answers their user id."""
    return str(actor.require_user())


def require_instructor(actor: Actor) -> str:
    """Authoring at all: instructors and admins; answers their user id."""
    return str(actor.require_role(Role.INSTRUCTOR, Role.ADMIN))


def require_author(actor: Actor, course: CourseAccess | None) -> str:
    """Adding an assessment to a course: its instructor or an admin (see `require_instructor`, asked
    first); answers the course's instructor, who manages the new assessment besides admins."""
    if course is None:
        raise NotFound("Course not found.")
    if not actor.is_admin and course.instructor_id != str(actor.user_id):
        raise Forbidden("Only the course's instructor or an admin adds assessments to it.")
    return course.instructor_id


def require_manager(actor: Actor, assessment: Assessment) -> None:
    """Editing an assessment: its managers (see `can_manage`)."""
    if not can_manage(actor, assessment):
        raise Forbidden("Only the course's instructor or an admin edits its assessments.")


def require_learner(course: CourseAccess | None) -> None:
    """Attempting an assessment: learners enrolled in its course, which they may see (a draft course's
    assessments are not found)."""
    if course is None or course.status == "DRAFT":
        raise NotFound("Assessment not found.")
    if not course.enrolled:
        raise Forbidden("Enroll in the course before attempting its assessments.")


def require_own_attempt(actor: Actor, attempt: Attempt | None) -> Attempt:
    """Saving to or submitting an attempt: its learner alone (signed in: see `require_signed_in`, asked
    first); anyone else finds none."""
    if attempt is None or attempt.user_id != str(actor.user_id):
        raise NotFound("Attempt not found.")
    return attempt


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


def questions_depend_on_course(actor: Actor, assessment: Assessment) -> bool:
    """Whether `can_read_questions` needs the course: not for managers (always) nor for anonymous
    callers (enrolled nowhere: never)."""
    return actor.user_id is not None and not can_manage(actor, assessment)


def can_see_attempt(actor: Actor, attempt: Attempt, assessment: Assessment | None) -> bool:
    """An attempt: its learner, admins, services, and the assessment's managers."""
    if actor.is_admin or actor.is_service or str(actor.user_id) == attempt.user_id:
        return True
    return assessment is not None and can_manage(actor, assessment)


NOT_YOURS = "Only the user themself, admins and their instructors see attempts."


def may_author_attempts_of(actor: Actor, user_id: str) -> bool:
    """Whether the caller's authorship can widen what they see of `user_id`'s attempts (then the store
    is asked whether they author any assessment; see `attempts_scope`)."""
    return actor.role is Role.INSTRUCTOR and actor.user_id is not None and str(actor.user_id) != user_id


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
