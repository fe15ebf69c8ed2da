"""The assessment engine on the real document store, with an injected clock.

Every call passes `now` (and the grace period) explicitly, so deadlines, windows and races are exact. The
courses service is a port (`CoursesPort`: who teaches a course, who is enrolled); a small in-test
implementation stands in for it. No outbox relay runs here, so the events a write recorded stay in the
attempt document's `outbox` for the tests to count.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from coursegraph.errors import Conflict, Forbidden, NotFound, ValidationFailed
from coursegraph.events import Event, Topic
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.events.publisher import InProcessEventBus
from coursegraph.metrics import STORE_CALLS
from coursegraph.mongo import init_models, is_ferretdb, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.assessments import decisions, permissions, service
from subgraphs.assessments.decisions import AssessmentDraft
from subgraphs.assessments.models import (
    Assessment,
    Attempt,
    AttemptStatus,
    CourseAssessments,
    Option,
    Question,
    QuestionType,
    RevealPolicy,
    ScorePolicy,
)
from subgraphs.assessments.ports import CourseAccess
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository
from subgraphs.assessments.scoring import RawAnswer
from subgraphs.assessments.service import AssessmentService
from tests.support.questions import MATCHING, ORDERING, SINGLE, TRUE_FALSE

pytestmark = pytest.mark.integration

Document = dict[str, Any]
Answers = Sequence[tuple[str, RawAnswer]]

T0 = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)  # whole seconds: the store keeps milliseconds
GRACE = timedelta(seconds=10)
LIMIT = 60  # seconds: the deadline is T0 + 60 s, answers count until T0 + 70 s


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- the courses service, as a port -----------------------------------------------------------------


@dataclass
class FakeCourses:
    """What courses answers about one course: its instructor, its status and who is enrolled."""

    course_id: str
    instructor_id: str
    status: str = "PUBLISHED"
    enrolled: set[str] = field(default_factory=set)
    requirements: list[tuple[str, str, bool]] = field(default_factory=list)
    asked: int = 0  # how many times the service asked

    async def access(self, course_id: str, user_id: str | None) -> CourseAccess | None:
        self.asked += 1
        if course_id != self.course_id:
            return None
        return CourseAccess(
            course_id=course_id,
            instructor_id=self.instructor_id,
            status=self.status,
            enrolled=user_id is not None and user_id in self.enrolled,
        )

    async def record_requirement(
        self, course_id: str, assessment_id: str, *, required: bool, title: str | None = None
    ) -> None:
        self.requirements.append((course_id, assessment_id, required))


# --- questions --------------------------------------------------------------------------------------

MULTIPLE = Question(
    id="q-multi",
    type=QuestionType.MULTIPLE_CHOICE,
    prompt="Primes?",
    options=[
        Option(id="two", text="2", correct=True),
        Option(id="three", text="3", correct=True),
        Option(id="nine", text="9"),
    ],
)
SHORT = Question(
    id="q-short", type=QuestionType.SHORT_TEXT, prompt="Capital of France?", accepted_answers=["Paris"]
)
NUMERIC = Question(id="q-num", type=QuestionType.NUMERIC, prompt="Pi?", numeric_answer=3.14, tolerance=0.01)
EVERY_TYPE = [SINGLE, TRUE_FALSE, MULTIPLE, SHORT, NUMERIC, ORDERING, MATCHING]

SINGLE_RIGHT = (SINGLE.id, RawAnswer(option_ids=["four"]))
SINGLE_WRONG = (SINGLE.id, RawAnswer(option_ids=["three"]))
TF_RIGHT = (TRUE_FALSE.id, RawAnswer(value=True))
TF_WRONG = (TRUE_FALSE.id, RawAnswer(value=False))


# --- the engine on a throwaway database -------------------------------------------------------------


@dataclass
class Engine:
    db: AsyncDatabase[Document]
    courses: FakeCourses
    instructor: Actor
    learner: Actor
    now: datetime = T0  # the engine's clock: each call below sets it first

    def __post_init__(self) -> None:
        # A relay that never runs: the events a write recorded stay in its document for the tests.
        idle_relay = DocumentOutboxRelay([], InProcessEventBus())
        self.assessments = AssessmentRepository(idle_relay)
        self.attempts = AttemptRepository(idle_relay)
        self.service = AssessmentService(
            self.assessments, self.attempts, self.courses, clock=lambda: self.now, grace=GRACE
        )

    async def create(self, questions: list[Question] | None = None, **settings: Any) -> Assessment:
        draft = AssessmentDraft(
            title=f"Quiz {uuid.uuid4().hex[:8]}", questions=questions or [SINGLE, TRUE_FALSE], **settings
        )
        self.now = T0
        return await self.service.create_assessment(self.instructor, self.courses.course_id, draft)

    async def update(self, assessment: Assessment, draft: AssessmentDraft, now: datetime) -> Assessment:
        self.now = now
        return await self.service.update_assessment(self.instructor, str(assessment.id), draft)

    def new_learner(self) -> Actor:
        actor = Actor(user_id=uuid.uuid4(), role=Role.LEARNER)
        self.courses.enrolled.add(str(actor.user_id))
        return actor

    async def start(self, assessment: Assessment, now: datetime, actor: Actor | None = None) -> Attempt:
        self.now = now
        return await self.service.start_attempt(actor or self.learner, str(assessment.id))

    async def save(
        self, attempt: Attempt, answers: Answers, now: datetime, actor: Actor | None = None
    ) -> Attempt:
        self.now = now
        return await self.service.save_answers(actor or self.learner, str(attempt.id), answers)

    async def submit(
        self, attempt: Attempt, answers: Answers, now: datetime, actor: Actor | None = None
    ) -> Attempt:
        self.now = now
        return await self.service.submit(actor or self.learner, str(attempt.id), answers)

    async def submit_for(
        self, assessment: Assessment, answers: Answers, now: datetime, actor: Actor | None = None
    ) -> Attempt:
        self.now = now
        return await self.service.submit_for_assessment(actor or self.learner, str(assessment.id), answers)

    async def raw_attempt(self, attempt_id: Any) -> Document:
        """The attempt document as stored, events included."""
        found = await self.db[Attempt.Settings.name].find_one({"_id": ObjectId(str(attempt_id))})
        assert found is not None
        return found

    async def attempt_count(self, assessment: Assessment, actor: Actor | None = None) -> int:
        user_id = str((actor or self.learner).user_id)
        return await self.db[Attempt.Settings.name].count_documents(
            {"assessment_id": str(assessment.id), "user_id": user_id}
        )

    async def of_learner(self, assessment: Assessment, actor: Actor | None = None) -> list[Attempt]:
        return await self.attempts.of_learner(str(assessment.id), str((actor or self.learner).user_id))


def event_types(document: Document) -> list[str]:
    return [json.loads(entry["payload"])["event_type"] for entry in document.get("outbox", [])]


def event_metadata(document: Document, event_type: str) -> dict[str, Any]:
    (event,) = [
        json.loads(e["payload"])
        for e in document["outbox"]
        if json.loads(e["payload"])["event_type"] == event_type
    ]
    metadata: dict[str, Any] = event["metadata"]
    return metadata


@pytest.fixture(scope="module")
async def database(mongodb_url: str) -> AsyncIterator[tuple[AsyncMongoClient[Document], str]]:
    client = mongo_client(mongodb_url, service="assessment-engine-tests")
    name = f"assessment_engine_{uuid.uuid4().hex[:12]}"
    yield client, name
    await client.drop_database(name)
    await client.close()


async def new_engine(client: AsyncMongoClient[Document], name: str) -> Engine:
    # Bound on every test: Beanie's binding is global, and other tests may bind the models elsewhere.
    await init_models(client, name, [Assessment, Attempt, CourseAssessments])
    instructor = Actor(user_id=uuid.uuid4(), role=Role.INSTRUCTOR)
    learner = Actor(user_id=uuid.uuid4(), role=Role.LEARNER)
    courses = FakeCourses(
        course_id=str(ObjectId()), instructor_id=str(instructor.user_id), enrolled={str(learner.user_id)}
    )
    return Engine(db=client[name], courses=courses, instructor=instructor, learner=learner)


@pytest.fixture
async def engine(database: tuple[AsyncMongoClient[Document], str]) -> Engine:
    return await new_engine(*database)


@pytest.fixture
async def lone_engine(database: tuple[AsyncMongoClient[Document], str]) -> AsyncIterator[Engine]:
    """An engine on a database of its own: a sweep sees every attempt in its database."""
    client, name = database
    own = f"{name}_{uuid.uuid4().hex[:6]}"
    yield await new_engine(client, own)
    await client.drop_database(own)


# --- the time limit ---------------------------------------------------------------------------------


async def test_the_deadline_is_set_by_the_server_when_the_attempt_starts(engine: Engine) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT)
    attempt = await engine.start(assessment, at(0))
    assert attempt.started_at == T0 and attempt.deadline == at(LIMIT)
    assert attempt.status is AttemptStatus.IN_PROGRESS and attempt.number == 1

    untimed = await engine.start(await engine.create(), at(0))
    assert untimed.deadline is None


async def test_saving_after_deadline_and_grace_is_time_up_and_submits_what_was_saved(engine: Engine) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT)
    attempt = await engine.start(assessment, at(0))
    saved = await engine.save(attempt, [SINGLE_RIGHT], at(LIMIT - 1))
    assert saved.answers == {SINGLE.id: {"option_ids": ["four"]}}
    # Within the grace period a save still counts (the boundary itself included).
    saved = await engine.save(attempt, [TF_WRONG], at(LIMIT) + GRACE)
    assert saved.answers[TRUE_FALSE.id] == {"value": False}

    with pytest.raises(Conflict) as refused:
        await engine.save(attempt, [TF_RIGHT], at(LIMIT + 1) + GRACE)
    assert refused.value.details == {"reason": "TIME_UP"}

    stored = await engine.raw_attempt(attempt.id)
    assert stored["status"] == AttemptStatus.SUBMITTED.value
    assert stored["closed_by_deadline"] is True
    assert stored["submitted_at"] == at(LIMIT + 1) + GRACE
    # Scored as it stood: the late answer (true) was not recorded; the saved one (false) was.
    assert stored["answers"] == {SINGLE.id: {"option_ids": ["four"]}, TRUE_FALSE.id: {"value": False}}
    assert (stored["score"], stored["max_score"], stored["passed"]) == (1.0, 2.0, False)
    assert event_types(stored) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]
    assert event_metadata(stored, "ASSESSMENT_SUBMITTED")["closed_by_deadline"] is True

    with pytest.raises(Conflict) as again:
        await engine.save(attempt, [TF_RIGHT], at(LIMIT + 100))
    assert again.value.details == {"reason": "ALREADY_SUBMITTED"}
    assert event_types(await engine.raw_attempt(attempt.id)) == event_types(stored), "closed once"


@pytest.mark.parametrize(
    ("seconds_after_deadline", "counts"),
    [
        (0, True),
        (5, True),
        (GRACE.total_seconds(), True),
        (GRACE.total_seconds() + 0.001, False),
        (3600, False),
    ],
)
async def test_submitting_late_ignores_the_new_answers_unless_within_grace(
    engine: Engine, seconds_after_deadline: float, counts: bool
) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT)
    attempt = await engine.start(assessment, at(0))
    await engine.save(attempt, [SINGLE_RIGHT], at(30))
    now = at(LIMIT + seconds_after_deadline)

    submitted = await engine.submit(attempt, [TF_RIGHT], now)

    assert submitted.status is AttemptStatus.SUBMITTED and submitted.submitted_at == now
    assert submitted.closed_by_deadline is not counts
    if counts:
        assert set(submitted.answers) == {SINGLE.id, TRUE_FALSE.id}
        assert (submitted.score, submitted.passed) == (2.0, True)
    else:
        assert set(submitted.answers) == {SINGLE.id}, "late answers are not recorded"
        assert (submitted.score, submitted.passed) == (1.0, False)
    stored = await engine.raw_attempt(attempt.id)
    assert event_types(stored) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]
    assert event_metadata(stored, "ASSESSMENT_COMPLETED")["score"] == submitted.score


async def test_an_untimed_attempt_takes_answers_at_any_time(engine: Engine) -> None:
    assessment = await engine.create()
    attempt = await engine.start(assessment, at(0))
    submitted = await engine.submit(attempt, [SINGLE_RIGHT, TF_RIGHT], at(30 * 24 * 3600))
    assert submitted.closed_by_deadline is False and submitted.score == 2.0


# --- starting, resuming, closing --------------------------------------------------------------------


async def test_starting_again_resumes_the_open_attempt(engine: Engine) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT, shuffle_questions=True, shuffle_options=True)
    first = await engine.start(assessment, at(0))
    await engine.save(first, [SINGLE_RIGHT], at(5))

    again = await engine.start(assessment, at(LIMIT - 1))

    assert again.id == first.id and again.number == 1
    assert again.deadline == first.deadline == at(LIMIT), "resuming does not extend the time"
    assert again.question_order == first.question_order and again.option_orders == first.option_orders
    assert again.answers == {SINGLE.id: {"option_ids": ["four"]}}
    assert await engine.attempt_count(assessment) == 1


async def test_an_expired_open_attempt_is_closed_when_a_new_one_starts(engine: Engine) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT)
    first = await engine.start(assessment, at(0))
    await engine.save(first, [SINGLE_RIGHT], at(10))

    second = await engine.start(assessment, at(200))

    assert second.id != first.id and second.number == 2
    assert second.status is AttemptStatus.IN_PROGRESS and second.deadline == at(200 + LIMIT)
    closed = await engine.raw_attempt(first.id)
    assert closed["status"] == AttemptStatus.SUBMITTED.value and closed["closed_by_deadline"] is True
    assert closed["submitted_at"] == at(200)
    assert closed["answers"] == {SINGLE.id: {"option_ids": ["four"]}} and closed["score"] == 1.0
    assert event_types(closed) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]
    assert await engine.attempt_count(assessment) == 2


async def test_an_expired_last_attempt_is_closed_and_no_new_one_starts(engine: Engine) -> None:
    assessment = await engine.create(time_limit_seconds=LIMIT, max_attempts=1)
    first = await engine.start(assessment, at(0))

    with pytest.raises(Conflict) as refused:
        await engine.start(assessment, at(LIMIT * 10))

    assert refused.value.details == {"reason": "ATTEMPTS_EXHAUSTED"}
    closed = await engine.raw_attempt(first.id)
    assert closed["status"] == AttemptStatus.SUBMITTED.value and closed["closed_by_deadline"] is True
    assert closed["score"] == 0.0 and closed["answers"] == {}
    assert await engine.attempt_count(assessment) == 1


# --- the sweeper: abandoned attempts are closed without the learner ---------------------------------


async def sweep(engine: Engine, now: datetime, limit: int = service.SWEEP_BATCH) -> int:
    engine.now = now
    return await engine.service.close_expired_attempts(limit=limit)


async def test_the_sweeper_closes_only_attempts_past_deadline_and_grace(lone_engine: Engine) -> None:
    engine = lone_engine
    timed = await engine.create(time_limit_seconds=LIMIT)
    abandoned = await engine.start(timed, at(0))
    await engine.save(abandoned, [SINGLE_RIGHT], at(10))
    later = await engine.start(timed, at(30), actor=engine.new_learner())  # deadline at(30 + LIMIT)
    untimed = await engine.start(await engine.create(), at(0))

    assert await sweep(engine, at(LIMIT) + GRACE) == 0, "the grace period's last instant still counts"
    assert await sweep(engine, at(LIMIT + 1) + GRACE) == 1

    closed = await engine.raw_attempt(abandoned.id)
    assert closed["status"] == AttemptStatus.SUBMITTED.value and closed["closed_by_deadline"] is True
    assert closed["submitted_at"] == at(LIMIT + 1) + GRACE
    assert closed["answers"] == {SINGLE.id: {"option_ids": ["four"]}}, "scored as it stood"
    assert (closed["score"], closed["max_score"], closed["passed"]) == (1.0, 2.0, False)
    assert event_types(closed) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]
    assert event_metadata(closed, "ASSESSMENT_SUBMITTED")["closed_by_deadline"] is True
    for still_open in (later, untimed):
        stored = await engine.raw_attempt(still_open.id)
        assert stored["status"] == AttemptStatus.IN_PROGRESS.value and event_types(stored) == []

    assert await sweep(engine, at(LIMIT + 2) + GRACE) == 0
    assert event_types(await engine.raw_attempt(abandoned.id)) == event_types(closed), "closed once"
    # A year on, the untimed attempt is still open; the later timed one has expired too.
    assert await sweep(engine, at(365 * 24 * 3600)) == 1
    assert (await engine.raw_attempt(untimed.id))["status"] == AttemptStatus.IN_PROGRESS.value


async def test_the_sweeper_works_through_a_backlog_in_batches(lone_engine: Engine) -> None:
    engine = lone_engine
    timed = await engine.create(time_limit_seconds=LIMIT)
    started = [await engine.start(timed, at(i), actor=engine.new_learner()) for i in range(5)]
    late = at(1000)

    assert [await sweep(engine, late, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    for attempt in started:
        stored = await engine.raw_attempt(attempt.id)
        assert stored["status"] == AttemptStatus.SUBMITTED.value
        assert event_types(stored) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]


@pytest.mark.parametrize("round_", range(3))
async def test_a_sweep_racing_a_late_submit_scores_the_attempt_once(lone_engine: Engine, round_: int) -> None:
    engine = lone_engine
    timed = await engine.create(time_limit_seconds=LIMIT)
    attempt = await engine.start(timed, at(0))
    await engine.save(attempt, [SINGLE_RIGHT], at(5))
    late = at(LIMIT + 100)

    swept, submitted = await asyncio.gather(sweep(engine, late), engine.submit(attempt, [TF_RIGHT], late))

    stored = await engine.raw_attempt(attempt.id)
    assert event_types(stored) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"], "scored once"
    assert swept in (0, 1) and submitted.status is AttemptStatus.SUBMITTED
    assert stored["answers"] == {SINGLE.id: {"option_ids": ["four"]}}, "the late answer is not recorded"
    assert (stored["score"], stored["closed_by_deadline"]) == (1.0, True)


# --- the attempts limit -----------------------------------------------------------------------------


async def test_the_attempts_limit_is_enforced(engine: Engine) -> None:
    assessment = await engine.create(max_attempts=2)
    for number in (1, 2):
        attempt = await engine.start(assessment, at(number * 100))
        assert attempt.number == number
        await engine.submit(attempt, [SINGLE_WRONG], at(number * 100 + 10))

    with pytest.raises(Conflict) as refused:
        await engine.start(assessment, at(1000))
    assert refused.value.details == {"reason": "ATTEMPTS_EXHAUSTED"}
    with pytest.raises(Conflict) as refused_rest_verb:
        await engine.submit_for(assessment, [SINGLE_RIGHT], at(1000))
    assert refused_rest_verb.value.details == {"reason": "ATTEMPTS_EXHAUSTED"}
    assert await engine.attempt_count(assessment) == 2

    # The limit is per learner: someone else still has both attempts.
    other = engine.new_learner()
    assert (await engine.start(assessment, at(1000), other)).number == 1


# --- the availability window ------------------------------------------------------------------------


async def test_attempts_start_only_inside_the_availability_window(engine: Engine) -> None:
    opens, closes = at(3600), at(7200)
    assessment = await engine.create(available_from=opens, available_until=closes)

    with pytest.raises(Conflict) as early:
        await engine.start(assessment, opens - timedelta(seconds=1))
    assert early.value.details == {"reason": "NOT_YET_AVAILABLE"}
    with pytest.raises(Conflict) as late:
        await engine.start(assessment, closes + timedelta(seconds=1))
    assert late.value.details == {"reason": "CLOSED"}
    with pytest.raises(Conflict) as late_rest_verb:
        await engine.submit_for(assessment, [SINGLE_RIGHT], closes + timedelta(days=1))
    assert late_rest_verb.value.details == {"reason": "CLOSED"}
    assert await engine.attempt_count(assessment) == 0

    # Both ends of the window are inside it.
    assert (await engine.start(assessment, opens)).number == 1
    other = engine.new_learner()
    assert (await engine.start(assessment, closes, other)).number == 1


async def test_only_enrolled_learners_attempt_and_only_in_a_visible_course(engine: Engine) -> None:
    assessment = await engine.create()
    stranger = Actor(user_id=uuid.uuid4(), role=Role.LEARNER)
    with pytest.raises(Forbidden):
        await engine.start(assessment, at(0), stranger)
    with pytest.raises(Forbidden):
        await engine.start(assessment, at(0), engine.instructor)  # teaching is not being enrolled
    assert await engine.attempt_count(assessment, stranger) == 0

    engine.courses.status = "DRAFT"
    with pytest.raises(NotFound):
        await engine.start(assessment, at(0))
    assert await engine.attempt_count(assessment) == 0


# --- a concurrent double submit ---------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
async def test_a_concurrent_double_submit_is_scored_once(engine: Engine, round_: int) -> None:
    assessment = await engine.create()
    attempt = await engine.start(assessment, at(0))
    # Different answers in the two calls: whichever wins, both must answer with the one score recorded.
    # (On FerretDB both conditional updates used to apply: ADR 0010.)
    answers = ([SINGLE_RIGHT, TF_RIGHT], [SINGLE_WRONG, TF_WRONG])
    if round_ % 2:
        answers = answers[::-1]

    first, second = await asyncio.gather(
        engine.submit(attempt, answers[0], at(10)), engine.submit(attempt, answers[1], at(10))
    )

    assert first.id == second.id == attempt.id
    assert first.score == second.score and first.passed == second.passed
    assert first.answers == second.answers
    stored = await engine.raw_attempt(attempt.id)
    assert sorted(event_types(stored)) == ["ASSESSMENT_COMPLETED", "ASSESSMENT_SUBMITTED"]
    assert event_metadata(stored, "ASSESSMENT_COMPLETED")["score"] == first.score
    assert stored["version"] == 1, "exactly one write changed the attempt"
    assert stored["score"] == first.score and stored["answers"] == first.answers


async def test_a_concurrent_double_submit_without_an_open_attempt_starts_and_scores_one(
    engine: Engine,
) -> None:
    assessment = await engine.create()

    first, second = await asyncio.gather(
        engine.submit_for(assessment, [SINGLE_RIGHT, TF_RIGHT], at(10)),
        engine.submit_for(assessment, [SINGLE_WRONG, TF_WRONG], at(10)),
    )

    assert first.id == second.id and first.score == second.score
    assert await engine.attempt_count(assessment) == 1
    stored = await engine.raw_attempt(first.id)
    assert sorted(event_types(stored)) == ["ASSESSMENT_COMPLETED", "ASSESSMENT_SUBMITTED"]


async def test_submitting_a_submitted_attempt_again_changes_nothing(engine: Engine) -> None:
    assessment = await engine.create()
    attempt = await engine.start(assessment, at(0))
    submitted = await engine.submit(attempt, [SINGLE_RIGHT], at(10))
    before = await engine.raw_attempt(attempt.id)

    again = await engine.submit(attempt, [SINGLE_WRONG, TF_RIGHT], at(20))

    assert again.score == submitted.score == 1.0 and again.submitted_at == at(10)
    assert await engine.raw_attempt(attempt.id) == before


# --- bad answers ------------------------------------------------------------------------------------

BAD_ANSWERS: dict[str, tuple[list[tuple[str, RawAnswer]], str]] = {
    "wrong type field": ([(SINGLE.id, RawAnswer(value=True))], "WRONG_ANSWER_TYPE"),
    "two type fields": ([(SINGLE.id, RawAnswer(option_ids=["four"], value=True))], "WRONG_ANSWER_TYPE"),
    "text for a number": ([(NUMERIC.id, RawAnswer(text="3.14"))], "WRONG_ANSWER_TYPE"),
    "unknown option id": ([(SINGLE.id, RawAnswer(option_ids=["five"]))], "UNKNOWN_ID"),
    "duplicate option ids": ([(MULTIPLE.id, RawAnswer(option_ids=["two", "two"]))], "DUPLICATE_ID"),
    "empty selection": ([(MULTIPLE.id, RawAnswer(option_ids=[]))], "EMPTY_ANSWER"),
    "two options for single choice": (
        [(SINGLE.id, RawAnswer(option_ids=["three", "four"]))],
        "TOO_MANY_OPTIONS",
    ),
    "unknown question id": ([("q-nope", RawAnswer(value=True))], "UNKNOWN_QUESTION"),
    "duplicate question": ([TF_RIGHT, TF_WRONG], "DUPLICATE"),
    "ordering not a permutation": (
        [(ORDERING.id, RawAnswer(ordered_ids=["one", "two"]))],
        "NOT_A_PERMUTATION",
    ),
    "ordering with an unknown item": (
        [(ORDERING.id, RawAnswer(ordered_ids=["one", "two", "four"]))],
        "UNKNOWN_ID",
    ),
    # Pair ids on the right would let a learner pair each prompt with itself: only right-hand ids count.
    "matching by pair ids": ([(MATCHING.id, RawAnswer(pairs=[("fr", "fr"), ("de", "de")]))], "UNKNOWN_ID"),
    "matching a right id twice": (
        [(MATCHING.id, RawAnswer(pairs=[("fr", "right-paris"), ("de", "right-paris")]))],
        "DUPLICATE_ID",
    ),
    "not a finite number": ([(NUMERIC.id, RawAnswer(number=float("nan")))], "NOT_FINITE"),
    "oversized text": ([(SHORT.id, RawAnswer(text="x" * 1_001))], "TOO_LONG"),
    "blank text": ([(SHORT.id, RawAnswer(text="   "))], "EMPTY_ANSWER"),
    "a valid answer, then a bad one": (
        [SINGLE_RIGHT, (TRUE_FALSE.id, RawAnswer(text="yes"))],
        "WRONG_ANSWER_TYPE",
    ),
}


@pytest.mark.parametrize("case", BAD_ANSWERS, ids=list(BAD_ANSWERS))
async def test_bad_answers_are_refused_and_nothing_is_recorded(engine: Engine, case: str) -> None:
    answers, code = BAD_ANSWERS[case]
    assessment = await engine.create(questions=EVERY_TYPE)
    attempt = await engine.start(assessment, at(0))
    await engine.save(attempt, [(SHORT.id, RawAnswer(text="Paris"))], at(1))
    before = await engine.raw_attempt(attempt.id)

    with pytest.raises(ValidationFailed) as saving:
        await engine.save(attempt, answers, at(2))
    with pytest.raises(ValidationFailed) as submitting:
        await engine.submit(attempt, answers, at(3))

    for refused in (saving.value, submitting.value):
        assert code in {error.code for error in refused.errors}, refused.errors
        assert all(error.field.startswith("answers.") for error in refused.errors)
    assert await engine.raw_attempt(attempt.id) == before, "a refused answer changed the attempt"

    # The REST verb refuses before it starts anything.
    newcomer = engine.new_learner()
    with pytest.raises(ValidationFailed):
        await engine.submit_for(assessment, answers, at(4), newcomer)
    assert await engine.attempt_count(assessment, newcomer) == 0


async def test_someone_elses_attempt_is_not_found(engine: Engine) -> None:
    assessment = await engine.create()
    attempt = await engine.start(assessment, at(0))
    before = await engine.raw_attempt(attempt.id)
    other = engine.new_learner()
    with pytest.raises(NotFound):
        await engine.save(attempt, [SINGLE_RIGHT], at(1), other)
    with pytest.raises(NotFound):
        await engine.submit(attempt, [SINGLE_RIGHT], at(1), other)
    assert await engine.raw_attempt(attempt.id) == before


# --- which attempt counts ---------------------------------------------------------------------------


async def test_the_score_policy_picks_the_best_or_the_latest_attempt(engine: Engine) -> None:
    assessment = await engine.create(score_policy=ScorePolicy.BEST)
    answer_sets = [[SINGLE_RIGHT], [SINGLE_RIGHT, TF_RIGHT], [SINGLE_RIGHT, TF_RIGHT], []]
    for number, answers in enumerate(answer_sets, start=1):
        attempt = await engine.start(assessment, at(number * 100))
        await engine.submit(attempt, answers, at(number * 100 + 1))
    await engine.start(assessment, at(1000))  # an open attempt never counts
    attempts = await engine.of_learner(assessment)
    assert [(a.number, a.score) for a in attempts] == [(1, 1.0), (2, 2.0), (3, 2.0), (4, 0.0), (5, None)]

    best = decisions.result_attempt(assessment, attempts)
    assert best is not None and best.number == 2, "the best score, the earliest of equals"

    updated = await engine.update(
        assessment,
        # The questions again, unchanged: a settings-only update fails (see the next test).
        AssessmentDraft(score_policy=ScorePolicy.LATEST, questions=assessment.questions),
        at(2000),
    )
    latest = decisions.result_attempt(updated, attempts)
    assert latest is not None and latest.number == 4, "the latest submitted, even when it scores less"

    assert decisions.result_attempt(updated, [a for a in attempts if a.number == 5]) is None


async def test_a_settings_only_update_keeps_the_questions(engine: Engine) -> None:
    """Changing a setting without resending the questions (the common edit) must work and keep them."""
    assessment = await engine.create(score_policy=ScorePolicy.BEST)

    updated = await engine.update(
        assessment, AssessmentDraft(score_policy=ScorePolicy.LATEST, title="Renamed"), at(1)
    )

    assert updated.score_policy is ScorePolicy.LATEST and updated.title == "Renamed"
    assert updated.questions == assessment.questions


# --- who sees a course's assessments ---------------------------------------------------------------


async def test_a_courses_assessments_are_listed_to_whom_may_see_its_course(engine: Engine) -> None:
    """The service decides, whoever calls it (the router, or anyone calling the subgraph directly)."""
    created = [await engine.create(), await engine.create()]
    course_id = engine.courses.course_id
    stranger = Actor(user_id=uuid.uuid4(), role=Role.LEARNER)
    anonymous = Actor()

    async def listed(actor: Actor) -> list[str]:
        async def lookup(course_ids: list[str]) -> list[CourseAccess | None]:
            return await engine.service.course_accesses(actor, course_ids)

        (found,) = await engine.service.course_assessments(actor, [course_id], lookup)
        return [str(a.id) for a in found]

    everything = [str(a.id) for a in created]
    for actor in (engine.learner, stranger, anonymous, engine.instructor):
        assert await listed(actor) == everything, actor
    engine.courses.status = "DRAFT"
    for actor in (engine.learner, stranger, anonymous):
        assert await listed(actor) == [], f"a draft course's assessments are its managers': {actor}"
    engine.courses.asked = 0
    assert await listed(engine.instructor) == everything
    assert engine.courses.asked == 0, "whoever manages every assessment listed needs no course asked"


# --- the state after a write ------------------------------------------------------------------------


def store_commands() -> float:
    """Commands this module's client has sent so far."""
    return sum(
        sample.value
        for metric in STORE_CALLS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == "assessment-engine-tests"
    )


async def test_a_write_answers_the_state_written_without_reading_it_again(engine: Engine) -> None:
    """Saving, submitting and editing answer the state they wrote: the reads that decide it, one write
    (on FerretDB a guarded write is a read and a write, ADR 0010), and nothing after."""
    write = 2 if is_ferretdb() else 1
    assessment = await engine.create()
    attempt = await engine.start(assessment, at(0))

    before = store_commands()
    saved = await engine.save(attempt, [SINGLE_RIGHT], at(1))
    assert store_commands() - before == 2 + write, "the attempt and its assessment, then the write"
    assert saved.answers == {SINGLE.id: {"option_ids": ["four"]}} and saved.version == attempt.version + 1

    before = store_commands()
    submitted = await engine.submit(attempt, [TF_RIGHT], at(2))
    assert store_commands() - before == 2 + write
    assert (submitted.score, submitted.version) == (2.0, attempt.version + 2)
    assert submitted == Attempt.model_validate(await engine.raw_attempt(attempt.id)).model_copy(
        update={"outbox": submitted.outbox, "outbox_pending": submitted.outbox_pending}
    ), "the answer is what the store holds"

    before = store_commands()
    edited = await engine.update(assessment, AssessmentDraft(title="Renamed"), at(3))
    assert store_commands() - before == 1 + write, "the assessment, then the write"
    assert edited.title == "Renamed" and edited.version == assessment.version + 1


# --- the reveal policy ------------------------------------------------------------------------------

NOW = at(10_000)
PAST, FUTURE = NOW - timedelta(days=1), NOW + timedelta(days=1)
LEARNER_CASES: list[tuple[RevealPolicy, bool, bool, datetime | None, bool]] = [
    # policy, attempt submitted, passed (any attempt), due date, revealed to the learner
    (RevealPolicy.AFTER_SUBMISSION, True, False, None, True),
    (RevealPolicy.AFTER_SUBMISSION, True, True, FUTURE, True),
    (RevealPolicy.AFTER_SUBMISSION, False, False, None, False),
    (RevealPolicy.AFTER_PASSING, True, False, None, False),
    (RevealPolicy.AFTER_PASSING, True, True, None, True),
    (RevealPolicy.AFTER_PASSING, False, True, None, False),
    (RevealPolicy.AFTER_DUE, True, False, FUTURE, False),
    (RevealPolicy.AFTER_DUE, True, True, FUTURE, False),
    (RevealPolicy.AFTER_DUE, True, False, PAST, True),
    (RevealPolicy.AFTER_DUE, True, False, NOW, True),
    (RevealPolicy.AFTER_DUE, True, False, None, True),  # no due date: once submitted
    (RevealPolicy.AFTER_DUE, False, False, PAST, False),
    (RevealPolicy.NEVER, True, False, None, False),
    (RevealPolicy.NEVER, True, True, PAST, False),
    (RevealPolicy.NEVER, False, True, PAST, False),
]


def _reveal_subjects(
    engine: Engine, policy: RevealPolicy, submitted: bool, due: datetime | None
) -> tuple[Assessment, Attempt]:
    assessment = Assessment(
        id=ObjectId(),
        course_id=engine.courses.course_id,
        instructor_id=str(engine.instructor.user_id),
        title="Reveal",
        questions=[SINGLE],
        reveal_policy=policy,
        available_until=due,
        created_at=T0,
        updated_at=T0,
    )
    attempt = Attempt(
        id=ObjectId(),
        assessment_id=str(assessment.id),
        course_id=assessment.course_id,
        user_id=str(engine.learner.user_id),
        number=1,
        started_at=T0,
        status=AttemptStatus.SUBMITTED if submitted else AttemptStatus.IN_PROGRESS,
        submitted_at=T0 if submitted else None,
    )
    return assessment, attempt


@pytest.mark.parametrize(
    ("policy", "submitted", "passed_any", "due", "revealed"),
    LEARNER_CASES,
    ids=[
        f"{c[0]}-{'submitted' if c[1] else 'open'}-{'passed' if c[2] else 'not passed'}"
        for c in LEARNER_CASES
    ],
)
async def test_reveal_policy_for_learners_and_managers(
    engine: Engine,
    policy: RevealPolicy,
    submitted: bool,
    passed_any: bool,
    due: datetime | None,
    revealed: bool,
) -> None:
    assessment, attempt = _reveal_subjects(engine, policy, submitted, due)
    other_instructor = Actor(user_id=uuid.uuid4(), role=Role.INSTRUCTOR)
    admin = Actor(user_id=uuid.uuid4(), role=Role.ADMIN)

    def reveal(actor: Actor) -> bool:
        return permissions.may_reveal(actor, assessment, attempt, passed_any=passed_any, now=NOW)

    assert reveal(engine.learner) is revealed
    assert reveal(other_instructor) is revealed, "teaching another course gives no more than learning"
    # The course's instructor and admins manage the assessment: they always see the key.
    assert reveal(engine.instructor) is True
    assert reveal(admin) is True


@pytest.mark.parametrize(
    ("max_attempts", "used", "revealed"),
    [(3, 1, False), (3, 2, False), (3, 3, True), (1, 1, True), (None, 5, False)],
    ids=["1-of-3", "2-of-3", "3-of-3", "1-of-1", "unlimited"],
)
async def test_after_last_attempt_reveals_only_when_no_attempt_is_left(
    engine: Engine, max_attempts: int | None, used: int, revealed: bool
) -> None:
    assessment, attempt = _reveal_subjects(engine, RevealPolicy.AFTER_LAST_ATTEMPT, True, None)
    assessment.max_attempts = max_attempts
    shown = permissions.may_reveal(
        engine.learner, assessment, attempt, passed_any=True, now=NOW, attempts_used=used
    )
    assert shown is revealed


# --- writes racing the outbox relay -----------------------------------------------------------------


async def test_an_update_made_while_the_relay_publishes_is_kept_and_relayed(engine: Engine) -> None:
    """The relay leases and pops an outbox while writers append to it: neither may undo the other.

    FerretDB v1 applies neither write atomically; ADR 0010 serialises them per document in-process.
    """
    published: list[tuple[str, str]] = []

    async def record(event: Event) -> None:
        published.append((str(event.metadata["assessment_id"]), event.event_type))

    bus = InProcessEventBus()
    bus.subscribe(Topic.ASSESSMENT, record)
    relay = DocumentOutboxRelay([engine.db[Assessment.Settings.name]], bus)
    await relay.publish_pending()  # what earlier tests left behind
    lost: list[str] = []
    for round_ in range(10):
        assessment = await engine.create()
        published.clear()
        title = f"Renamed {round_}"
        # Questions included: a settings-only update fails on its own (see the test above).
        draft = AssessmentDraft(title=title, questions=[SINGLE, TRUE_FALSE])
        await asyncio.gather(
            relay.publish_pending(),
            engine.update(assessment, draft, at(1)),
        )
        await relay.publish_pending()
        stored = await engine.db[Assessment.Settings.name].find_one({"_id": assessment.id})
        assert stored is not None
        if stored["title"] != title:
            lost.append(f"round {round_}: the update was undone (title {stored['title']!r})")
        mine = [kind for aid, kind in published if aid == str(assessment.id)]
        if mine != ["ASSESSMENT_CREATED", "ASSESSMENT_UPDATED"]:
            lost.append(f"round {round_}: relayed {mine}")
    assert lost == []
