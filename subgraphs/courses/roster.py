"""Rosters (issue 17, ADR 0031 "Rosters"): the course's instructors and admins enroll and unenroll others,
one at a time or in bulk, and give course roles; they and the teaching assistants read the roster.

Decisions are in `roster_decisions`, rules in `permissions`. Bulk enrollment reads every enrollment of the
batch at once (by id), then writes in batches: the learners' lists, one count update, one unordered insert
of the new enrollments, one roster update. A learner's own enrollment (`CourseService.enroll`) is untouched.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from coursegraph.clock import Clock
from coursegraph.codes import FieldCode, Reason
from coursegraph.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from coursegraph.limits import PAGE_MAX, ROSTER_BATCH_MAX
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor
from coursegraph.unit_of_work import change, with_outbox
from subgraphs.courses import permissions, roster_decisions
from subgraphs.courses.catalog import Catalog, CourseSummary
from subgraphs.courses.models import Course, CourseRole, Enrollment, EnrollmentStatus, enrollment_id
from subgraphs.courses.repository import (
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    RosterRepository,
    summary_of,
)
from subgraphs.courses.roster_decisions import Entry, RosterOutcome, Tracked


class UserDirectory(Protocol):
    """The users service, as rosters need it: which users these ids and emails name."""

    async def find(self, ids: Sequence[str], emails: Sequence[str]) -> list[tuple[str, str]]:
        """(id, email) of each user found; unknown ones are left out."""
        ...


@dataclass(frozen=True)
class RosterResult:
    """One entry's outcome; `user_id` when it named a user, `enrollment` when they are enrolled."""

    entry: str
    outcome: RosterOutcome
    reason: str | None = None
    user_id: str | None = None
    enrollment: Enrollment | None = None


@dataclass(frozen=True)
class RosterEntry:
    user_id: str
    role: CourseRole
    enrollment: Enrollment


class RosterService:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        learners: LearnerRepository,
        rosters: RosterRepository,
        catalog: Catalog,
        users: UserDirectory,
        clock: Clock,
    ) -> None:
        self._courses = courses
        self._enrollments = enrollments
        self._learners = learners
        self._rosters = rosters
        self._catalog = catalog
        self._users = users
        self._clock = clock

    async def _course(self, actor: Actor, course_id: str) -> Course:
        """The course, for a caller who may change its roster."""
        actor.require_user()
        course = await self._courses.outline(course_id)
        # A course the caller may not see does not exist for them (drafts are private).
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        if not permissions.can_change_roster(actor, course):
            raise Forbidden("Only the course's instructor or an admin can change its roster.")
        return course

    def _counted(self, summary: CourseSummary | None) -> None:
        if summary is not None:
            self._catalog.put(summary)

    # --- reads ----------------------------------------------------------------------------------------

    async def roster(
        self, actor: Actor, course: CourseSummary, *, first: int, after: str | None
    ) -> Page[RosterEntry]:
        """The course's learners, oldest enrollment first: its managers and teaching assistants only."""
        actor.require_user()
        if not permissions.can_see_roster(actor, course):
            raise Forbidden(
                "Only the course's instructor, its teaching assistants and admins see its roster."
            )
        size, start = page_size(first), decode_cursor(after)
        learners = await self._rosters.learners(course.id)
        position = 0
        if start is not None:
            found = next((i for i, user_id in enumerate(learners) if user_id == start.id), None)
            position = found + 1 if found is not None else await self._after_time(course.id, learners, start)
        items: list[tuple[str, RosterEntry]] = []
        # A listed learner with no active enrollment (removed, or not written) is skipped: read on until
        # the page is full, one batch of lookups at a time.
        while position < len(learners) and len(items) <= size:
            batch = learners[position : position + size + 1]
            position += len(batch)
            found_enrollments = await self._enrollments.get_many([enrollment_id(u, course.id) for u in batch])
            for user_id in batch:
                enrollment = found_enrollments.get(str(enrollment_id(user_id, course.id)))
                if enrollment is None or not permissions.is_enrolled(enrollment):
                    continue
                role = roster_decisions.role_of(course, user_id, enrollment) or CourseRole.LEARNER
                cursor = encode_cursor(Position(enrollment.enrolled_at, user_id))
                items.append((cursor, RosterEntry(user_id, role, enrollment)))
        total = course.enrollment_count
        return Page(items[:size], has_next=len(items) > size, total=lambda: total)

    async def _after_time(self, course_id: str, learners: list[str], start: Position) -> int:
        """Where a page starts whose cursor names a learner no longer listed (removed since): at the first
        learner who enrolled after the cursor's time. Reads the roster's enrollments until it is found."""
        for offset in range(0, len(learners), PAGE_MAX):
            batch = learners[offset : offset + PAGE_MAX]
            found = await self._enrollments.get_many([enrollment_id(u, course_id) for u in batch])
            for index, user_id in enumerate(batch):
                enrollment = found.get(str(enrollment_id(user_id, course_id)))
                if enrollment is not None and Position(enrollment.enrolled_at, user_id) > start:
                    return offset + index
        return len(learners)

    def viewer_role(
        self, actor: Actor, course: CourseSummary, enrollment: Enrollment | None
    ) -> CourseRole | None:
        user_id = None if actor.user_id is None else str(actor.user_id)
        return roster_decisions.role_of(course, user_id, enrollment)

    # --- enrolling and unenrolling others -------------------------------------------------------------

    async def enroll_user(self, actor: Actor, course_id: str, user_id: str) -> Enrollment:
        """Enroll one user (or make their removed enrollment active again); CONFLICT if enrolled."""
        course = await self._course(actor, course_id)
        roster_decisions.check_open_to_roster(course)
        if not await self._users.find([user_id], []):
            raise NotFound("User not found.", details={"field": "userId"})
        if (why := roster_decisions.refusal(course, user_id)) is not None:
            raise Conflict(why, details={"reason": Reason.OWN_COURSE})
        result = (await self._enroll(course, [user_id], enrolled_by=str(actor.user_id)))[user_id]
        if result.outcome is RosterOutcome.ALREADY_ENROLLED:
            raise Conflict("Already enrolled in this course.", details={"reason": Reason.ALREADY_ENROLLED})
        assert result.enrollment is not None
        return result.enrollment

    async def enroll_users(self, actor: Actor, course_id: str, entries: Sequence[str]) -> list[RosterResult]:
        """Enroll users given by email or id, an outcome per entry in order. A user named twice (by
        email and by id, say) is enrolled once; the later entries are ALREADY_ENROLLED."""
        if len(entries) > ROSTER_BATCH_MAX:
            raise ValidationFailed(
                [FieldError("users", FieldCode.TOO_MANY, f"At most {ROSTER_BATCH_MAX} entries at a time.")]
            )
        course = await self._course(actor, course_id)
        roster_decisions.check_open_to_roster(course)
        parsed = [roster_decisions.parse_entry(entry) for entry in entries]
        ids = list(dict.fromkeys(e.user_id for e in parsed if e.user_id is not None))
        emails = list(dict.fromkeys(e.email for e in parsed if e.email is not None))
        found = await self._users.find(ids, emails) if ids or emails else []
        by_id = {user_id: user_id for user_id, _ in found}
        by_email = {email.lower(): user_id for user_id, email in found}

        def named(entry: Entry) -> str | None:
            return by_id.get(entry.user_id or "") if entry.email is None else by_email.get(entry.email)

        wanted = [
            user_id
            for entry in parsed
            if (user_id := named(entry)) is not None and roster_decisions.refusal(course, user_id) is None
        ]
        enrolled = await self._enroll(course, list(dict.fromkeys(wanted)), enrolled_by=str(actor.user_id))
        results: list[RosterResult] = []
        seen: set[str] = set()
        for entry in parsed:
            user_id = named(entry)
            if entry.invalid is not None:
                results.append(RosterResult(entry.given, RosterOutcome.INVALID, entry.invalid))
            elif user_id is None:
                results.append(
                    RosterResult(entry.given, RosterOutcome.UNKNOWN_USER, "No user with this email or id.")
                )
            elif (why := roster_decisions.refusal(course, user_id)) is not None:
                results.append(RosterResult(entry.given, RosterOutcome.INVALID, why, user_id))
            else:
                result = enrolled[user_id]
                outcome = RosterOutcome.ALREADY_ENROLLED if user_id in seen else result.outcome
                results.append(RosterResult(entry.given, outcome, None, user_id, result.enrollment))
                seen.add(user_id)
        return results

    async def _enroll(
        self, course: Course, user_ids: list[str], *, enrolled_by: str
    ) -> dict[str, RosterResult]:
        """Enroll these users (known users, none the instructor): the new ones with batched writes, the
        removed ones made active again one by one; ALREADY_ENROLLED for the others."""
        course_id, now = str(course.id), self._clock()
        existing = await self._enrollments.of_pairs([(user_id, course_id) for user_id in user_ids])
        results: dict[str, RosterResult] = {}
        new: list[Enrollment] = []
        removed: list[Enrollment] = []
        for user_id in user_ids:
            enrollment = existing.get((user_id, course_id))
            if enrollment is None:
                decision = roster_decisions.enroll_by(
                    course, user_id=user_id, enrolled_by=enrolled_by, now=now
                )
                new.append(with_outbox(decision))
            elif enrollment.status is EnrollmentStatus.REMOVED:
                removed.append(enrollment)
            else:
                results[user_id] = RosterResult(
                    user_id, RosterOutcome.ALREADY_ENROLLED, None, user_id, enrollment
                )
        if not new and not removed:
            return results
        # The learners' lists first: an enrollment never written leaves an entry readers skip. Then the
        # count, once for the batch, before the enrollments (as a learner's own enrollment is counted).
        await self._learners.add_course_to_many([e.user_id for e in [*new, *removed]], course_id)
        self._counted(await self._courses.add_to_count(course_id, len(new) + len(removed)))
        taken = await self._enrollments.insert_many(new)
        shortfall = 0
        for enrollment in new:
            if enrollment.id in taken:  # the learner enrolled themself meanwhile
                shortfall += 1
                results[enrollment.user_id] = await self._already(enrollment.user_id, course_id)
            else:
                results[enrollment.user_id] = RosterResult(
                    enrollment.user_id, RosterOutcome.ENROLLED, None, enrollment.user_id, enrollment
                )
        for enrollment in removed:
            written = await self._reactivate(course, enrollment, enrolled_by=enrolled_by)
            if written is None:  # made active by someone else meanwhile
                shortfall += 1
                results[enrollment.user_id] = await self._already(enrollment.user_id, course_id)
            else:
                results[enrollment.user_id] = RosterResult(
                    enrollment.user_id, RosterOutcome.ENROLLED, None, enrollment.user_id, written
                )
        if shortfall:
            self._counted(await self._courses.add_to_count(course_id, -shortfall))
        enrolled = [user_id for user_id, r in results.items() if r.outcome is RosterOutcome.ENROLLED]
        await self._rosters.add(course_id, enrolled)
        return results

    async def _already(self, user_id: str, course_id: str) -> RosterResult:
        enrollment = await self._enrollments.get(user_id, course_id)
        return RosterResult(user_id, RosterOutcome.ALREADY_ENROLLED, None, user_id, enrollment)

    async def _reactivate(
        self, course: Course, enrollment: Enrollment, *, enrolled_by: str
    ) -> Enrollment | None:
        """The removed enrollment made active again, or None if it was not removed any more."""
        decided = Tracked(lambda e: roster_decisions.reactivate(course, e, enrolled_by=enrolled_by))
        written = await change(
            lambda: self._enrollments.get(enrollment.user_id, enrollment.course_id),
            decided,
            self._enrollments.write,
            conflict="The enrollment is being changed by someone else; try again.",
        )
        return written if decided.applied else None

    async def unenroll_user(self, actor: Actor, course_id: str, user_id: str) -> Enrollment:
        """Remove a learner, keeping their enrollment (REMOVED) and its history. Removing them again
        changes nothing."""
        course = await self._course(actor, course_id)
        now, removed_by = self._clock(), str(actor.user_id)
        decided = Tracked(lambda e: roster_decisions.remove(e, removed_by=removed_by, now=now))
        written = await change(
            lambda: self._enrollments.get(user_id, course_id),
            decided,
            self._enrollments.write,
            conflict="The enrollment is being changed by someone else; try again.",
        )
        if written is None:
            raise NotFound("This user is not enrolled in the course.", details={"field": "userId"})
        if decided.applied:
            # Once: only the write that removed it gets here.
            self._counted(await self._courses.uncount_enrollment(str(course.id), str(written.id)))
            await self._rosters.remove(str(course.id), [user_id])
            await self._learners.remove_course(user_id, str(course.id))
        return written

    # --- course roles ---------------------------------------------------------------------------------

    async def set_course_role(
        self, actor: Actor, course_id: str, user_id: str, role: CourseRole
    ) -> CourseSummary:
        await self._course(actor, course_id)
        if not await self._users.find([user_id], []):
            raise NotFound("User not found.", details={"field": "userId"})
        changed_by = str(actor.user_id)
        written = await change(
            lambda: self._courses.get(course_id),
            lambda course: roster_decisions.set_role(
                course, user_id=user_id, role=role, changed_by=changed_by
            ),
            self._courses.write,
            conflict="The course is being changed by someone else; try again.",
        )
        if written is None:
            raise NotFound("Course not found.")
        summary = summary_of(written.model_dump(by_alias=True))
        self._catalog.put(summary)
        return summary
