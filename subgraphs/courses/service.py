"""Courses domain logic: who sees and changes what, the course lifecycle, enrollment and progress.

No GraphQL here. Every write is one single-document insert or update carrying its events (the document
outbox); updates are guarded by the document's version and retried on a lost race.
"""

import base64
import secrets
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from coursegraph.errors import BadUserInput, Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from coursegraph.events.document_outbox import with_events
from coursegraph.mongo import utc_now
from coursegraph.security import Actor, Role
from subgraphs.courses.events import CourseEventType, certificate_event, course_event
from subgraphs.courses.models import Course, CourseStatus, Enrollment, EnrollmentStatus, Lesson, Module
from subgraphs.courses.repository import CourseRepository, EnrollmentRepository

TITLE_MAX = 200
DESCRIPTION_MAX = 5_000
CONTENT_MAX = 100_000
URL_MAX = 2_048
MODULES_MAX = 50
LESSONS_MAX = 100
SEARCH_MAX = 100
PAGE_MAX = 100
UPDATE_ATTEMPTS = 20


def _now() -> datetime:
    return utc_now()


def parse_object_id(value: str, field: str = "id") -> str:
    if not ObjectId.is_valid(str(value)):
        raise BadUserInput(f"{field} is not a valid id.", details={"field": field})
    return str(ObjectId(str(value)))


def page_size(first: int) -> int:
    if not 1 <= first <= PAGE_MAX:
        raise BadUserInput(f"`first` must be between 1 and {PAGE_MAX}.", details={"field": "first"})
    return first


# --- who may do what ------------------------------------------------------------------------------


def is_owner(actor: Actor, course: Course) -> bool:
    return actor.user_id is not None and str(actor.user_id) == course.instructor_id


def can_manage(actor: Actor, course: Course) -> bool:
    return actor.is_admin or (actor.role is Role.INSTRUCTOR and is_owner(actor, course))


def can_see(actor: Actor, course: Course) -> bool:
    """Published and archived courses are public (archived ones are closed, not secret); drafts are
    their managers' only."""
    return course.status is not CourseStatus.DRAFT or can_manage(actor, course)


def can_read_content(actor: Actor, course: Course, enrollment: Enrollment | None) -> bool:
    return can_manage(actor, course) or enrollment is not None


def catalog_visibility(actor: Actor) -> dict[str, Any]:
    """The courses a caller may list: published ones, plus their own (instructors) or all (admins)."""
    if actor.is_admin:
        return {}
    published: dict[str, Any] = {"status": CourseStatus.PUBLISHED.value}
    if actor.role is Role.INSTRUCTOR and actor.user_id is not None:
        return {"$or": [published, {"instructor_id": str(actor.user_id)}]}
    return published


# --- input ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonDraft:
    id: str | None
    title: str
    content: str
    media_url: str | None


@dataclass(frozen=True)
class ModuleDraft:
    id: str | None
    title: str
    lessons: list[LessonDraft]


def _text(value: str, field: str, *, maximum: int, required: bool, errors: list[FieldError]) -> str:
    cleaned = unicodedata.normalize("NFC", value).strip()
    if required and not cleaned:
        errors.append(FieldError(field, "REQUIRED", f"{field} must not be empty."))
    elif len(cleaned) > maximum:
        errors.append(FieldError(field, "TOO_LONG", f"{field} must be at most {maximum} characters."))
    elif any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in cleaned):
        errors.append(FieldError(field, "INVALID", f"{field} must not contain control characters."))
    return cleaned


def _media_url(value: str | None, field: str, errors: list[FieldError]) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > URL_MAX or not value.startswith(("https://", "http://")):
        errors.append(FieldError(field, "INVALID", f"{field} must be an http(s) URL."))
    return value


def build_outline(
    drafts: list[ModuleDraft], existing: Course | None
) -> tuple[list[Module], list[FieldError]]:
    """Validate an outline; keep the ids a client sends back (they must be this course's), mint new ones."""
    errors: list[FieldError] = []
    known_modules = {m.id for m in existing.modules} if existing else set()
    known_lessons = existing.lesson_ids() if existing else set()
    if len(drafts) > MODULES_MAX:
        errors.append(FieldError("modules", "TOO_MANY", f"At most {MODULES_MAX} modules."))
    modules: list[Module] = []
    seen: set[str] = set()
    for m_index, draft in enumerate(drafts):
        prefix = f"modules.{m_index}"
        if len(draft.lessons) > LESSONS_MAX:
            errors.append(FieldError(f"{prefix}.lessons", "TOO_MANY", f"At most {LESSONS_MAX} lessons."))
        lessons = []
        for l_index, lesson in enumerate(draft.lessons):
            field = f"{prefix}.lessons.{l_index}"
            lesson_id = _keep_id(lesson.id, known_lessons, seen, f"{field}.id", errors)
            lessons.append(
                Lesson(
                    id=lesson_id,
                    title=_text(
                        lesson.title, f"{field}.title", maximum=TITLE_MAX, required=True, errors=errors
                    ),
                    content=_text(
                        lesson.content, f"{field}.content", maximum=CONTENT_MAX, required=False, errors=errors
                    ),
                    media_url=_media_url(lesson.media_url, f"{field}.mediaUrl", errors),
                    order=l_index + 1,
                )
            )
        modules.append(
            Module(
                id=_keep_id(draft.id, known_modules, seen, f"{prefix}.id", errors),
                title=_text(draft.title, f"{prefix}.title", maximum=TITLE_MAX, required=True, errors=errors),
                order=m_index + 1,
                lessons=lessons,
            )
        )
    return modules, errors


def _keep_id(given: str | None, known: set[str], seen: set[str], field: str, errors: list[FieldError]) -> str:
    if given is None:
        new = uuid.uuid4().hex
        seen.add(new)
        return new
    if given not in known or given in seen:
        errors.append(FieldError(field, "INVALID", "Not an id of this course (or given twice)."))
    seen.add(given)
    return given


# --- courses --------------------------------------------------------------------------------------


async def create_course(
    repo: CourseRepository, actor: Actor, *, title: str, description: str, modules: list[ModuleDraft]
) -> Course:
    instructor_id = actor.require_role(Role.INSTRUCTOR, Role.ADMIN)
    errors: list[FieldError] = []
    clean_title = _text(title, "title", maximum=TITLE_MAX, required=True, errors=errors)
    clean_description = _text(
        description, "description", maximum=DESCRIPTION_MAX, required=False, errors=errors
    )
    outline, outline_errors = build_outline(modules, None)
    if errors or outline_errors:
        raise ValidationFailed(errors + outline_errors)
    now = _now()
    course = Course(
        id=ObjectId(),
        title=clean_title,
        description=clean_description,
        instructor_id=str(instructor_id),
        modules=outline,
        lesson_count=sum(len(m.lessons) for m in outline),
        created_at=now,
        updated_at=now,
    )
    course.outbox_pending = True
    course.outbox = [
        course_event(
            CourseEventType.COURSE_CREATED,
            key=str(course.id),
            course_id=str(course.id),
            user_id=course.instructor_id,
            title=course.title,
        )
    ]
    return await repo.insert(course)


async def _managed_course(repo: CourseRepository, actor: Actor, course_id: str) -> Course:
    actor.require_user()
    course = (await repo.get_many([course_id])).get(course_id)
    # A course the caller may not see does not exist for them (drafts are private).
    if course is None or not can_see(actor, course):
        raise NotFound("Course not found.")
    if not can_manage(actor, course):
        raise Forbidden("Only the course's instructor or an admin can change it.")
    return course


async def _update_course(
    repo: CourseRepository,
    actor: Actor,
    course_id: str,
    change: Callable[[Course], Awaitable[dict[str, Any] | None] | dict[str, Any] | None],
) -> Course:
    """Read, decide, write guarded by version; on a lost race, decide again on the fresh document."""
    for _ in range(UPDATE_ATTEMPTS):
        course = await _managed_course(repo, actor, course_id)
        update = change(course)
        if isinstance(update, Awaitable):
            update = await update
        if update is None:
            return course
        if await repo.update(course.id, course.version, update):  # type: ignore[arg-type]
            return await _managed_course(repo, actor, course_id)
    raise Conflict("The course is being changed by someone else; try again.")


async def update_course(
    repo: CourseRepository,
    actor: Actor,
    course_id: str,
    *,
    title: str | None,
    description: str | None,
    modules: list[ModuleDraft] | None,
) -> Course:
    def change(course: Course) -> dict[str, Any]:
        if course.status is CourseStatus.ARCHIVED:
            raise Conflict("An archived course cannot be edited.", details={"reason": "COURSE_ARCHIVED"})
        errors: list[FieldError] = []
        fields: dict[str, Any] = {"updated_at": _now()}
        if title is not None:
            fields["title"] = _text(title, "title", maximum=TITLE_MAX, required=True, errors=errors)
        if description is not None:
            fields["description"] = _text(
                description, "description", maximum=DESCRIPTION_MAX, required=False, errors=errors
            )
        if modules is not None:
            outline, outline_errors = build_outline(modules, course)
            errors += outline_errors
            if course.status is CourseStatus.PUBLISHED and not any(m.lessons for m in outline):
                errors.append(FieldError("modules", "NO_LESSONS", "A published course needs a lesson."))
            fields["modules"] = [m.model_dump() for m in outline]
            fields["lesson_count"] = sum(len(m.lessons) for m in outline)
        if errors:
            raise ValidationFailed(errors)
        return {"$set": fields}

    return await _update_course(repo, actor, course_id, change)


async def publish_course(repo: CourseRepository, actor: Actor, course_id: str) -> Course:
    def change(course: Course) -> dict[str, Any] | None:
        if course.status is CourseStatus.PUBLISHED:
            return None  # idempotent: no second event
        if course.status is CourseStatus.ARCHIVED:
            raise Conflict(
                "An archived course cannot be published again.", details={"reason": "COURSE_ARCHIVED"}
            )
        if course.lesson_count == 0:
            raise ValidationFailed([FieldError("modules", "NO_LESSONS", "Add a lesson before publishing.")])
        now = _now()
        event = course_event(
            CourseEventType.COURSE_PUBLISHED,
            key=str(course.id),
            course_id=str(course.id),
            user_id=course.instructor_id,
            title=course.title,
        )
        return with_events(
            {"$set": {"status": CourseStatus.PUBLISHED.value, "published_at": now, "updated_at": now}}, event
        )

    return await _update_course(repo, actor, course_id, change)


async def archive_course(repo: CourseRepository, actor: Actor, course_id: str) -> Course:
    def change(course: Course) -> dict[str, Any] | None:
        if course.status is CourseStatus.ARCHIVED:
            return None
        now = _now()
        event = course_event(
            CourseEventType.COURSE_ARCHIVED,
            key=str(course.id),
            course_id=str(course.id),
            user_id=str(actor.user_id),
        )
        return with_events(
            {"$set": {"status": CourseStatus.ARCHIVED.value, "archived_at": now, "updated_at": now}}, event
        )

    return await _update_course(repo, actor, course_id, change)


# --- enrollment and progress ----------------------------------------------------------------------


async def enroll(
    courses: CourseRepository, enrollments: EnrollmentRepository, actor: Actor, course_id: str
) -> Enrollment:
    user_id = str(actor.require_user())
    course = (await courses.get_many([course_id])).get(course_id)
    if course is None or not can_see(actor, course):
        raise NotFound("Course not found.")
    if course.status is not CourseStatus.PUBLISHED:
        raise Conflict("This course is not open for enrollment.", details={"reason": "COURSE_NOT_PUBLISHED"})
    if is_owner(actor, course):
        raise Conflict("Instructors cannot enroll in their own course.", details={"reason": "OWN_COURSE"})
    enrollment = Enrollment(id=ObjectId(), user_id=user_id, course_id=course_id, enrolled_at=_now())
    enrollment.outbox_pending = True
    enrollment.outbox = [
        course_event(
            CourseEventType.COURSE_ENROLLED,
            key=str(enrollment.id),
            course_id=course_id,
            user_id=user_id,
            enrollment_id=str(enrollment.id),
            course_title=course.title,
        )
    ]
    try:
        # The unique (user_id, course_id) index decides races: one insert wins, with its one event.
        return await enrollments.insert(enrollment)
    except DuplicateKeyError as exc:
        raise Conflict("Already enrolled in this course.", details={"reason": "ALREADY_ENROLLED"}) from exc


def progress_of(completed: int, total: int) -> float:
    return 100.0 if total == 0 else round(min(100.0, 100.0 * completed / total), 2)


async def complete_lesson(
    courses: CourseRepository,
    enrollments: EnrollmentRepository,
    actor: Actor,
    course_id: str,
    lesson_id: str,
) -> Enrollment:
    user_id = str(actor.require_user())
    for _ in range(UPDATE_ATTEMPTS):
        course = (await courses.get_many([course_id])).get(course_id)
        enrollment = await enrollments.get(user_id, course_id)
        if course is None or not can_see(actor, course):
            raise NotFound("Course not found.")
        if enrollment is None:
            raise Forbidden("Enroll in the course before completing its lessons.")
        if lesson_id not in course.lesson_ids():
            raise NotFound("Lesson not found in this course.", details={"field": "lessonId"})
        if lesson_id in enrollment.completed_lessons:
            return enrollment  # idempotent: nothing changes, nothing is announced
        update = _completion_update(course, enrollment, lesson_id)
        if await enrollments.update(enrollment.id, enrollment.version, update):  # type: ignore[arg-type]
            refreshed = await enrollments.get(user_id, course_id)
            assert refreshed is not None
            return refreshed
    raise Conflict("Progress is being updated concurrently; try again.")


def _completion_update(course: Course, enrollment: Enrollment, lesson_id: str) -> dict[str, Any]:
    completed = [*enrollment.completed_lessons, lesson_id]
    # Only lessons still in the course count; progress never goes back (lessons may be added later).
    current = sum(1 for lesson in completed if lesson in course.lesson_ids())
    progress = max(enrollment.progress, progress_of(current, course.lesson_count))
    key, course_id, user_id = str(enrollment.id), str(course.id), enrollment.user_id
    events = [
        course_event(
            CourseEventType.LESSON_COMPLETED,
            key=key,
            course_id=course_id,
            user_id=user_id,
            lesson_id=lesson_id,
        )
    ]
    fields: dict[str, Any] = {"completed_lessons": completed}
    if progress != enrollment.progress:
        fields["progress"] = progress
        events.append(
            course_event(
                CourseEventType.PROGRESS_UPDATED,
                key=key,
                course_id=course_id,
                user_id=user_id,
                progress=progress,
                previous_progress=enrollment.progress,
            )
        )
    completion_fields, completion_events = _completion(
        course, enrollment, progress, enrollment.passed_assessments
    )
    return with_events({"$set": {**fields, **completion_fields}}, *events, *completion_events)


def _completion(
    course: Course, enrollment: Enrollment, progress: float, passed: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Complete the enrollment, with its certificate, when every lesson is done and every required
    assessment passed. Exactly once: the version guard makes the write that completes it unique."""
    if enrollment.completed_at is not None or progress < 100.0:
        return {}, []
    if not set(course.required_assessments) <= set(passed):
        return {}, []
    now = _now()
    code = new_certificate_code()
    key, course_id, user_id = str(enrollment.id), str(course.id), enrollment.user_id
    fields = {
        "status": EnrollmentStatus.COMPLETED.value,
        "completed_at": now,
        "certificate_code": code,
        "certificate_issued_at": now,
    }
    events = [
        course_event(CourseEventType.COURSE_COMPLETED, key=key, course_id=course_id, user_id=user_id),
        certificate_event(
            key=key,
            course_id=course_id,
            user_id=user_id,
            code=code,
            course_title=course.title,
            issued_at=now.isoformat(),
        ),
    ]
    return fields, events


def new_certificate_code() -> str:
    """A code to print on a certificate: 20 random base32 characters (100 bits) in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode()[:20]
    return "CG-" + "-".join(raw[i : i + 4] for i in range(0, 20, 4))


# --- what assessment.events tell this service ------------------------------------------------------


async def set_required_assessment(
    repo: CourseRepository, course_id: str, assessment_id: str, *, required: bool
) -> None:
    for _ in range(UPDATE_ATTEMPTS):
        course = (await repo.get_many([course_id])).get(course_id)
        if course is None:
            return
        current = set(course.required_assessments)
        wanted = current | {assessment_id} if required else current - {assessment_id}
        if wanted == current:
            return
        if await repo.update(course.id, course.version, {"$set": {"required_assessments": sorted(wanted)}}):  # type: ignore[arg-type]
            return
    raise Conflict("Could not record the assessment requirement; will retry.")


async def record_assessment_pass(
    courses: CourseRepository,
    enrollments: EnrollmentRepository,
    *,
    user_id: str,
    course_id: str,
    assessment_id: str,
) -> None:
    """A learner passed an assessment: remember it, and complete the enrollment if that was the last step."""
    for _ in range(UPDATE_ATTEMPTS):
        course = (await courses.get_many([course_id])).get(course_id)
        enrollment = await enrollments.get(user_id, course_id)
        if course is None or enrollment is None:
            return  # nothing to complete (e.g. the learner was never enrolled)
        if assessment_id in enrollment.passed_assessments:
            return  # a redelivered event: already recorded
        passed = [*enrollment.passed_assessments, assessment_id]
        fields, events = _completion(course, enrollment, enrollment.progress, passed)
        update = with_events({"$set": {"passed_assessments": passed, **fields}}, *events)
        if await enrollments.update(enrollment.id, enrollment.version, update):  # type: ignore[arg-type]
            return
    raise Conflict("Could not record the assessment result; will retry.")
