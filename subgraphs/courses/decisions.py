"""The courses domain's decisions: pure functions from what was read (and the time, new ids, a fresh
certificate code) to the document as it should be and the events that announce it (ADR 0027).

Nothing here reads or writes a store or looks at who is calling: the service reads, checks the caller
through `permissions`, and writes what these functions decide (coursegraph.unit_of_work.change).

New documents are built with `model_construct`, from values these functions have already checked: Beanie's
constructor insists that its collection is connected, which a pure function has no need of.
"""

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from coursegraph.codes import FieldCode, Reason
from coursegraph.errors import Conflict, FieldError, NotFound, ValidationFailed
from coursegraph.limits import (
    CONTENT_MAX,
    DESCRIPTION_MAX,
    LESSONS_MAX,
    MODULES_MAX,
    SEARCH_MAX,
    TITLE_MAX,
    URL_MAX,
)
from coursegraph.text import clean_text, is_text
from coursegraph.unit_of_work import Decision
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.events import CourseEventType, certificate_event, course_event
from subgraphs.courses.models import (
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    Lesson,
    Module,
    enrollment_id,
)

CERTIFICATE_CODE_MAX = 64

AnyCourse = Course | CourseSummary


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
    return clean_text(value, field, maximum=maximum, required=required, errors=errors)


MEDIA_REFERENCE = re.compile(r"media:([0-9a-f]{24})")


def _media_url(value: str | None, field: str, errors: list[FieldError]) -> str | None:
    """An http(s) URL, or `media:<id>`: a file uploaded to the media service, whose URL its readers get
    from that service (only this course's learners and managers may)."""
    if value is None or value == "":
        return None
    if MEDIA_REFERENCE.fullmatch(value):
        return value
    if len(value) > URL_MAX or not value.startswith(("https://", "http://")) or not is_text(value):
        errors.append(FieldError(field, FieldCode.INVALID, f"{field} must be an http(s) URL or media:<id>."))
    return value


def media_references(drafts: list[ModuleDraft] | None) -> list[str]:
    """The media ids an outline's lessons reference."""
    found = (MEDIA_REFERENCE.fullmatch(lesson.media_url or "") for m in drafts or [] for lesson in m.lessons)
    return sorted({match.group(1) for match in found if match})


def build_outline(
    drafts: list[ModuleDraft], existing: Course | None
) -> tuple[list[Module], list[FieldError]]:
    """Validate an outline; keep the ids a client sends back (they must be this course's), mint new ones."""
    errors: list[FieldError] = []
    known_modules = {m.id for m in existing.modules} if existing else set()
    known_lessons = existing.lesson_ids() if existing else set()
    if len(drafts) > MODULES_MAX:
        errors.append(FieldError("modules", FieldCode.TOO_MANY, f"At most {MODULES_MAX} modules."))
    modules: list[Module] = []
    seen: set[str] = set()
    for m_index, draft in enumerate(drafts):
        prefix = f"modules.{m_index}"
        if len(draft.lessons) > LESSONS_MAX:
            errors.append(
                FieldError(f"{prefix}.lessons", FieldCode.TOO_MANY, f"At most {LESSONS_MAX} lessons.")
            )
        lessons = []
        for l_index, lesson in enumerate(draft.lessons):
            field = f"{prefix}.lessons.{l_index}"
            lessons.append(
                Lesson(
                    id=_keep_id(lesson.id, known_lessons, seen, f"{field}.id", errors),
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
        errors.append(FieldError(field, FieldCode.INVALID, "Not an id of this course (or given twice)."))
    seen.add(given)
    return given


def clean_search(search: str | None) -> str | None:
    """Search text is matched literally (never as a pattern) and bounded."""
    if search and not is_text(search):
        raise ValidationFailed(
            [FieldError("filter.search", FieldCode.INVALID, "Search must be valid Unicode text.")]
        )
    cleaned = unicodedata.normalize("NFC", search).strip() if search else None
    if cleaned and len(cleaned) > SEARCH_MAX:
        raise ValidationFailed(
            [FieldError("filter.search", FieldCode.TOO_LONG, f"At most {SEARCH_MAX} characters.")]
        )
    return cleaned.casefold() if cleaned else None


def progress_of(completed: int, total: int) -> float:
    return 100.0 if total == 0 else round(min(100.0, 100.0 * completed / total), 2)


# --- courses --------------------------------------------------------------------------------------


def new_course(
    *, instructor_id: str, title: str, description: str, modules: list[ModuleDraft], now: datetime
) -> Decision[Course]:
    errors: list[FieldError] = []
    clean_title = _text(title, "title", maximum=TITLE_MAX, required=True, errors=errors)
    clean_description = _text(
        description, "description", maximum=DESCRIPTION_MAX, required=False, errors=errors
    )
    outline, outline_errors = build_outline(modules, None)
    if errors or outline_errors:
        raise ValidationFailed(errors + outline_errors)
    course: Course = Course.model_construct(
        id=ObjectId(),
        title=clean_title,
        description=clean_description,
        instructor_id=instructor_id,
        modules=outline,
        lesson_count=sum(len(m.lessons) for m in outline),
        created_at=now,
        updated_at=now,
    )
    event = course_event(
        CourseEventType.COURSE_CREATED,
        key=str(course.id),
        course_id=str(course.id),
        user_id=instructor_id,
        title=course.title,
    )
    return Decision(course, [event])


def edit_course(
    course: Course,
    *,
    title: str | None,
    description: str | None,
    modules: list[ModuleDraft] | None,
    editor_id: str,
    now: datetime,
) -> Decision[Course]:
    if course.status is CourseStatus.ARCHIVED:
        raise Conflict("An archived course cannot be edited.", details={"reason": Reason.COURSE_ARCHIVED})
    errors: list[FieldError] = []
    changes: dict[str, Any] = {"updated_at": now}
    if title is not None:
        changes["title"] = _text(title, "title", maximum=TITLE_MAX, required=True, errors=errors)
    if description is not None:
        changes["description"] = _text(
            description, "description", maximum=DESCRIPTION_MAX, required=False, errors=errors
        )
    if modules is not None:
        outline, outline_errors = build_outline(modules, course)
        errors += outline_errors
        if course.status is CourseStatus.PUBLISHED and not any(m.lessons for m in outline):
            errors.append(FieldError("modules", FieldCode.NO_LESSONS, "A published course needs a lesson."))
        changes["modules"] = outline
        changes["lesson_count"] = sum(len(m.lessons) for m in outline)
    if errors:
        raise ValidationFailed(errors)
    changed = sorted(name for name in ("title", "description", "modules") if name in changes)
    event = course_event(
        CourseEventType.COURSE_UPDATED,
        key=str(course.id),
        course_id=str(course.id),
        user_id=editor_id,
        changed=changed,
    )
    return Decision(course.model_copy(update=changes), [event])


def publish(course: Course, *, now: datetime) -> Decision[Course] | None:
    if course.status is CourseStatus.PUBLISHED:
        return None  # idempotent: no second event
    if course.status is CourseStatus.ARCHIVED:
        raise Conflict(
            "An archived course cannot be published again.", details={"reason": Reason.COURSE_ARCHIVED}
        )
    if course.lesson_count == 0:
        raise ValidationFailed(
            [FieldError("modules", FieldCode.NO_LESSONS, "Add a lesson before publishing.")]
        )
    event = course_event(
        CourseEventType.COURSE_PUBLISHED,
        key=str(course.id),
        course_id=str(course.id),
        user_id=course.instructor_id,
        title=course.title,
    )
    changes = {"status": CourseStatus.PUBLISHED, "published_at": now, "updated_at": now}
    return Decision(course.model_copy(update=changes), [event])


def archive(course: Course, *, archiver_id: str, now: datetime) -> Decision[Course] | None:
    if course.status is CourseStatus.ARCHIVED:
        return None
    event = course_event(
        CourseEventType.COURSE_ARCHIVED, key=str(course.id), course_id=str(course.id), user_id=archiver_id
    )
    changes = {"status": CourseStatus.ARCHIVED, "archived_at": now, "updated_at": now}
    return Decision(course.model_copy(update=changes), [event])


def require_assessment(course: Course, assessment_id: str, *, required: bool) -> Decision[Course] | None:
    """Whether passing an assessment is needed to complete the course (from assessment.events). Announced
    as an update: every replica's catalog, which completing a lesson decides on, learns it."""
    current = set(course.required_assessments)
    wanted = current | {assessment_id} if required else current - {assessment_id}
    if wanted == current:
        return None
    updated = course.model_copy(update={"required_assessments": sorted(wanted)})
    event = course_event(
        CourseEventType.COURSE_UPDATED,
        key=str(course.id),
        course_id=str(course.id),
        user_id=course.instructor_id,
        changed=["required_assessments"],
    )
    return Decision(updated, [event])


# --- enrollment and progress ----------------------------------------------------------------------


def enroll(course: AnyCourse, *, user_id: str, now: datetime) -> Decision[Enrollment]:
    """A learner's new enrollment in a course they can see: only a published course, never one's own."""
    if course.status is not CourseStatus.PUBLISHED:
        raise Conflict(
            "This course is not open for enrollment.", details={"reason": Reason.COURSE_NOT_PUBLISHED}
        )
    if course.instructor_id == user_id:
        raise Conflict(
            "Instructors cannot enroll in their own course.", details={"reason": Reason.OWN_COURSE}
        )
    course_id = str(course.id)
    enrollment: Enrollment = Enrollment.model_construct(
        id=enrollment_id(user_id, course_id), user_id=user_id, course_id=course_id, enrolled_at=now
    )
    event = course_event(
        CourseEventType.COURSE_ENROLLED,
        key=str(enrollment.id),
        course_id=course_id,
        user_id=user_id,
        enrollment_id=str(enrollment.id),
        course_title=course.title,
        enrolled_by=user_id,  # themself (issue 17: an instructor may enroll others)
        reactivated=False,
    )
    return Decision(enrollment, [event])


def complete_lesson(
    course: AnyCourse, enrollment: Enrollment, lesson_id: str, *, now: datetime, certificate_code: str
) -> Decision[Enrollment] | None:
    """A lesson done: progress moves forward only (lessons may be added later), counting only lessons
    still in the course; the last step completes the enrollment (`completion`)."""
    if lesson_id not in course.lesson_ids():
        raise NotFound("Lesson not found in this course.", details={"field": "lessonId"})
    if lesson_id in enrollment.completed_lessons:
        return None  # idempotent: nothing changes, nothing is announced
    completed = [*enrollment.completed_lessons, lesson_id]
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
    if progress != enrollment.progress:
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
    progressed = enrollment.model_copy(update={"completed_lessons": completed, "progress": progress})
    return _with_completion(course, progressed, events, now=now, certificate_code=certificate_code)


def record_pass(
    course: Course, enrollment: Enrollment, assessment_id: str, *, now: datetime, certificate_code: str
) -> Decision[Enrollment] | None:
    """A passed assessment, remembered once; it may be the enrollment's last step."""
    if assessment_id in enrollment.passed_assessments:
        return None  # a redelivered event: already recorded
    passed = enrollment.model_copy(
        update={"passed_assessments": [*enrollment.passed_assessments, assessment_id]}
    )
    return _with_completion(course, passed, [], now=now, certificate_code=certificate_code)


def _with_completion(
    course: AnyCourse,
    enrollment: Enrollment,
    events: list[dict[str, Any]],
    *,
    now: datetime,
    certificate_code: str,
) -> Decision[Enrollment]:
    """Complete the enrollment, with its certificate, when every lesson is done and every required
    assessment passed. Exactly once: the version guard makes the write that completes it unique."""
    done = enrollment.completed_at is None and enrollment.progress >= 100.0
    if not done or not set(course.required_assessments) <= set(enrollment.passed_assessments):
        return Decision(enrollment, events)
    completed = enrollment.model_copy(
        update={
            "status": EnrollmentStatus.COMPLETED,
            "completed_at": now,
            "certificate_code": certificate_code,
            "certificate_issued_at": now,
        }
    )
    key, course_id, user_id = str(enrollment.id), str(course.id), enrollment.user_id
    return Decision(
        completed,
        [
            *events,
            course_event(
                CourseEventType.COURSE_COMPLETED,
                key=key,
                course_id=course_id,
                user_id=user_id,
                course_title=course.title,
            ),
            certificate_event(
                key=key,
                course_id=course_id,
                user_id=user_id,
                code=certificate_code,
                course_title=course.title,
                issued_at=now.isoformat(),
            ),
        ],
    )
