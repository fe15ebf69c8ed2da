"""Who may see and do what in the courses domain (ADR 0007): every rule in one place."""

from coursegraph.security import Actor, Role
from subgraphs.courses.announcements_decisions import hears
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.models import Course, CourseStatus, Enrollment, EnrollmentStatus

AnyCourse = Course | CourseSummary


def is_owner(actor: Actor, course: AnyCourse) -> bool:
    return actor.user_id is not None and str(actor.user_id) == course.instructor_id


def can_manage(actor: Actor, course: AnyCourse) -> bool:
    return actor.is_admin or (actor.role is Role.INSTRUCTOR and is_owner(actor, course))


def can_teach(actor: Actor, course: AnyCourse) -> bool:
    """The roster and the gradebook: the course's managers and its teaching assistants."""
    return can_manage(actor, course) or (
        actor.user_id is not None and str(actor.user_id) in course.teaching_assistants
    )


def can_see(actor: Actor, course: AnyCourse) -> bool:
    """Published and archived courses are public (archived ones are closed, not secret); drafts are
    their managers' only. A course the caller may not see does not exist for them."""
    return course.status is not CourseStatus.DRAFT or can_manage(actor, course)


def listed_in_catalog(actor: Actor, course: AnyCourse) -> bool:
    """The catalog lists published courses, plus an instructor's own and, for admins, every course."""
    return course.status is CourseStatus.PUBLISHED or actor.is_admin or can_manage(actor, course)


def is_enrolled(enrollment: Enrollment | None) -> bool:
    """An enrollment that counts as one: a REMOVED one is kept for its history and grants nothing."""
    return enrollment is not None and enrollment.status is not EnrollmentStatus.REMOVED


def can_read_content(actor: Actor, course: AnyCourse, enrollment: Enrollment | None) -> bool:
    """Lesson bodies and media: the course's learners and its managers."""
    return can_manage(actor, course) or is_enrolled(enrollment)


def can_see_enrollment(actor: Actor, enrollment: Enrollment, course: AnyCourse | None) -> bool:
    """An enrollment: its learner, admins, services, and the course's managers."""
    if actor.is_admin or actor.is_service or str(actor.user_id) == enrollment.user_id:
        return True
    return course is not None and can_manage(actor, course)


def can_list_enrollments_of(actor: Actor, user_id: str) -> bool:
    return actor.user_id is not None and (str(actor.user_id) == user_id or actor.is_admin)


# --- issue 17: deadlines ---


def sees_all_deadlines(actor: Actor, course: AnyCourse) -> bool:
    """A course's due times and every learner's extension: its managers and teaching assistants."""
    return can_teach(actor, course)


def has_deadlines_in(enrollment: Enrollment | None) -> bool:
    """A learner sees their own due times in a course they are enrolled in (active or completed; not a
    removed enrollment), and may be granted an extension there."""
    return enrollment is not None and enrollment.status in (
        EnrollmentStatus.ACTIVE,
        EnrollmentStatus.COMPLETED,
    )


def has_upcoming_deadlines_in(enrollment: Enrollment | None) -> bool:
    """Upcoming deadlines and the calendar feed: the user's active enrollments only."""
    return enrollment is not None and enrollment.status is EnrollmentStatus.ACTIVE


# --- issue 17: gradebook ---


def can_see_gradebook(actor: Actor, course: AnyCourse) -> bool:
    """Every learner's grades in a course: those who teach it (managers and teaching assistants)."""
    return can_teach(actor, course)


def can_grade(actor: Actor, course: AnyCourse) -> bool:
    """The grading policy and excuses: the course's managers only."""
    return can_manage(actor, course)


# --- issue 17: announcements ---


def can_read_announcements(actor: Actor, course: AnyCourse, enrollment: Enrollment | None) -> bool:
    """A course's announcements: its learners (an enrollment not taken away), managers and teaching
    assistants."""
    return can_teach(actor, course) or hears(enrollment)


# --- issue 17: rosters ---


def can_change_roster(actor: Actor, course: AnyCourse) -> bool:
    """Enrolling and unenrolling others, and giving course roles: the course's managers only."""
    return can_manage(actor, course)


def can_see_roster(actor: Actor, course: AnyCourse) -> bool:
    return can_teach(actor, course)


# --- issue 18: course activity ---


def can_watch_activity(actor: Actor, course: AnyCourse) -> bool:
    """What learners do in a course, live: those who teach it (managers and teaching assistants)."""
    return can_teach(actor, course)
