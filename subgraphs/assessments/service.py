"""The assessment engine, and the one door to the assessments domain's data. No GraphQL here.

Authoring, attempts with server-side deadlines, scoring, results under the reveal policy. Time comes from
an injected clock; enrollment and course ownership come from the courses service (a port, called with a
service token). Rules live in `permissions`; reads go by id (ADR 0014). Writes are single-document
operations carrying their events, guarded by the version read before them.
"""

import asyncio
import dataclasses
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from coursegraph.clock import Clock
from coursegraph.errors import (
    Conflict,
    CourseGraphError,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor, Role
from coursegraph.text import is_text
from subgraphs.assessments import permissions, scoring
from subgraphs.assessments.events import AssessmentEventType, assessment_event
from subgraphs.assessments.models import (
    Assessment,
    Attempt,
    AttemptStatus,
    Question,
    QuestionType,
    RevealPolicy,
    ScorePolicy,
    attempt_id,
)
from subgraphs.assessments.ports import CourseAccess, CoursesPort
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository

logger = logging.getLogger(__name__)
TITLE_MAX = 200
INSTRUCTIONS_MAX = 10_000
QUESTIONS_MAX = 200
ATTEMPTS_MAX = 100
TIME_LIMIT_MAX = 7 * 24 * 3600
UPDATE_ATTEMPTS = 20
SWEEP_BATCH = 100
_random = secrets.SystemRandom()


def result_attempt(assessment: Assessment, attempts: Sequence[Attempt]) -> Attempt | None:
    """The attempt that counts: the best score (earliest on ties) or the latest, per the policy."""
    submitted = [a for a in attempts if a.status is AttemptStatus.SUBMITTED]
    if not submitted:
        return None
    if assessment.score_policy is ScorePolicy.LATEST:
        return max(submitted, key=lambda a: a.number)
    return max(submitted, key=lambda a: (a.score or 0.0, -a.number))


# --- authoring ----------------------------------------------------------------------------------------


@dataclass
class AssessmentDraft:
    """Fields of an assessment as a client sets them; None means "leave as it is" on update."""

    title: str | None = None
    instructions: str | None = None
    module_id: str | None = None
    questions: list[Question] | None = None
    passing_score: float | None = None
    time_limit_seconds: int | None = None
    max_attempts: int | None = None
    score_policy: ScorePolicy | None = None
    shuffle_questions: bool | None = None
    shuffle_options: bool | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    required_for_completion: bool | None = None
    reveal_policy: RevealPolicy | None = None
    clear: set[str] = field(default_factory=set)  # optional fields to unset (e.g. "time_limit_seconds")


def _validate(values: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    title = values.get("title")
    if title is not None and not 1 <= len(title.strip()) <= TITLE_MAX:
        errors.append(FieldError("title", "INVALID", f"Title must be 1 to {TITLE_MAX} characters."))
    elif title is not None and not is_text(title):
        errors.append(FieldError("title", "INVALID", "Title must be valid Unicode text."))
    instructions = values.get("instructions") or ""
    if len(instructions) > INSTRUCTIONS_MAX:
        errors.append(FieldError("instructions", "TOO_LONG", f"At most {INSTRUCTIONS_MAX} characters."))
    elif not is_text(instructions):
        errors.append(FieldError("instructions", "INVALID", "Instructions must be valid Unicode text."))
    passing = values.get("passing_score")
    if passing is not None and not (math.isfinite(passing) and 0 <= passing <= 100):
        errors.append(FieldError("passingScore", "INVALID", "Passing score is a percentage, 0 to 100."))
    limit = values.get("time_limit_seconds")
    if limit is not None and not 1 <= limit <= TIME_LIMIT_MAX:
        errors.append(FieldError("timeLimitSeconds", "INVALID", "Time limit is 1 second to 7 days."))
    attempts = values.get("max_attempts")
    if attempts is not None and not 1 <= attempts <= ATTEMPTS_MAX:
        errors.append(FieldError("maxAttempts", "INVALID", f"Max attempts is 1 to {ATTEMPTS_MAX}."))
    start, end = values.get("available_from"), values.get("available_until")
    if start is not None and end is not None and end <= start:
        errors.append(FieldError("availableUntil", "INVALID", "The window must end after it starts."))
    questions: list[Question] = values.get("questions") or []
    if len(questions) > QUESTIONS_MAX:
        errors.append(FieldError("questions", "TOO_MANY", f"At most {QUESTIONS_MAX} questions."))
    seen: set[str] = set()
    for index, question in enumerate(questions):
        if question.id in seen:
            errors.append(FieldError(f"questions.{index}.id", "DUPLICATE", "Question ids must be unique."))
        seen.add(question.id)
        errors += scoring.validate_question(question, f"questions.{index}")
    return errors


def _lifecycle_event(event_type: AssessmentEventType, assessment: Assessment, actor: Actor) -> dict[str, Any]:
    return assessment_event(
        event_type,
        key=str(assessment.id),
        course_id=assessment.course_id,
        user_id=str(actor.user_id),
        assessment_id=str(assessment.id),
        title=assessment.title,
        required_for_completion=assessment.required_for_completion,
        passing_score=assessment.passing_score,
    )


# --- attempts -----------------------------------------------------------------------------------------


def _deadline_passed(attempt: Attempt, now: datetime, grace: timedelta) -> bool:
    return attempt.deadline is not None and now > attempt.deadline + grace


def _presentation_order(assessment: Assessment) -> tuple[list[str], dict[str, list[str]]]:
    """Question order and, per question, the order its choices are shown in, fixed for the attempt.

    Ordering items and matching choices are always shuffled, uniformly: their stored order is the answer
    key. A uniform shuffle may show the key's own order; refusing to would make "the reverse of what is
    shown" the key of every two-item question.
    """
    questions = [q.id for q in assessment.questions]
    if assessment.shuffle_questions:
        _random.shuffle(questions)
    options: dict[str, list[str]] = {}
    for question in assessment.questions:
        ids = _choice_ids(question)
        if assessment.shuffle_options or question.type in (QuestionType.ORDERING, QuestionType.MATCHING):
            _random.shuffle(ids)
        options[question.id] = ids
    return questions, options


def _choice_ids(question: Question) -> list[str]:
    """A question's choices in authored order: options, ordering items, or matching right-hand items."""
    if question.type is QuestionType.MATCHING:
        return [pair.match_id for pair in question.pairs]
    return [option.id for option in question.options]


def parse_answers(assessment: Assessment, answers: Sequence[tuple[str, scoring.RawAnswer]]) -> dict[str, Any]:
    """Validate every answer against its question's type; all or nothing."""
    questions = {q.id: q for q in assessment.questions}
    parsed: dict[str, Any] = {}
    errors: list[FieldError] = []
    for index, (question_id, raw) in enumerate(answers):
        field = f"answers.{index}"
        question = questions.get(question_id)
        if question is None:
            errors.append(FieldError(f"{field}.questionId", "UNKNOWN_QUESTION", "No such question here."))
            continue
        if question_id in parsed:
            errors.append(FieldError(f"{field}.questionId", "DUPLICATE", "One answer per question."))
            continue
        try:
            parsed[question_id] = scoring.parse_answer(question, _with_pair_ids(question, raw, field), field)
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    return parsed


def _with_pair_ids(question: Question, raw: scoring.RawAnswer, field: str) -> scoring.RawAnswer:
    """Matching answers name right-hand items by their own ids; scoring pairs left and right by pair id.

    Only right-hand ids are accepted on the right: a pair id there would let a learner pair each prompt
    with itself and score full marks without knowing anything.
    """
    if question.type is not QuestionType.MATCHING or raw.pairs is None:
        return raw
    pair_of = {pair.match_id: pair.id for pair in question.pairs}
    unknown = [right for _, right in raw.pairs if right not in pair_of]
    if unknown:
        raise ValidationFailed([FieldError(field, "UNKNOWN_ID", "Not a choice of this question.")])
    return dataclasses.replace(raw, pairs=[(left, pair_of[right]) for left, right in raw.pairs])


def _scored(
    assessment: Assessment, attempt: Attempt, new_answers: dict[str, Any], *, now: datetime, by_deadline: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What closing an attempt writes: its answers, score and result, and its two events."""
    answers = {**attempt.answers, **new_answers}
    results, score, max_score = scoring.score_attempt(assessment.questions, answers)
    percent = scoring.percent(score, max_score)
    passed = percent >= assessment.passing_score
    key, course_id, user_id = str(attempt.id), attempt.course_id, attempt.user_id
    common = {"assessment_id": str(assessment.id), "attempt_id": key, "attempt_number": attempt.number}
    events = [
        assessment_event(
            AssessmentEventType.ASSESSMENT_SUBMITTED,
            key=key,
            course_id=course_id,
            user_id=user_id,
            closed_by_deadline=by_deadline,
            **common,
        ),
        assessment_event(
            AssessmentEventType.ASSESSMENT_COMPLETED,
            key=key,
            course_id=course_id,
            user_id=user_id,
            score=score,
            max_score=max_score,
            percent=percent,
            passed=passed,
            assessment_title=assessment.title,
            **common,
        ),
    ]
    fields = {
        "answers": answers,
        "status": AttemptStatus.SUBMITTED.value,
        "submitted_at": now,
        "closed_by_deadline": by_deadline,
        "score": score,
        "max_score": max_score,
        "percent": percent,
        "passed": passed,
        "results": [r.model_dump() for r in results],
    }
    return fields, events


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
        found = await self._assessments.get_many(ids)
        return [found.get(i) for i in ids]

    async def assessments_of_courses(self, course_ids: Sequence[str]) -> list[list[Assessment]]:
        """Each course's assessments, oldest first."""
        found = await self._assessments.of_courses(course_ids)
        return [found.get(course_id, []) for course_id in course_ids]

    async def course_accesses(self, actor: Actor, course_ids: Sequence[str]) -> list[CourseAccess | None]:
        """The caller's view of each course (status, enrollment), asked of the courses service at once."""
        if actor.user_id is None:
            return [None] * len(course_ids)
        user_id = str(actor.user_id)
        return list(await asyncio.gather(*(self._courses.access(c, user_id) for c in course_ids)))

    def may_see(self, actor: Actor, assessment: Assessment, course: CourseAccess | None) -> bool:
        return permissions.can_see(actor, assessment, course)

    def may_read_questions(self, actor: Actor, assessment: Assessment, course: CourseAccess | None) -> bool:
        return permissions.can_read_questions(actor, assessment, course, now=self._clock())

    def may_see_key(self, actor: Actor, assessment: Assessment) -> bool:
        return permissions.can_manage(actor, assessment)

    def display_orders(self, actor: Actor, assessment: Assessment) -> dict[str, list[str]]:
        """Each question's choice order outside an attempt. Managers see the authored order (they see the
        key anyway); anyone else a fresh uniform shuffle per read, as in an attempt, so that no order
        shown (authored, or sorted by author-chosen ids) spells the key."""
        if permissions.can_manage(actor, assessment):
            return {q.id: _choice_ids(q) for q in assessment.questions}
        return _presentation_order(assessment)[1]

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
        """The attempts of each (assessment id, user id), by number."""
        return await self._attempts.of_learners(keys)

    async def attempts_of(
        self, actor: Actor, user_id: str, *, first: int, after: str | None
    ) -> Page[Attempt]:
        """A user's attempts, newest first: the user themself and admins see all of them, instructors
        those at their courses' assessments."""
        first = page_size(first)
        start = decode_cursor(after)
        authors = (
            actor.role is Role.INSTRUCTOR
            and actor.user_id is not None
            and str(actor.user_id) != user_id
            and await self._assessments.any_of_instructor(str(actor.user_id))
        )
        instructor = permissions.attempts_scope(actor, user_id, authors_assessments=authors)
        if start is not None and not ObjectId.is_valid(start.id):
            raise ValidationFailed(
                [FieldError("after", "INVALID", "`after` is not a cursor this API returned.")]
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

    def counted(self, assessment: Assessment, learner: Sequence[Attempt]) -> Attempt | None:
        return result_attempt(assessment, learner)

    # --- authoring ---------------------------------------------------------------------------------

    async def _tell_courses(self, assessment: Assessment) -> None:
        """Tell courses now whether the assessment is required, so completion rules hold at once.

        The ASSESSMENT_CREATED/UPDATED event carries the same fact; if this call fails, the event applies
        it later (both are idempotent), so the write that already happened stands.
        """
        try:
            await self._courses.record_requirement(
                assessment.course_id, str(assessment.id), required=assessment.required_for_completion
            )
        except CourseGraphError:
            logger.warning("courses not told of assessment %s now; the event will tell it", assessment.id)

    async def create_assessment(self, actor: Actor, course_id: str, draft: AssessmentDraft) -> Assessment:
        user_id = actor.require_role(Role.INSTRUCTOR, Role.ADMIN)
        access = await self._courses.access(course_id, str(user_id))
        if access is None:
            raise NotFound("Course not found.")
        if not actor.is_admin and access.instructor_id != str(user_id):
            raise Forbidden("Only the course's instructor or an admin adds assessments to it.")
        values = {k: v for k, v in vars(draft).items() if v is not None and k != "clear"}
        values.setdefault("title", "")
        errors = _validate(values)
        if errors:
            raise ValidationFailed(errors)
        now = self._clock()
        assessment = Assessment(
            id=ObjectId(),
            course_id=course_id,
            instructor_id=access.instructor_id,
            created_at=now,
            updated_at=now,
            **{**values, "title": values["title"].strip()},
        )
        assessment.outbox_pending = True
        assessment.outbox = [_lifecycle_event(AssessmentEventType.ASSESSMENT_CREATED, assessment, actor)]
        await self._assessments.insert(assessment)
        await self._tell_courses(assessment)
        return assessment

    async def update_assessment(self, actor: Actor, assessment_id: str, draft: AssessmentDraft) -> Assessment:
        actor.require_user()
        for _ in range(UPDATE_ATTEMPTS):
            assessment = (await self._assessments.get_many([assessment_id])).get(assessment_id)
            if assessment is None:
                raise NotFound("Assessment not found.")
            if not permissions.can_manage(actor, assessment):
                raise Forbidden("Only the course's instructor or an admin edits its assessments.")
            changes = {k: v for k, v in vars(draft).items() if v is not None and k != "clear"}
            # The model's own values (questions stay Question objects), then the changes.
            merged = {**{name: getattr(assessment, name) for name in Assessment.model_fields}, **changes}
            for name in draft.clear:
                merged[name] = None
            errors = _validate(merged)
            if errors:
                raise ValidationFailed(errors)
            updated = assessment.model_copy(update={**changes, **dict.fromkeys(draft.clear)})
            stored = {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in changes.items()}
            if "questions" in changes:
                stored["questions"] = [q.model_dump() for q in changes["questions"]]
            fields = {**stored, **dict.fromkeys(draft.clear), "updated_at": self._clock()}
            event = _lifecycle_event(AssessmentEventType.ASSESSMENT_UPDATED, updated, actor)
            if await self._assessments.update(assessment, fields, [event]):
                refreshed = (await self._assessments.get_many([assessment_id]))[assessment_id]
                if refreshed.required_for_completion != assessment.required_for_completion:
                    await self._tell_courses(refreshed)
                return refreshed
        raise Conflict("The assessment is being changed by someone else; try again.")

    # --- attempts ----------------------------------------------------------------------------------

    async def start_attempt(self, actor: Actor, assessment_id: str) -> Attempt:
        user_id = str(actor.require_user())
        now = self._clock()
        assessment = (await self._assessments.get_many([assessment_id])).get(assessment_id)
        if assessment is None:
            raise NotFound("Assessment not found.")
        access = await self._courses.access(assessment.course_id, user_id)
        if access is None or access.status == "DRAFT":
            raise NotFound("Assessment not found.")
        if not access.enrolled:
            raise Forbidden("Enroll in the course before attempting its assessments.")
        if assessment.available_from is not None and now < assessment.available_from:
            raise Conflict("This assessment is not open yet.", details={"reason": "NOT_YET_AVAILABLE"})
        if assessment.available_until is not None and now > assessment.available_until:
            raise Conflict("This assessment has closed.", details={"reason": "CLOSED"})
        if not assessment.questions:
            raise Conflict("This assessment has no questions yet.", details={"reason": "NO_QUESTIONS"})

        for _ in range(UPDATE_ATTEMPTS):
            existing = await self._attempts.of_learner(assessment_id, user_id)
            open_attempt = next((a for a in existing if a.status is AttemptStatus.IN_PROGRESS), None)
            if open_attempt is not None:
                if not _deadline_passed(open_attempt, now, self._grace):
                    return open_attempt  # one open attempt at a time: starting again resumes it
                await self._close(assessment, open_attempt, {}, now=now, by_deadline=True)
                continue
            if assessment.max_attempts is not None and len(existing) >= assessment.max_attempts:
                raise Conflict(
                    "No attempts left for this assessment.", details={"reason": "ATTEMPTS_EXHAUSTED"}
                )
            question_order, option_orders = _presentation_order(assessment)
            limit = assessment.time_limit_seconds
            number = len(existing) + 1
            attempt = Attempt(
                id=attempt_id(assessment_id, user_id, number),
                assessment_id=assessment_id,
                course_id=assessment.course_id,
                instructor_id=assessment.instructor_id,
                user_id=user_id,
                number=number,
                started_at=now,
                deadline=now + timedelta(seconds=limit) if limit else None,
                question_order=question_order,
                option_orders=option_orders,
            )
            try:
                return await self._attempts.insert(attempt)
            except DuplicateKeyError:
                continue  # a concurrent start created this number: resume that one
        raise Conflict("Could not start the attempt; try again.")

    async def _own_attempt(self, actor: Actor, attempt_id: str) -> tuple[Assessment, Attempt]:
        user_id = str(actor.require_user())
        attempt = await self._attempts.get(attempt_id)
        if attempt is None or attempt.user_id != user_id:
            raise NotFound("Attempt not found.")
        assessment = (await self._assessments.get_many([attempt.assessment_id])).get(attempt.assessment_id)
        if assessment is None:
            raise NotFound("Attempt not found.")
        return assessment, attempt

    async def save_answers(
        self, actor: Actor, attempt_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        assessment, attempt = await self._own_attempt(actor, attempt_id)
        parsed = parse_answers(assessment, answers)
        now = self._clock()
        for _ in range(UPDATE_ATTEMPTS):
            if attempt.status is AttemptStatus.SUBMITTED:
                raise Conflict("This attempt has been submitted.", details={"reason": "ALREADY_SUBMITTED"})
            if _deadline_passed(attempt, now, self._grace):
                await self._close(assessment, attempt, {}, now=now, by_deadline=True)
                raise Conflict(
                    "Time is up: the attempt was submitted as it stood.", details={"reason": "TIME_UP"}
                )
            fields = {f"answers.{qid}": answer for qid, answer in parsed.items()}
            if not fields or await self._attempts.update_open(attempt, fields):
                return await self._reload(attempt_id)
            attempt = await self._reload(attempt_id)
        raise Conflict("The attempt is being changed concurrently; try again.")

    async def submit(
        self, actor: Actor, attempt_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        assessment, attempt = await self._own_attempt(actor, attempt_id)
        parsed = parse_answers(assessment, answers)
        now = self._clock()
        for _ in range(UPDATE_ATTEMPTS):
            if attempt.status is AttemptStatus.SUBMITTED:
                return attempt  # a repeated or concurrent submit: scored once, answered with that score
            late = _deadline_passed(attempt, now, self._grace)
            # Past the deadline (plus grace) the attempt is scored as it stood: late answers are ignored.
            if await self._close(assessment, attempt, {} if late else parsed, now=now, by_deadline=late):
                return await self._reload(attempt_id)
            attempt = await self._reload(attempt_id)
        raise Conflict("The attempt is being changed concurrently; try again.")

    async def submit_for_assessment(
        self, actor: Actor, assessment_id: str, answers: Sequence[tuple[str, scoring.RawAnswer]]
    ) -> Attempt:
        """Submit answers to an assessment, starting an attempt when none is open (the REST verb)."""
        assessment = (await self._assessments.get_many([assessment_id])).get(assessment_id)
        if assessment is None:
            raise NotFound("Assessment not found.")
        parse_answers(assessment, answers)  # refuse bad input before an attempt is started for it
        attempt = await self.start_attempt(actor, assessment_id)
        return await self.submit(actor, str(attempt.id), answers)

    async def close_expired_attempts(self, *, limit: int = SWEEP_BATCH) -> int:
        """Close and score, as they stood, open attempts past their deadline plus grace; return how many.

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
            if assessment is not None and await self._close(
                assessment, attempt, {}, now=now, by_deadline=True
            ):
                closed += 1
        return closed

    async def _close(
        self,
        assessment: Assessment,
        attempt: Attempt,
        new_answers: dict[str, Any],
        *,
        now: datetime,
        by_deadline: bool,
    ) -> bool:
        fields, events = _scored(assessment, attempt, new_answers, now=now, by_deadline=by_deadline)
        return await self._attempts.update_open(attempt, fields, events)

    async def _reload(self, attempt_id: str) -> Attempt:
        attempt = await self._attempts.get(attempt_id)
        if attempt is None:
            raise NotFound("Attempt not found.")
        return attempt
