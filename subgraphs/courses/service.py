"""The courses domain: the one door to its data, for reads and writes alike. No GraphQL here.

Every method takes the acting caller and applies the rules of `permissions`. Lists come from the catalog
read model (`catalog.py`) and from learners' documents; everything else is read by id (ADR 0014). Every
write is one single-document insert or update carrying its events (the document outbox): what to write
is decided by `decisions`, and the kernel's unit of work (coursegraph.unit_of_work.change) writes it
guarded by the document's version, deciding again on the fresh document after a lost race.
"""

import base64
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bson import ObjectId
from cachetools import LRUCache

from coursegraph.clock import Clock
from coursegraph.codes import Reason
from coursegraph.errors import BadUserInput, Conflict, CourseGraphError, Forbidden, NotFound
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor, Role
from coursegraph.unit_of_work import Decision, change, with_outbox
from subgraphs.courses import decisions, permissions, roster_decisions
from subgraphs.courses.catalog import Catalog, CourseSummary
from subgraphs.courses.decisions import (
    CERTIFICATE_CODE_MAX,
    ModuleDraft,
    clean_search,
    media_references,
)
from subgraphs.courses.models import Course, CourseStatus, Enrollment
from subgraphs.courses.repository import (
    CertificateRepository,
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    MediaUseRepository,
    summary_of,
)

logger = logging.getLogger(__name__)

# Service identities (OAuth client ids) allowed to call internal operations.
ASSESSMENTS, COURSES, MEDIA = "assessments", "courses", "media"


# --- input ----------------------------------------------------------------------------------------


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


def new_certificate_code() -> str:
    """A code to print on a certificate: 20 random base32 characters (100 bits) in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode()[:20]
    return "CG-" + "-".join(raw[i : i + 4] for i in range(0, 20, 4))


# Courses whose lesson bodies a replica keeps (about 16 KB each for a demo course).
LESSON_BODIES_KEPT = 512


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
        # Lesson bodies of recently read courses, with the version they were read at: while the catalog
        # knows that version still, a course page reads no course document (on FerretDB one costs about
        # 6.6 ms of the store's CPU). Any write of a course gives it a new version.
        self._bodies: LRUCache[str, tuple[int, dict[str, str]]] = LRUCache(maxsize=LESSON_BODIES_KEPT)

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
        bodies: dict[str, dict[str, str]] = {}
        for course_id in readable:
            kept = self._bodies.get(course_id)
            if kept is not None and kept[0] == summaries[course_id].version:
                bodies[course_id] = kept[1]
        missing = [course_id for course_id in readable if course_id not in bodies]
        for course in (await self._courses.get_many(missing) if missing else {}).values():
            found = {lesson.id: lesson.content for module in course.modules for lesson in module.lessons}
            self._bodies[str(course.id)] = (course.version, found)
            bodies[str(course.id)] = found
        return [bodies.get(course_id, {}) for course_id in course_ids]

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
        # A removed enrollment is history, not a place in the course (issue 17).
        return [e if permissions.is_enrolled(e := found.get(course_id)) else None for course_id in course_ids]

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
                if permissions.is_enrolled(e := found.get((user_id, course_id))) and e is not None
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
        """Internal (the assessments service): a course, from the catalog read model, and the user's
        enrollment in it."""
        actor.require_service(ASSESSMENTS)
        course = (await self._summaries([course_id])).get(course_id)
        if course is None:
            return None
        enrollment = await self._enrollments.get(user_id, course_id)
        # A removed learner is no longer enrolled: their attempts are refused.
        enrolled = enrollment if permissions.is_enrolled(enrollment) else None
        return CourseAccess(course.id, course.instructor_id, course.status, enrolled)

    async def media_access(self, actor: Actor, media_id: str, user_id: str, owner_id: str) -> bool:
        """Internal (the media service): whether a lesson of a course the user teaches or is enrolled in
        references the media. Only the courses of the media's owner count: referencing someone else's
        media in one's own course shows it to nobody."""
        actor.require_service(MEDIA)
        reference = f"media:{media_id}"
        for course_id in await self._media_uses.courses_of(media_id):
            course = await self._courses.outline(course_id)
            if course is None or course.instructor_id != owner_id:
                continue
            if not any(lesson.media_url == reference for m in course.modules for lesson in m.lessons):
                continue
            if course.instructor_id == user_id or permissions.is_enrolled(
                await self._enrollments.get(user_id, course_id)
            ):
                return True
        return False

    def progress_follower(self, actor: Actor) -> str:
        """Whose progress the caller may follow: their own, signed in."""
        return str(actor.require_user())

    async def activity_course(self, actor: Actor, course_id: str) -> CourseSummary:
        """A course whose activity the caller may watch (ADR 0033); checked before subscribing and again
        before each delivery, so a teaching assistant taken off the course stops hearing of it."""
        actor.require_user()
        [course] = await self.courses(actor, [course_id])
        if course is None:
            raise NotFound("Course not found.")
        if not permissions.can_watch_activity(actor, course):
            raise Forbidden(
                "Only the course's instructors, teaching assistants and admins watch its activity."
            )
        return course

    async def own_enrollment(self, actor: Actor, course_id: str) -> Enrollment:
        """The caller's enrollment in a course (for following its progress)."""
        user_id = str(actor.require_user())
        enrollment = await self._enrollments.get(user_id, course_id)
        if enrollment is None or not permissions.is_enrolled(enrollment):
            raise Forbidden("Enroll in the course to follow your progress.")
        return enrollment

    # --- course writes ----------------------------------------------------------------------------

    async def create_course(
        self, actor: Actor, *, title: str, description: str, modules: list[ModuleDraft]
    ) -> CourseSummary:
        instructor_id = actor.require_role(Role.INSTRUCTOR, Role.ADMIN)
        decision = decisions.new_course(
            instructor_id=str(instructor_id),
            title=title,
            description=description,
            modules=modules,
            now=self._clock(),
        )
        # Listed first: a media this course references finds the course (readers check the course).
        await self._media_uses.add(media_references(modules), str(decision.state.id))
        return self._remember(await self._courses.insert(with_outbox(decision)))

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
        self, actor: Actor, course_id: str, decide: Callable[[Course], Decision[Course] | None]
    ) -> CourseSummary:
        written = await change(
            lambda: self._managed_course(actor, course_id),
            decide,
            self._courses.write,
            conflict="The course is being changed by someone else; try again.",
        )
        assert written is not None  # _managed_course raises rather than answer None
        return self._remember(written)

    async def update_course(
        self,
        actor: Actor,
        course_id: str,
        *,
        title: str | None,
        description: str | None,
        modules: list[ModuleDraft] | None,
    ) -> CourseSummary:
        if referenced := media_references(modules):
            await self._managed_course(actor, course_id)  # only its managers list media for a course
            await self._media_uses.add(referenced, course_id)
        editor_id, now = str(actor.user_id), self._clock()
        return await self._change_course(
            actor,
            course_id,
            lambda course: decisions.edit_course(
                course, title=title, description=description, modules=modules, editor_id=editor_id, now=now
            ),
        )

    async def publish_course(self, actor: Actor, course_id: str) -> CourseSummary:
        now = self._clock()
        return await self._change_course(actor, course_id, lambda course: decisions.publish(course, now=now))

    async def archive_course(self, actor: Actor, course_id: str) -> CourseSummary:
        archiver_id, now = str(actor.user_id), self._clock()
        return await self._change_course(
            actor, course_id, lambda course: decisions.archive(course, archiver_id=archiver_id, now=now)
        )

    # --- enrollment and progress ------------------------------------------------------------------

    async def enroll(self, actor: Actor, course_id: str) -> Enrollment:
        """Three writes and no read on the usual path (the course comes from the catalog read model):
        the learner's list, the course's count, the enrollment. The count is guarded by the course
        being published still, so a course closed since the catalog heard of it is decided on afresh."""
        user_id = str(actor.require_user())
        course = (await self._summaries([course_id])).get(course_id)
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        decision = decisions.enroll(course, user_id=user_id, now=self._clock())
        # The learner's list first: if the enrollment is never written, readers skip the entry.
        listed = await self._learners.add_course(user_id, course_id)
        if not listed and permissions.is_enrolled(await self._enrollments.get(user_id, course_id)):
            raise Conflict("Already enrolled in this course.", details={"reason": Reason.ALREADY_ENROLLED})
        # Counted before the enrollment is written, which then says so: its COURSE_ENROLLED counts
        # nothing again (ADR 0016). A lost race or a retry finds its id counted already.
        counted = await self._courses.count_enrollment(course_id, str(decision.state.id))
        if counted is None:
            fresh = await self._courses.summary(course_id)
            if fresh is None:
                raise NotFound("Course not found.")
            decisions.enroll(fresh, user_id=user_id, now=self._clock())  # refuses a course closed since
            counted = fresh
        self._catalog.put(counted)
        # One insert wins a race (the derived id collides); the loser is told it is already enrolled.
        try:
            return await self._enrollments.insert(with_outbox(decision).model_copy(update={"counted": True}))
        except Conflict:
            # Removed by the instructor (issue 17): enrolling again makes it active, with its progress.
            return await self._reactivate(counted, user_id, course_id)

    async def _reactivate(self, course: CourseSummary, user_id: str, course_id: str) -> Enrollment:
        decided = roster_decisions.Tracked(
            lambda enrollment: roster_decisions.reactivate(course, enrollment, enrolled_by=user_id)
        )
        written = await change(
            lambda: self._enrollments.get(user_id, course_id),
            decided,
            self._enrollments.write,
            conflict="The enrollment is being changed by someone else; try again.",
        )
        if written is None or not decided.applied:
            raise Conflict("Already enrolled in this course.", details={"reason": Reason.ALREADY_ENROLLED})
        return written

    async def count_enrollment_by_id(self, enrollment_id: str) -> None:
        """Count an enrollment its request did not count (written before issue 16, or never counted)."""
        enrollment = (await self._enrollments.get_many([enrollment_id])).get(enrollment_id)
        if enrollment is None or enrollment.counted or not permissions.is_enrolled(enrollment):
            return
        counted = await self._courses.count_enrollment(enrollment.course_id, enrollment_id, open_only=False)
        if counted is not None:
            self._catalog.put(counted)
        await self._enrollments.mark_counted(enrollment)

    async def complete_lesson(self, actor: Actor, course_id: str, lesson_id: str) -> Enrollment:
        user_id = str(actor.require_user())
        # The outline from the catalog read model, as enrolling does: no course document is read.
        course = (await self._summaries([course_id])).get(course_id)
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")

        async def read() -> Enrollment:
            enrollment = await self._enrollments.get(user_id, course_id)
            if enrollment is None or not permissions.is_enrolled(enrollment):
                raise Forbidden("Enroll in the course before completing its lessons.")
            return enrollment

        now, code = self._clock(), new_certificate_code()
        written = await change(
            read,
            lambda enrollment: decisions.complete_lesson(
                course, enrollment, lesson_id, now=now, certificate_code=code
            ),
            self._write_enrollment,
            conflict="Progress is being updated concurrently; try again.",
        )
        assert written is not None  # read raises rather than answer None
        return written

    async def _write_enrollment(self, before: Enrollment, decision: Decision[Enrollment]) -> bool:
        code = decision.state.certificate_code
        if code is not None and code != before.certificate_code:
            # Written first, so a code on an enrollment always finds it (see CertificateRepository).
            await self._certificates.insert(code, str(before.id))
        return await self._enrollments.write(before, decision)

    # --- what assessment.events tell this service ----------------------------------------------------

    async def set_required_assessment(
        self, actor: Actor, course_id: str, assessment_id: str, *, required: bool
    ) -> None:
        """Internal (the assessments service, and this service's consumer of assessment.events): whether
        an assessment is required."""
        actor.require_service(ASSESSMENTS, COURSES)
        written = await change(
            lambda: self._courses.get(course_id),
            lambda course: decisions.require_assessment(course, assessment_id, required=required),
            self._courses.write,
            conflict="Could not record the assessment requirement; will retry.",
        )
        if written is not None:
            self._remember(written)  # completing a lesson decides on the catalog's requirements

    async def record_assessment_pass(
        self, actor: Actor, *, user_id: str, course_id: str, assessment_id: str
    ) -> None:
        """A learner passed an assessment: remember it, and complete the enrollment if that was the last
        step. Internal: this service's consumer of assessment.events."""
        actor.require_service(COURSES)
        course = await self._courses.outline(course_id)
        if course is None:
            return  # nothing to complete
        now, code = self._clock(), new_certificate_code()
        # No enrollment (the learner was never enrolled): nothing to record.
        await change(
            lambda: self._enrollments.get(user_id, course_id),
            lambda enrollment: decisions.record_pass(
                course, enrollment, assessment_id, now=now, certificate_code=code
            ),
            self._write_enrollment,
            conflict="Could not record the assessment result; will retry.",
        )


def _constant(value: int) -> Callable[[], int]:
    return lambda: value
