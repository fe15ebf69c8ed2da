"""The assessments domain's decisions (subgraphs/assessments/decisions.py), without a store.

Each decision is called with the state as read and the time, grace period and shuffle it needs, and
answers what should be written; a refusal raises and writes nothing. The service's tests on the real
store (tests/integration/test_assessment_engine.py) cover the same rules end to end, races included.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId

from coursegraph.codes import Reason
from coursegraph.errors import Conflict, ValidationFailed
from coursegraph.security import Actor, Role
from coursegraph.unit_of_work import Decision, change, changed_fields
from subgraphs.assessments import decisions
from subgraphs.assessments.decisions import AssessmentDraft
from subgraphs.assessments.models import (
    Assessment,
    Attempt,
    AttemptStatus,
    MatchPair,
    ScorePolicy,
)
from subgraphs.assessments.scoring import RawAnswer
from tests.support.questions import MATCHING, ORDERING, SINGLE, TRUE_FALSE

T0 = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=10)
INSTRUCTOR = Actor(user_id=uuid.uuid4(), role=Role.INSTRUCTOR)


def reverse(items: list[str]) -> None:
    """A shuffle that is known in advance."""
    items.reverse()


def make_assessment(**settings: Any) -> Assessment:
    built: Assessment = Assessment.model_construct(
        id=ObjectId(),
        course_id=str(ObjectId()),
        instructor_id=str(INSTRUCTOR.user_id),
        title="Quiz",
        questions=settings.pop("questions", [SINGLE, TRUE_FALSE]),
        created_at=T0,
        updated_at=T0,
        **settings,
    )
    return built


def open_attempt(assessment: Assessment, *, limit: int | None = 60, number: int = 1) -> Attempt:
    return decisions.next_attempt(
        assessment.model_copy(update={"time_limit_seconds": limit}),
        [submitted(assessment, n) for n in range(1, number)],
        user_id="learner",
        now=T0,
        shuffle=reverse,
    )


def submitted(assessment: Assessment, number: int, score: float = 1.0) -> Attempt:
    attempt = decisions.next_attempt(assessment, [], user_id="learner", now=T0, shuffle=reverse)
    done: Attempt = attempt.model_copy(
        update={"number": number, "status": AttemptStatus.SUBMITTED, "score": score, "submitted_at": T0}
    )
    return done


def event_types(decision: Decision[Any]) -> list[str]:
    return [json.loads(entry["payload"])["event_type"] for entry in decision.events]


def metadata(decision: Decision[Any], event_type: str) -> dict[str, Any]:
    (found,) = [
        json.loads(e["payload"])["metadata"]
        for e in decision.events
        if json.loads(e["payload"])["event_type"] == event_type
    ]
    return dict(found)


def reason(refused: pytest.ExceptionInfo[Conflict]) -> str:
    return str((refused.value.details or {})["reason"])


# --- authoring ----------------------------------------------------------------------------------------


def test_a_new_assessment_is_validated_stripped_and_announced() -> None:
    draft = AssessmentDraft(title="  Quiz  ", questions=[SINGLE], passing_score=50)
    created = decisions.new_assessment(
        draft, course_id="c1", instructor_id="i1", actor=INSTRUCTOR, now=T0, new_id=ObjectId()
    )
    assert created.state.title == "Quiz" and created.state.passing_score == 50
    assert (created.state.created_at, created.state.instructor_id) == (T0, "i1")
    assert event_types(created) == ["ASSESSMENT_CREATED"]

    with pytest.raises(ValidationFailed) as refused:
        decisions.new_assessment(
            AssessmentDraft(title=" ", passing_score=101, max_attempts=0),
            course_id="c1",
            instructor_id="i1",
            actor=INSTRUCTOR,
            now=T0,
            new_id=ObjectId(),
        )
    assert {e.field for e in refused.value.errors} == {"title", "passingScore", "maxAttempts"}


def test_an_edit_changes_what_the_draft_sets_and_clears_and_keeps_the_rest() -> None:
    assessment = make_assessment(time_limit_seconds=60, max_attempts=3)
    now = T0 + timedelta(hours=1)
    draft = AssessmentDraft(score_policy=ScorePolicy.LATEST, title="Renamed", clear={"time_limit_seconds"})

    edited = decisions.edit_assessment(assessment, draft, actor=INSTRUCTOR, now=now)

    state = edited.state
    assert (state.title, state.score_policy, state.updated_at) == ("Renamed", ScorePolicy.LATEST, now)
    assert state.time_limit_seconds is None and state.max_attempts == 3
    assert state.questions == assessment.questions, "a settings-only edit keeps the questions"
    assert set(changed_fields(assessment, state)) == {
        "title",
        "score_policy",
        "time_limit_seconds",
        "updated_at",
    }
    assert event_types(edited) == ["ASSESSMENT_UPDATED"]
    assert assessment.title == "Quiz", "the state as read is left as it was"


def test_an_edit_is_validated_as_a_whole() -> None:
    assessment = make_assessment(available_from=T0)
    with pytest.raises(ValidationFailed) as refused:
        decisions.edit_assessment(
            assessment,
            AssessmentDraft(available_until=T0 - timedelta(days=1)),
            actor=INSTRUCTOR,
            now=T0,
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [("availableUntil", "INVALID")]


def test_a_kept_matching_question_keeps_its_right_hand_ids() -> None:
    assessment = make_assessment(questions=[MATCHING])
    resent = MATCHING.model_copy(
        update={
            "pairs": [
                MatchPair(id="fr", prompt="France", match="Paris", match_id="fresh-1"),
                MatchPair(id="it", prompt="Italy", match="Rome", match_id="fresh-2"),
            ]
        }
    )
    edited = decisions.edit_assessment(
        assessment, AssessmentDraft(questions=[resent]), actor=INSTRUCTOR, now=T0
    )
    assert [(p.id, p.match_id) for p in edited.state.questions[0].pairs] == [
        ("fr", "right-paris"),
        ("it", "fresh-2"),
    ]


def test_times_are_decided_as_the_store_keeps_them() -> None:
    paris = timezone(timedelta(hours=2))
    given = datetime(2031, 6, 1, 14, 0, 0, 123456, tzinfo=paris)
    edited = decisions.edit_assessment(
        make_assessment(), AssessmentDraft(available_from=given), actor=INSTRUCTOR, now=T0
    )
    assert edited.state.available_from == given.replace(microsecond=123000), "the same instant"
    assert edited.state.available_from is not None
    assert edited.state.available_from.utcoffset() == timedelta(0)
    assert edited.state.available_from.microsecond == 123000


# --- starting -----------------------------------------------------------------------------------------


def test_a_start_is_refused_outside_the_window_or_without_questions() -> None:
    opens, closes = T0, T0 + timedelta(hours=1)
    windowed = make_assessment(available_from=opens, available_until=closes)
    with pytest.raises(Conflict) as early:
        decisions.require_open(windowed, opens - timedelta(milliseconds=1))
    assert reason(early) == Reason.NOT_YET_AVAILABLE
    with pytest.raises(Conflict) as late:
        decisions.require_open(windowed, closes + timedelta(milliseconds=1))
    assert reason(late) == Reason.CLOSED
    decisions.require_open(windowed, opens)  # both ends are inside the window
    decisions.require_open(windowed, closes)
    with pytest.raises(Conflict) as empty:
        decisions.require_open(make_assessment(questions=[]), T0)
    assert reason(empty) == Reason.NO_QUESTIONS


def test_the_next_attempt_is_numbered_timed_and_ordered_once() -> None:
    assessment = make_assessment(time_limit_seconds=60, shuffle_questions=True, questions=[SINGLE, ORDERING])
    first = decisions.next_attempt(assessment, [], user_id="learner", now=T0, shuffle=reverse)
    assert (first.number, first.started_at, first.deadline) == (1, T0, T0 + timedelta(seconds=60))
    assert first.status is AttemptStatus.IN_PROGRESS
    assert first.question_order == ["q-order", "q-single"]
    # Ordering items are always shuffled (their stored order is the key); plain options only on request.
    assert first.option_orders == {"q-single": ["three", "four"], "q-order": ["three", "two", "one"]}

    second = decisions.next_attempt(
        assessment, [submitted(assessment, 1)], user_id="learner", now=T0, shuffle=reverse
    )
    assert second.number == 2 and second.id != first.id
    again = decisions.next_attempt(assessment, [], user_id="learner", now=T0, shuffle=reverse)
    assert again.id == first.id, "the id is derived: two concurrent starts of one number collide"

    untimed = decisions.next_attempt(make_assessment(), [], user_id="learner", now=T0, shuffle=reverse)
    assert untimed.deadline is None


def test_every_attempt_counts_towards_the_limit() -> None:
    assessment = make_assessment(max_attempts=2)
    used = [submitted(assessment, 1), submitted(assessment, 2)]
    with pytest.raises(Conflict) as refused:
        decisions.next_attempt(assessment, used, user_id="learner", now=T0, shuffle=reverse)
    assert reason(refused) == Reason.ATTEMPTS_EXHAUSTED
    assert (
        decisions.next_attempt(assessment, used[:1], user_id="learner", now=T0, shuffle=reverse).number == 2
    )


def test_matching_choices_are_shown_by_their_own_ids_always_shuffled() -> None:
    questions, options = decisions.presentation_order(make_assessment(questions=[MATCHING, SINGLE]), reverse)
    assert questions == ["q-match", "q-single"], "questions in authored order unless asked to shuffle"
    assert options == {"q-match": ["right-berlin", "right-paris"], "q-single": ["three", "four"]}


# --- saving, submitting, expiring ---------------------------------------------------------------------


def test_saving_records_answers_on_an_open_attempt_within_grace() -> None:
    assessment = make_assessment()
    attempt = open_attempt(assessment)
    first = decisions.save_answers(
        assessment, attempt, {"q-single": {"option_ids": ["four"]}}, now=T0, grace=GRACE
    )
    assert first is not None and first.events == ()
    deadline = T0 + timedelta(seconds=60)
    second = decisions.save_answers(
        assessment, first.state, {"q-tf": {"value": False}}, now=deadline + GRACE, grace=GRACE
    )
    assert second is not None
    assert second.state.answers == {"q-single": {"option_ids": ["four"]}, "q-tf": {"value": False}}
    assert decisions.saved(second.state) is second.state
    assert decisions.save_answers(assessment, attempt, {}, now=T0, grace=GRACE) is None, "nothing to save"


def test_saving_past_deadline_and_grace_closes_the_attempt_as_it_stood_then_time_is_up() -> None:
    assessment = make_assessment()
    attempt = open_attempt(assessment).model_copy(update={"answers": {"q-single": {"option_ids": ["four"]}}})
    late = T0 + timedelta(seconds=60) + GRACE + timedelta(milliseconds=1)

    closed = decisions.save_answers(assessment, attempt, {"q-tf": {"value": True}}, now=late, grace=GRACE)

    assert closed is not None and closed.state.status is AttemptStatus.SUBMITTED
    assert closed.state.closed_by_deadline and closed.state.submitted_at == late
    assert closed.state.answers == {"q-single": {"option_ids": ["four"]}}, "the late answer is not recorded"
    assert (closed.state.score, closed.state.max_score, closed.state.passed) == (1.0, 2.0, False)
    assert event_types(closed) == ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED"]
    with pytest.raises(Conflict) as time_up:
        decisions.saved(closed.state)
    assert reason(time_up) == Reason.TIME_UP

    with pytest.raises(Conflict) as again:
        decisions.save_answers(assessment, closed.state, {"q-tf": {"value": True}}, now=late, grace=GRACE)
    assert reason(again) == Reason.ALREADY_SUBMITTED


@pytest.mark.parametrize(("after_deadline", "counts"), [(0.0, True), (10.0, True), (10.001, False)])
def test_a_submit_scores_once_and_ignores_late_answers(after_deadline: float, counts: bool) -> None:
    assessment = make_assessment(passing_score=100)
    attempt = open_attempt(assessment).model_copy(update={"answers": {"q-single": {"option_ids": ["four"]}}})
    now = T0 + timedelta(seconds=60 + after_deadline)

    scored = decisions.submit(assessment, attempt, {"q-tf": {"value": True}}, now=now, grace=GRACE)

    assert scored is not None and scored.state.status is AttemptStatus.SUBMITTED
    assert scored.state.closed_by_deadline is not counts
    assert scored.state.score == (2.0 if counts else 1.0) and scored.state.passed is counts
    completed = metadata(scored, "ASSESSMENT_COMPLETED")
    assert (completed["score"], completed["max_score"], completed["passed"]) == (
        scored.state.score,
        2.0,
        counts,
    )
    assert metadata(scored, "ASSESSMENT_SUBMITTED")["closed_by_deadline"] is not counts
    assert decisions.submit(assessment, scored.state, {}, now=now, grace=GRACE) is None, "scored once"


def test_only_an_open_attempt_past_deadline_and_grace_expires() -> None:
    assessment = make_assessment()
    attempt = open_attempt(assessment)
    deadline = T0 + timedelta(seconds=60)
    assert decisions.expire(assessment, attempt, now=deadline + GRACE, grace=GRACE) is None
    expired = decisions.expire(assessment, attempt, now=deadline + GRACE * 2, grace=GRACE)
    assert expired is not None and expired.state.closed_by_deadline and expired.state.score == 0.0
    assert decisions.expire(assessment, expired.state, now=deadline + GRACE * 3, grace=GRACE) is None
    untimed = open_attempt(assessment, limit=None)
    assert decisions.expire(assessment, untimed, now=T0 + timedelta(days=365), grace=GRACE) is None


def test_answers_are_parsed_all_or_nothing() -> None:
    assessment = make_assessment(questions=[SINGLE, MATCHING])
    parsed = decisions.parse_answers(
        assessment,
        [("q-single", RawAnswer(option_ids=["four"])), ("q-match", RawAnswer(pairs=[("fr", "right-paris")]))],
    )
    assert parsed == {"q-single": {"option_ids": ["four"]}, "q-match": {"pairs": {"fr": "fr"}}}
    with pytest.raises(ValidationFailed) as refused:
        decisions.parse_answers(
            assessment,
            [
                ("q-single", RawAnswer(option_ids=["four"])),
                ("q-nope", RawAnswer(value=True)),
                ("q-match", RawAnswer(pairs=[("fr", "fr")])),  # a pair id on the right scores nothing
            ],
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("answers.1.questionId", "UNKNOWN_QUESTION"),
        ("answers.2", "UNKNOWN_ID"),
    ]


# --- counting -----------------------------------------------------------------------------------------


def test_the_attempt_that_counts_follows_the_score_policy() -> None:
    best = make_assessment(score_policy=ScorePolicy.BEST)
    attempts = [
        submitted(best, 1, 1.0),
        submitted(best, 2, 2.0),
        submitted(best, 3, 2.0),
        submitted(best, 4, 0.0),
    ]
    still_open = open_attempt(best, number=5)
    counted = decisions.result_attempt(best, [*attempts, still_open])
    assert counted is not None and counted.number == 2, "the best score, the earliest of equals"
    latest = best.model_copy(update={"score_policy": ScorePolicy.LATEST})
    counted = decisions.result_attempt(latest, [*attempts, still_open])
    assert counted is not None and counted.number == 4, "the latest submitted, even when it scores less"
    assert decisions.result_attempt(latest, [still_open]) is None


# --- with the unit of work ----------------------------------------------------------------------------


async def test_two_racing_submits_through_the_unit_of_work_score_once() -> None:
    """The second submit loses the race, reads the attempt again, finds it scored and answers that."""
    assessment = make_assessment()
    stored = {"doc": open_attempt(assessment)}
    writes: list[dict[str, Any]] = []

    async def read() -> Attempt:
        return stored["doc"]

    async def write(before: Attempt, decision: Decision[Attempt]) -> bool:
        if before.version != stored["doc"].version:
            return False
        writes.append(changed_fields(before, decision.state))
        stored["doc"] = decision.state.model_copy(update={"version": before.version + 1})
        return True

    right, wrong = {"q-single": {"option_ids": ["four"]}}, {"q-single": {"option_ids": ["three"]}}
    first_read = await read()
    won = await change(
        read, lambda a: decisions.submit(assessment, a, right, now=T0, grace=GRACE), write, conflict="busy"
    )
    stale = iter([first_read])

    async def stale_then_fresh() -> Attempt:
        return next(stale, None) or await read()

    lost = await change(
        stale_then_fresh,
        lambda a: decisions.submit(assessment, a, wrong, now=T0, grace=GRACE),
        write,
        conflict="busy",
    )
    assert won is not None and lost is not None
    assert len(writes) == 1 and won.score == lost.score == 1.0 and lost.version == 1
