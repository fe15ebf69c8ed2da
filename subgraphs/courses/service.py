"""The courses domain: the one door to its data, for reads and writes alike. No GraphQL here.

Every method takes the acting caller and applies the rules of `permissions`. Lists come from the catalog
read model (`catalog.py`) and from learners' documents; everything else is read by id (ADR 0014). Every
write is one single-document insert or update carrying its events (the document outbox), guarded by the
document's version and decided again on the fresh document after a lost race.
"""

import base64
import logging
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from coursegraph.clock import Clock
from coursegraph.errors import (
    BadUserInput,
    Conflict,
    CourseGraphError,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor, Role
from coursegraph.text import clean_text, is_text
from subgraphs.courses import permissions
from subgraphs.courses.catalog import Catalog, CourseSummary
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
from subgraphs.courses.repository import (
    CertificateRepository,
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    MediaUseRepository,
    summary_of,
)

logger = logging.getLogger(__name__)

TITLE_MAX = 200
DESCRIPTION_MAX = 5_000
CONTENT_MAX = 100_000
URL_MAX = 2_048
MODULES_MAX = 50
LESSONS_MAX = 100
SEARCH_MAX = 100
CERTIFICATE_CODE_MAX = 64
UPDATE_ATTEMPTS = 20
# Service identities (OAuth client ids) allowed to call internal operations.
ASSESSMENTS, COURSES, MEDIA = "assessments", "courses", "media"


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


@dataclass(frozen=True)
class CatalogFilter:
    instructor_id: str | None = None
    status: CourseStatus | None = None
    search: str | None = None


@dataclass(frozen=True)
class CourseAccess:
    """What another service needs to know of a course and one user's place in it."""

    course_id: str
    instructor_id: str
    status: CourseStatus
    enrollment: Enrollment | None


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
        errors.append(FieldError(field, "INVALID", f"{field} must be an http(s) URL or media:<id>."))
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
        errors.append(FieldError(field, "INVALID", "Not an id of this course (or given twice)."))
    seen.add(given)
    return given


def clean_search(search: str | None) -> str | None:
    """Search text is matched literally (never as a pattern) and bounded."""
    if search and not is_text(search):
        raise ValidationFailed([FieldError("filter.search", "INVALID", "Search must be valid Unicode text.")])
    cleaned = unicodedata.normalize("NFC", search).strip() if search else None
    if cleaned and len(cleaned) > SEARCH_MAX:
        raise ValidationFailed([FieldError("filter.search", "TOO_LONG", f"At most {SEARCH_MAX} characters.")])
    return cleaned.casefold() if cleaned else None


def progress_of(completed: int, total: int) -> float:
    return 100.0 if total == 0 else round(min(100.0, 100.0 * completed / total), 2)


def new_certificate_code() -> str:
    """A code to print on a certificate: 20 random base32 characters (100 bits) in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode()[:20]
    return "CG-" + "-".join(raw[i : i + 4] for i in range(0, 20, 4))


class CourseService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        learners: LearnerRepository,
        certificates: CertificateRepository,
        catalog: Catalog,
        clock: Clock,
        media_uses: MediaUseRepository | None = None,
    ) -> None:
        self._media_uses = media_uses or MediaUseRepository()
        self._courses = courses
        self._enrollments = enrollments
        self._learners = learners
        self._certificates = certificates
        self._catalog = catalog
        self._clock = clock

    # --- the catalog read model -------------------------------------------------------------------

    def _remember(self, course: Course) -> CourseSummary:
        summary = summary_of(course.model_dump(by_alias=True))
        self._catalog.put(summary)
        return summary

    async def _summaries(self, course_ids: Sequence[str]) -> dict[str, CourseSummary]:
        """From the catalog; a course it does not know yet (just created elsewhere) is read by id."""
        found = {i: s for i in dict.fromkeys(course_ids) if (s := self._catalog.get(i)) is not None}
        missing = [i for i in dict.fromkeys(course_ids) if i not in found]
        if missing:
            for course in (await self._courses.get_many(missing)).values():
                summary = self._remember(course)
                found[summary.id] = summary
        return found

    # --- reads ------------------------------------------------------------------------------------

    async def courses(self, actor: Actor, course_ids: Sequence[str]) -> list[CourseSummary | None]:
        """Courses by id, None where there is none or the caller may not see it (drafts)."""
        found = await self._summaries(course_ids)
        return [
            s if (s := found.get(i)) is not None and permissions.can_see(actor, s) else None
            for i in course_ids
        ]

    async def any_courses(self, course_ids: Sequence[str]) -> list[CourseSummary | None]:
        """Courses by id whatever their status: what a certificate or an enrollment refers to stays."""
        found = await self._summaries(course_ids)
        return [found.get(i) for i in course_ids]

    def catalog_page(
        self, actor: Actor, where: CatalogFilter, *, first: int, after: str | None
    ) -> Page[CourseSummary]:
        """The catalog, newest first: published courses, plus one's own (instructors) or all (admins)."""
        first = page_size(first)
        start = decode_cursor(after, valid_id=ObjectId.is_valid)
        search = clean_search(where.search)

        def matches(course: CourseSummary) -> bool:
            return (
                permissions.listed_in_catalog(actor, course)
                and (where.instructor_id is None or course.instructor_id == where.instructor_id)
                and (where.status is None or course.status is where.status)
                and (search is None or search in course.folded_title)
            )

        items: list[tuple[str, CourseSummary]] = []
        for course in self._catalog.newest_first(matches, after=start):
            if len(items) == first:
                return Page(items, has_next=True, total=lambda: self._catalog.count(matches))
            items.append((encode_cursor(course.position), course))
        return Page(items, has_next=False, total=lambda: self._catalog.count(matches))

    async def lesson_bodies(
        self, actor: Actor, course_ids: Sequence[str], viewer: Sequence[Enrollment | None]
    ) -> list[dict[str, str]]:
        """Each course's lesson bodies by lesson id, for a caller who may read them (else empty);
        `viewer` is the caller's enrollment in each course, as `viewer_enrollments` answered."""
        summaries = await self._summaries(course_ids)
        readable = [
            course_id
            for course_id, enrollment in zip(course_ids, viewer, strict=True)
            if (course := summaries.get(course_id)) is not None
            and permissions.can_read_content(actor, course, enrollment)
        ]
        courses = await self._courses.get_many(readable) if readable else {}
        return [
            {lesson.id: lesson.content for module in c.modules for lesson in module.lessons}
            if (c := courses.get(course_id)) is not None
            else {}
            for course_id in course_ids
        ]

    def may_read_content(self, actor: Actor, course: CourseSummary, enrollment: Enrollment | None) -> bool:
        return permissions.can_read_content(actor, course, enrollment)

    async def viewer_enrollments(self, actor: Actor, course_ids: Sequence[str]) -> list[Enrollment | None]:
        """The caller's own enrollment in each course, if any."""
        if actor.user_id is None:
            return [None] * len(course_ids)
        user_id = str(actor.user_id)
        enrolled = set(await self._learners.courses_of(user_id))
        wanted = [c for c in dict.fromkeys(course_ids) if c in enrolled]
        found = await self._enrollments.of_user(user_id, wanted) if wanted else {}
        return [found.get(course_id) for course_id in course_ids]

    async def enrollments(self, actor: Actor, ids: Sequence[str]) -> list[Enrollment | None]:
        """Enrollments by id, None where there is none or the caller may not see it."""
        found = await self._enrollments.get_many(ids)
        summaries = await self._summaries([e.course_id for e in found.values()])
        return [
            e
            if (e := found.get(i)) is not None
            and permissions.can_see_enrollment(actor, e, summaries.get(e.course_id))
            else None
            for i in ids
        ]

    async def enrollments_of(
        self, actor: Actor, requests: Sequence[tuple[str, int, str | None]]
    ) -> list[Page[Enrollment] | CourseGraphError]:
        """Users' enrollments, newest first, a page each (user id, first, after): the user themself and
        admins only. Every user's list, then every page's enrollments, each in one batch."""
        lists = await self._learners.courses_of_many([user_id for user_id, _, _ in requests])
        pages: list[tuple[str, list[str], bool, int] | CourseGraphError] = []
        for user_id, first, after in requests:
            try:
                pages.append(self._enrollment_page(actor, user_id, lists.get(user_id, []), first, after))
            except CourseGraphError as exc:
                pages.append(exc)
        wanted = [(page[0], c) for page in pages if not isinstance(page, CourseGraphError) for c in page[1]]
        found = await self._enrollments.of_pairs(wanted)
        answers: list[Page[Enrollment] | CourseGraphError] = []
        for page in pages:
            if isinstance(page, CourseGraphError):
                answers.append(page)
                continue
            user_id, course_ids, has_next, total = page
            items = [
                (encode_cursor(Position(e.enrolled_at, e.course_id)), e)
                for course_id in course_ids
                if (e := found.get((user_id, course_id))) is not None
            ]
            answers.append(Page(items, has_next=has_next, total=_constant(total)))
        return answers

    def _enrollment_page(
        self, actor: Actor, user_id: str, enrolled: list[str], first: int, after: str | None
    ) -> tuple[str, list[str], bool, int]:
        """The course ids of one page of a user's enrollments (newest first), whether more follow, and
        how many there are in all."""
        if not permissions.can_list_enrollments_of(actor, user_id):
            raise Forbidden("Only the user themself and admins see their enrollments.")
        size, start = page_size(first), decode_cursor(after, valid_id=ObjectId.is_valid)
        newest_first = list(reversed(enrolled))
        rest = newest_first
        if start is not None:
            position = next((i for i, c in enumerate(newest_first) if c == start.id), None)
            if position is None:
                raise BadUserInput("`after` is not a cursor this API returned.", details={"field": "after"})
            rest = newest_first[position + 1 :]
        return user_id, rest[:size], len(rest) > size, len(newest_first)

    def courses_teaching(
        self, actor: Actor, user_id: str, *, first: int, after: str | None
    ) -> Page[CourseSummary]:
        """The courses a user teaches that the caller may see (drafts only to their managers)."""
        return self.catalog_page(actor, CatalogFilter(instructor_id=user_id), first=first, after=after)

    async def certificate(self, code: str) -> Enrollment | None:
        """Public: the enrollment a certificate code was issued for, or None."""
        cleaned = code.strip().upper()
        if not 1 <= len(cleaned) <= CERTIFICATE_CODE_MAX:
            raise BadUserInput(
                f"A certificate code has at most {CERTIFICATE_CODE_MAX} characters.",
                details={"field": "code"},
            )
        enrollment_id = await self._certificates.enrollment_of(cleaned)
        if enrollment_id is None:
            return None
        enrollment = (await self._enrollments.get_many([enrollment_id])).get(enrollment_id)
        # A code written ahead of a completion that lost its race names an enrollment with another code.
        return enrollment if enrollment is not None and enrollment.certificate_code == cleaned else None

    async def course_access(self, actor: Actor, course_id: str, user_id: str) -> CourseAccess | None:
        """Internal (the assessments service): a course, read from the store, and the user's enrollment
        in it."""
        actor.require_service(ASSESSMENTS)
        course = await self._courses.summary(course_id)
        if course is None:
            return None
        enrollment = await self._enrollments.get(user_id, course_id)
        return CourseAccess(course.id, course.instructor_id, course.status, enrollment)

    async def media_access(self, actor: Actor, media_id: str, user_id: str, owner_id: str) -> bool:
        """Internal (the media service): whether a lesson of a course the user teaches or is enrolled in
        references the media. Only the courses of the media's owner count: referencing someone else's
        media in one's own course shows it to nobody."""
        actor.require_service(MEDIA)
        reference = f"media:{media_id}"
        for course_id in await self._media_uses.courses_of(media_id):
            course = await self._courses.get(course_id)
            if course is None or course.instructor_id != owner_id:
                continue
            if not any(lesson.media_url == reference for m in course.modules for lesson in m.lessons):
                continue
            if course.instructor_id == user_id or await self._enrollments.get(user_id, course_id) is not None:
                return True
        return False

    async def own_enrollment(self, actor: Actor, course_id: str) -> Enrollment:
        """The caller's enrollment in a course (for following its progress)."""
        user_id = str(actor.require_user())
        enrollment = await self._enrollments.get(user_id, course_id)
        if enrollment is None:
            raise Forbidden("Enroll in the course to follow your progress.")
        return enrollment

    # --- course writes ----------------------------------------------------------------------------

    async def create_course(
        self, actor: Actor, *, title: str, description: str, modules: list[ModuleDraft]
    ) -> CourseSummary:
        instructor_id = actor.require_role(Role.INSTRUCTOR, Role.ADMIN)
        errors: list[FieldError] = []
        clean_title = _text(title, "title", maximum=TITLE_MAX, required=True, errors=errors)
        clean_description = _text(
            description, "description", maximum=DESCRIPTION_MAX, required=False, errors=errors
        )
        outline, outline_errors = build_outline(modules, None)
        if errors or outline_errors:
            raise ValidationFailed(errors + outline_errors)
        now = self._clock()
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
        # Listed first: a media this course references finds the course (readers check the course).
        await self._media_uses.add(media_references(modules), str(course.id))
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
        return self._remember(await self._courses.insert(course))

    async def _managed_course(self, actor: Actor, course_id: str) -> Course:
        actor.require_user()
        course = await self._courses.get(course_id)
        # A course the caller may not see does not exist for them (drafts are private).
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        if not permissions.can_manage(actor, course):
            raise Forbidden("Only the course's instructor or an admin can change it.")
        return course

    async def _change_course(
        self,
        actor: Actor,
        course_id: str,
        change: Callable[[Course], tuple[dict[str, Any], list[dict[str, Any]]] | None],
    ) -> CourseSummary:
        """Read, decide, write guarded by version; on a lost race, decide again on the fresh document."""
        for _ in range(UPDATE_ATTEMPTS):
            course = await self._managed_course(actor, course_id)
            decided = change(course)
            if decided is None:
                return self._remember(course)
            fields, events = decided
            if await self._courses.update(course, fields, events):
                return self._remember(await self._managed_course(actor, course_id))
        raise Conflict("The course is being changed by someone else; try again.")

    async def update_course(
        self,
        actor: Actor,
        course_id: str,
        *,
        title: str | None,
        description: str | None,
        modules: list[ModuleDraft] | None,
    ) -> CourseSummary:
        def change(course: Course) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            if course.status is CourseStatus.ARCHIVED:
                raise Conflict("An archived course cannot be edited.", details={"reason": "COURSE_ARCHIVED"})
            errors: list[FieldError] = []
            fields: dict[str, Any] = {"updated_at": self._clock()}
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
            changed = sorted(name for name in ("title", "description", "modules") if name in fields)
            event = course_event(
                CourseEventType.COURSE_UPDATED,
                key=str(course.id),
                course_id=str(course.id),
                user_id=str(actor.user_id),
                changed=changed,
            )
            return fields, [event]

        if referenced := media_references(modules):
            await self._managed_course(actor, course_id)  # only its managers list media for a course
            await self._media_uses.add(referenced, course_id)
        return await self._change_course(actor, course_id, change)

    async def publish_course(self, actor: Actor, course_id: str) -> CourseSummary:
        def change(course: Course) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            if course.status is CourseStatus.PUBLISHED:
                return None  # idempotent: no second event
            if course.status is CourseStatus.ARCHIVED:
                raise Conflict(
                    "An archived course cannot be published again.", details={"reason": "COURSE_ARCHIVED"}
                )
            if course.lesson_count == 0:
                raise ValidationFailed(
                    [FieldError("modules", "NO_LESSONS", "Add a lesson before publishing.")]
                )
            now = self._clock()
            event = course_event(
                CourseEventType.COURSE_PUBLISHED,
                key=str(course.id),
                course_id=str(course.id),
                user_id=course.instructor_id,
                title=course.title,
            )
            return {"status": CourseStatus.PUBLISHED.value, "published_at": now, "updated_at": now}, [event]

        return await self._change_course(actor, course_id, change)

    async def archive_course(self, actor: Actor, course_id: str) -> CourseSummary:
        def change(course: Course) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            if course.status is CourseStatus.ARCHIVED:
                return None
            now = self._clock()
            event = course_event(
                CourseEventType.COURSE_ARCHIVED,
                key=str(course.id),
                course_id=str(course.id),
                user_id=str(actor.user_id),
            )
            return {"status": CourseStatus.ARCHIVED.value, "archived_at": now, "updated_at": now}, [event]

        return await self._change_course(actor, course_id, change)

    # --- enrollment and progress ------------------------------------------------------------------

    async def enroll(self, actor: Actor, course_id: str) -> Enrollment:
        user_id = str(actor.require_user())
        course = await self._courses.get(course_id)
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        if course.status is not CourseStatus.PUBLISHED:
            raise Conflict(
                "This course is not open for enrollment.", details={"reason": "COURSE_NOT_PUBLISHED"}
            )
        if permissions.is_owner(actor, course):
            raise Conflict("Instructors cannot enroll in their own course.", details={"reason": "OWN_COURSE"})
        # The learner's list first: if the enrollment is never written, readers skip the entry.
        await self._learners.add_course(user_id, course_id)
        enrollment = Enrollment(
            id=enrollment_id(user_id, course_id),
            user_id=user_id,
            course_id=course_id,
            enrolled_at=self._clock(),
        )
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
        # One insert wins a race (the derived id collides); the loser is told it is already enrolled.
        await self._enrollments.insert(enrollment)
        await self.count_enrollment(enrollment, course)
        return enrollment

    async def count_enrollment(self, enrollment: Enrollment, course: Course | None = None) -> None:
        """Count the enrollment in its course, once. Done right after enrolling; COURSE_ENROLLED does it
        again (a no-op) in case the process stopped in between (ADR 0016)."""
        if enrollment.counted:
            return
        for _ in range(UPDATE_ATTEMPTS):
            course = course or await self._courses.get(enrollment.course_id)
            if course is None:
                return
            counted = await self._courses.count_enrollment(course, str(enrollment.id))
            if counted is not None:
                await self._enrollments.mark_counted(enrollment)
                self._remember(counted)
                return
            course = None  # changed since read: read it again
        raise Conflict("Could not count the enrollment; will retry.")

    async def count_enrollment_by_id(self, enrollment_id: str) -> None:
        enrollment = (await self._enrollments.get_many([enrollment_id])).get(enrollment_id)
        if enrollment is not None:
            await self.count_enrollment(enrollment)

    async def complete_lesson(self, actor: Actor, course_id: str, lesson_id: str) -> Enrollment:
        user_id = str(actor.require_user())
        for _ in range(UPDATE_ATTEMPTS):
            course = await self._courses.get(course_id)
            enrollment = await self._enrollments.get(user_id, course_id)
            if course is None or not permissions.can_see(actor, course):
                raise NotFound("Course not found.")
            if enrollment is None:
                raise Forbidden("Enroll in the course before completing its lessons.")
            if lesson_id not in course.lesson_ids():
                raise NotFound("Lesson not found in this course.", details={"field": "lessonId"})
            if lesson_id in enrollment.completed_lessons:
                return enrollment  # idempotent: nothing changes, nothing is announced
            fields, events = await self._completion_change(course, enrollment, lesson_id)
            if await self._enrollments.update(enrollment, fields, events):
                refreshed = await self._enrollments.get(user_id, course_id)
                assert refreshed is not None
                return refreshed
        raise Conflict("Progress is being updated concurrently; try again.")

    async def _completion_change(
        self, course: Course, enrollment: Enrollment, lesson_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
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
        completion_fields, completion_events = await self._completion(
            course, enrollment, progress, enrollment.passed_assessments
        )
        return {**fields, **completion_fields}, [*events, *completion_events]

    async def _completion(
        self, course: Course, enrollment: Enrollment, progress: float, passed: list[str]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Complete the enrollment, with its certificate, when every lesson is done and every required
        assessment passed. Exactly once: the version guard makes the write that completes it unique."""
        if enrollment.completed_at is not None or progress < 100.0:
            return {}, []
        if not set(course.required_assessments) <= set(passed):
            return {}, []
        now = self._clock()
        code = new_certificate_code()
        # Written first, so a code on an enrollment always finds it (see CertificateRepository).
        await self._certificates.insert(code, str(enrollment.id))
        key, course_id, user_id = str(enrollment.id), str(course.id), enrollment.user_id
        fields = {
            "status": EnrollmentStatus.COMPLETED.value,
            "completed_at": now,
            "certificate_code": code,
            "certificate_issued_at": now,
        }
        events = [
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
                code=code,
                course_title=course.title,
                issued_at=now.isoformat(),
            ),
        ]
        return fields, events

    # --- what assessment.events tell this service ----------------------------------------------------

    async def set_required_assessment(
        self, actor: Actor, course_id: str, assessment_id: str, *, required: bool
    ) -> None:
        """Internal (the assessments service, and this service's consumer of assessment.events): whether
        an assessment is required."""
        actor.require_service(ASSESSMENTS, COURSES)
        for _ in range(UPDATE_ATTEMPTS):
            course = await self._courses.get(course_id)
            if course is None:
                return
            current = set(course.required_assessments)
            wanted = current | {assessment_id} if required else current - {assessment_id}
            if wanted == current:
                return
            if await self._courses.update(course, {"required_assessments": sorted(wanted)}):
                return
        raise Conflict("Could not record the assessment requirement; will retry.")

    async def record_assessment_pass(
        self, actor: Actor, *, user_id: str, course_id: str, assessment_id: str
    ) -> None:
        """A learner passed an assessment: remember it, and complete the enrollment if that was the last
        step. Internal: this service's consumer of assessment.events."""
        actor.require_service(COURSES)
        for _ in range(UPDATE_ATTEMPTS):
            course = await self._courses.get(course_id)
            enrollment = await self._enrollments.get(user_id, course_id)
            if course is None or enrollment is None:
                return  # nothing to complete (e.g. the learner was never enrolled)
            if assessment_id in enrollment.passed_assessments:
                return  # a redelivered event: already recorded
            passed = [*enrollment.passed_assessments, assessment_id]
            fields, events = await self._completion(course, enrollment, enrollment.progress, passed)
            if await self._enrollments.update(enrollment, {"passed_assessments": passed, **fields}, events):
                return
        raise Conflict("Could not record the assessment result; will retry.")


def _constant(value: int) -> Callable[[], int]:
    return lambda: value
