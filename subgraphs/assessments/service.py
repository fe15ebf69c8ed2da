"""The assessment engine, and the one door to the assessments domain's data. No GraphQL here.

Authoring, attempts with server-side deadlines, scoring, results under the reveal policy. Time comes from
an injected clock; enrollment and course ownership come from the courses service (a port, called with a
service token). Every method takes the caller and applies the rules of `permissions` itself, reads
included: the GraphQL layer passes the caller on and decides nothing. What a write changes is decided by
the pure functions of `decisions`; every change of a stored document goes through the kernel's unit of
work (`coursegraph.unit_of_work.change`: read, decide, version-guarded write with its events, decide
again on a lost race), and what it answers is the state written, never read again. Reads go by id
(ADR 0014).
"""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bson import ObjectId

from coursegraph.clock import Clock
from coursegraph.codes import FieldCode
from coursegraph.errors import Conflict, CourseGraphError, FieldError, NotFound, ValidationFailed
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor
from coursegraph.unit_of_work import Decision, change, starting_with
from subgraphs.assessments import decisions, permissions, scoring
from subgraphs.assessments.decisions import AssessmentDraft
from subgraphs.assessments.models import Assessment, Attempt, AttemptStatus, Question
from subgraphs.assessments.ports import CourseAccess, CoursesPort
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository

logger = logging.getLogger(__name__)
SWEEP_BATCH = 100
_random = secrets.SystemRandom()
ATTEMPT_BUSY = "The attempt is being changed concurrently; try again."

T = TypeVar("T")
K = TypeVar("K")
# This request's cached reads (its DataLoaders' `load`/`load_many`), handed in so that a rule and the
# GraphQL fields around it share one read of each document.
Load = Callable[[K], Awaitable[T]]
CourseLookup = Callable[[list[str]], Awaitable[list[CourseAccess | None]]]


@dataclass(frozen=True)
class Result:
    """A submitted attempt's score as the caller may see it."""

    attempt: Attempt
    assessment: Assessment
    revealed: bool  # correct answers and feedback shown


class AssessmentService:
    def __init__(
        self,
        assessments: AssessmentRepository,
        attempts: AttemptRepository,
        courses: CoursesPort,
        *,
        clock: Clock,
        grace: timedelta,
    ) -> None:
        self._assessments = assessments
        self._attempts = attempts
        self._courses = courses
        self._clock = clock
        self._grace = grace

    # --- reads ------------------------------------------------------------------------------------

    async def assessments(self, ids: Sequence[str]) -> list[Assessment | None]:
        """Assessments by id, unchecked: for what a visible attempt or result refers to (a caller who may
        see an attempt may see its assessment). Anything else asks `visible_assessments`."""
        found = await self._assessments.get_many(ids)
        return [found.get(i) for i in ids]

    async def course_accesses(self, actor: Actor, course_ids: Sequence[str]) -> list[CourseAccess | None]:
        """The caller's view of each course (status, enrollment), asked of the courses service at once."""
        user_id = None if actor.user_id is None else str(actor.user_id)
        return list(await asyncio.gather(*(self._courses.access(c, user_id) for c in course_ids)))

    async def visible_assessments(
        self, actor: Actor, assessments: Sequence[Assessment | None], courses: CourseLookup
    ) -> list[Assessment | None]:
        """Of these assessments, those the caller may see, None in place of the others. Courses are asked
        about only for assessments the caller does not manage."""
        unmanaged = list(
            dict.fromkeys(
                a.course_id for a in assessments if a is not None and not permissions.can_manage(actor, a)
            )
        )
        access = dict(zip(unmanaged, await courses(unmanaged) if unmanaged else [], strict=True))
        return [
            a if a is not None and permissions.can_see(actor, a, access.get(a.course_id)) else None
            for a in assessments
        ]

    async def course_assessments(
        self, actor: Actor, course_ids: Sequence[str], courses: CourseLookup
    ) -> list[list[Assessment]]:
        """Each course's assessments that the caller may see (a draft course's: its managers'), oldest
        first."""
        found = await self._assessments.of_courses(course_ids)
        listed = [found.get(course_id, []) for course_id in course_ids]
        visible = await self.visible_assessments(actor, [a for one in listed for a in one], courses)
        shown = {a.id for a in visible if a is not None}
        return [[a for a in one if a.id in shown] for one in listed]

    async def assessment(
        self, actor: Actor, assessment_id: str, visible: Load[str, Assessment | None]
    ) -> Assessment | None:
        """`assessment(id)`: signed-in callers (anyone else is told to sign in); null where they may not
        see it. `visible` is this request's `visible_assessments` by id."""
        permissions.require_signed_in(actor)
        return await visible(assessment_id)

    async def viewer_result(
        self,
        actor: Actor,
        assessment_id: str,
        assessments: Load[str, Assessment | None],
        learner_attempts: Load[tuple[str, str], list[Attempt]],
    ) -> Attempt | None:
        """The caller's attempt that counts at an assessment (signed-in callers only), per its policy."""
        user_id = permissions.require_signed_in(actor)
        assessment = await assessments(assessment_id)
        if assessment is None:
            return None
        learner = await learner_attempts((str(assessment.id), user_id))
        return decisions.result_attempt(assessment, learner)

    async def viewer_attempts(
        self, actor: Actor, assessment: Assessment, learner_attempts: Load[tuple[str, str], list[Attempt]]
    ) -> list[Attempt]:
        """The caller's own attempts at an assessment, oldest first (an anonymous caller has none)."""
        if actor.user_id is None:
            return []
        return await learner_attempts((str(assessment.id), str(actor.user_id)))

    async def questions(
        self, actor: Actor, assessment: Assessment, courses: Load[str, CourseAccess | None]
    ) -> list[tuple[Question, list[str]]] | None:
        """The questions the caller may read (None: not theirs to read), each with its choices' order.
        The course is asked about only when the answer depends on it."""
        asks = permissions.questions_depend_on_course(actor, assessment)
        course = await courses(assessment.course_id) if asks else None
        if not permissions.can_read_questions(actor, assessment, course, now=self._clock()):
            return None
        orders = self.display_orders(actor, assessment)
        return [(q, orders[q.id]) for q in assessment.questions]

    def may_see_key(self, actor: Actor, assessment: Assessment) -> bool:
        return permissions.can_manage(actor, assessment)

    def display_orders(self, actor: Actor, assessment: Assessment) -> dict[str, list[str]]:
        """Each question's choice order outside an attempt. Managers see the authored order (they see the
        key anyway); anyone else a fresh uniform shuffle per read, as in an attempt, so that no order
        shown (authored, or sorted by author-chosen ids) spells the key."""
        if permissions.can_manage(actor, assessment):
            return {q.id: decisions.choice_ids(q) for q in assessment.questions}
        return decisions.presentation_order(assessment, _random.shuffle)[1]

    async def attempts(self, actor: Actor, ids: Sequence[str]) -> list[Attempt | None]:
        """Attempts by id, None where there is none or the caller may not see it."""
        found = await self._attempts.get_many(ids)
        assessments = await self._assessments.get_many([a.assessment_id for a in found.values()])
        return [
            a
            if (a := found.get(i)) is not None
            and permissions.can_see_attempt(actor, a, assessments.get(a.assessment_id))
            else None
            for i in ids
        ]

    async def learner_attempts(self, keys: Sequence[tuple[str, str]]) -> list[list[Attempt]]:
        """The attempts of each (assessment id, user id), by number: unchecked, for attempts the caller
        may see (their own, or those of a result they may see)."""
        return await self._attempts.of_learners(keys)

    async def attempts_of(
        self, actor: Actor, user_id: str, *, first: int, after: str | None
    ) -> Page[Attempt]:
        """A user's attempts, newest first: the user themself and admins see all of them, instructors
        those at their courses' assessments."""
        first = page_size(first)
        start = decode_cursor(after)
        authors = permissions.may_author_attempts_of(
            actor, user_id
        ) and await self._assessments.any_of_instructor(str(actor.user_id))
        instructor = permissions.attempts_scope(actor, user_id, authors_assessments=authors)
        if start is not None and not ObjectId.is_valid(start.id):
            raise ValidationFailed(
                [FieldError("after", FieldCode.INVALID, "`after` is not a cursor this API returned.")]
            )
        rows = await self._attempts.of_user(user_id, instructor_id=instructor, after=start, limit=first + 1)
        items = [(encode_cursor(Position(a.started_at, str(a.id))), a) for a in rows[:first]]
        return Page(items, has_next=len(rows) > first)

    def result(
        self, actor: Actor, attempt: Attempt, assessment: Assessment, learner: Sequence[Attempt]
    ) -> Result | None:
        """A submitted attempt's score; `learner` is all the learner's attempts at the assessment."""
        if attempt.status is not AttemptStatus.SUBMITTED or attempt.submitted_at is None:
            return None
        revealed = permissions.may_reveal(
            actor,
            assessment,
            attempt,
            passed_any=any(a.passed for a in learner),
            now=self._clock(),
            attempts_used=len(learner),
        )
        return Result(attempt, assessment, revealed)

    # --- authoring ---------------------------------------------------------------------------------

    async def _tell_courses(self, assessment: Assessment) -> None:
        """Tell courses now whether the assessment is required, so completion rules hold at once, and its
        title, so a deadline can be set for it at once (issue 17).

        The ASSESSMENT_CREATED/UPDATED event carries the same fact; if this call fails, the event applies
        it later (both are idempotent), so the write that already happened stands.
        """
        try:
            await self._courses.record_requirement(
                assessment.course_id,
                str(assessment.id),
                required=assessment.required_for_completion,
                title=assessment.title,
            )
        except CourseGraphError:
            logger.warning("courses not told of assessment %s now; the event will tell it", assessment.id)

    async def create_assessment(self, actor: Actor, course_id: str, draft: AssessmentDraft) -> Assessment:
        user_id = permissions.require_instructor(actor)
        instructor_id = permissions.require_author(actor, await self._courses.access(course_id, user_id))
        created = decisions.new_assessment(
            draft,
            course_id=course_id,
            instructor_id=instructor_id,
            actor=actor,
            now=self._clock(),
            new_id=ObjectId(),
        )
        assessment = await self._assessments.insert(created)
        await self._tell_courses(assessment)
        return assessment

    async def update_assessment(self, actor: Actor, assessment_id: str, draft: AssessmentDraft) -> Assessment:
        permissions.require_signed_in(actor)
        now = self._clock()
        required_before: bool | None = None

        def decide(assessment: Assessment) -> Decision[Assessment]:
            nonlocal required_before
            permissions.require_manager(actor, assessment)
            required_before = assessment.required_for_completion
            return decisions.edit_assessment(assessment, draft, actor=actor, now=now)

        updated = await change(
            lambda: self._assessments.get(assessment_id),
            decide,
            self._assessments.write,
            conflict="The assessment is being changed by someone else; try again.",
        )
        if updated is None:
            raise NotFound("Assessment not found.")
        if updated.required_for_completion != required_before:
            await self._tell_courses(updated)
        return updated

    # --- attempts ----------------------------------------------------------------------------------

    async def _assessment(self, assessment_id: str) -> Assessment:
        found = await self._assessments.get(assessment_id)
        if found is None:
            raise NotFound("Assessment not found.")
        return found

    async def start_attempt(self, actor: Actor, assessment_id: str) -> Attempt:
        """Start the caller's next attempt, or resume their open one (one at a time); an open attempt
        past its deadline is closed first."""
        user_id = permissions.require_signed_in(actor)
        now = self._clock()
        assessment = await self._assessment(assessment_id)
        permissions.require_learner(await self._courses.access(assessment.course_id, user_id))
        decisions.require_open(assessment, now)

        attempts = await self._attempts.of_learner(assessment_id, user_id)
        current = decisions.open_attempt(attempts)
        if current is not None:
            current = await self._expire(assessment, current, now)
            if current is not None and current.status is AttemptStatus.IN_PROGRESS:
                return current  # starting again resumes it
            attempts = [current if current is not None and a.id == current.id else a for a in attempts]
        attempt = decisions.next_attempt(
            assessment, attempts, user_id=user_id, now=now, shuffle=_random.shuffle
        )
        started = await self._attempts.insert(attempt)
        if started is None:
            # A concurrent start created this number (its id is derived from it): answer that one.
            started = await self._attempts.get(str(attempt.id))
        if started is None:
            raise Conflict("Could not start the attempt; try again.")
        return started

    async def _own_attempt(self, actor: Actor, attempt_id: str) -> tuple[Assessment, Attempt]:
        permissions.require_signed_in(actor)
        attempt = permissions.require_own_attempt(actor, await self._attempts.get(attempt_id))
        assessment = (await self._assessments.get_many([attempt.assessment_id])).get(attempt.assessment_id)
        if assessment is None:
            raise NotFound("Attempt not found.")
        return assessment, attempt

    async def _change_attempt(
        self, attempt: Attempt, decide: Callable[[Attempt], Decision[Attempt] | None]
    ) -> Attempt:
        """Change an attempt in hand through the unit of work (read afresh only after a lost race)."""
        changed = await change(
            starting_with(attempt, lambda: self._attempts.get(str(attempt.id))),
            decide,
            self._attempts.write,
            conflict=ATTEMPT_BUSY,
        )
        if changed is None:
            raise NotFound("Attempt not found.")
        return changed

    async def save_answers(
        self, actor: Actor, attempt_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        assessment, attempt = await self._own_attempt(actor, attempt_id)
        parsed = decisions.parse_answers(assessment, answers)
        now = self._clock()
        written = await self._change_attempt(
            attempt, lambda a: decisions.save_answers(assessment, a, parsed, now=now, grace=self._grace)
        )
        return decisions.saved(written)

    async def submit(
        self, actor: Actor, attempt_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        assessment, attempt = await self._own_attempt(actor, attempt_id)
        parsed = decisions.parse_answers(assessment, answers)
        now = self._clock()
        return await self._change_attempt(
            attempt, lambda a: decisions.submit(assessment, a, parsed, now=now, grace=self._grace)
        )

    async def submit_for_assessment(
        self, actor: Actor, assessment_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        """Submit answers to an assessment, starting an attempt when none is open (the REST verb)."""
        assessment = await self._assessment(assessment_id)
        decisions.parse_answers(assessment, answers)  # refuse bad input before an attempt is started for it
        attempt = await self.start_attempt(actor, assessment_id)
        return await self.submit(actor, str(attempt.id), answers)

    async def _expire(self, assessment: Assessment, attempt: Attempt, now: datetime) -> Attempt | None:
        """The attempt closed and scored as it stood if it is open past its deadline plus grace; else as
        it is (None if it is gone)."""
        try:
            return await self._change_attempt(
                attempt, lambda a: decisions.expire(assessment, a, now=now, grace=self._grace)
            )
        except NotFound:
            return None

    async def close_expired_attempts(self, *, limit: int = SWEEP_BATCH) -> int:
        """Close and score, as they stood, open attempts past their deadline plus grace; return how many
        of those found are closed now.

        Without this an abandoned timed attempt stays open (no score, no event, no certificate) until its
        learner comes back. Each close is the same guarded write as a submit, so a racing submit or another
        replica's sweep either wins or finds the attempt closed: it is scored once.
        """
        now = self._clock()
        expired = await self._attempts.expired(now - self._grace, limit=limit)
        if not expired:
            return 0
        found = await self._assessments.get_many([attempt.assessment_id for attempt in expired])
        closed = 0
        for attempt in expired:
            assessment = found.get(attempt.assessment_id)
            if assessment is None:
                continue
            after = await self._expire(assessment, attempt, now)
            if after is not None and after.status is AttemptStatus.SUBMITTED:
                closed += 1
        return closed
