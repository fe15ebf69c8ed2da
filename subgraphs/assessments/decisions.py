"""The assessments domain's decisions: pure functions, no store, no clock, no randomness of their own
(an event's envelope alone stamps its own id and time, as every event's does).

Each takes the state as read (an assessment, an attempt, a learner's attempts) and whatever varies (the
time, the grace period, new ids, a shuffle) as arguments, and answers what should be written (a
`Decision` for `coursegraph.unit_of_work.change`, or a new document), None for "nothing to change", or
raises a `CourseGraphError` to refuse. Who may ask is decided before, in `permissions`; scoring itself is
`scoring`. Unit tests call these without a store (tests/unit/test_assessments_decisions.py). New
documents are built with `model_construct` from values checked here: Beanie's constructor insists that
its collection is connected, which a pure function has no need of.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from coursegraph.codes import FieldCode, Reason
from coursegraph.errors import Conflict, FieldError, ValidationFailed
from coursegraph.limits import QUESTIONS_MAX
from coursegraph.security import Actor
from coursegraph.text import is_text
from coursegraph.unit_of_work import Decision
from subgraphs.assessments import scoring
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

# Limits of what an author writes (a question's own limits are in `scoring`).
TITLE_MAX = 200
INSTRUCTIONS_MAX = 10_000
ATTEMPTS_MAX = 100
TIME_LIMIT_MAX = 7 * 24 * 3600

# Shuffles a list in place (`random.SystemRandom().shuffle` in the service; tests pass their own).
Shuffle = Callable[[list[str]], None]


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

    def changes(self) -> dict[str, Any]:
        """The fields it sets, times as the store keeps them (so the state written is the state read)."""
        values = {k: v for k, v in vars(self).items() if v is not None and k != "clear"}
        for name in ("available_from", "available_until"):
            if name in values:
                values[name] = as_stored(values[name])
        return values


def as_stored(moment: datetime) -> datetime:
    """A time as BSON keeps it: UTC, to the millisecond."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def validate(values: dict[str, Any]) -> list[FieldError]:
    """Every error of an assessment's settings and questions at once (nothing is written with any)."""
    errors: list[FieldError] = []
    title = values.get("title")
    if title is not None and not 1 <= len(title.strip()) <= TITLE_MAX:
        errors.append(FieldError("title", FieldCode.INVALID, f"Title must be 1 to {TITLE_MAX} characters."))
    elif title is not None and not is_text(title):
        errors.append(FieldError("title", FieldCode.INVALID, "Title must be valid Unicode text."))
    instructions = values.get("instructions") or ""
    if len(instructions) > INSTRUCTIONS_MAX:
        errors.append(
            FieldError("instructions", FieldCode.TOO_LONG, f"At most {INSTRUCTIONS_MAX} characters.")
        )
    elif not is_text(instructions):
        errors.append(
            FieldError("instructions", FieldCode.INVALID, "Instructions must be valid Unicode text.")
        )
    passing = values.get("passing_score")
    if passing is not None and not (math.isfinite(passing) and 0 <= passing <= 100):
        errors.append(
            FieldError("passingScore", FieldCode.INVALID, "Passing score is a percentage, 0 to 100.")
        )
    limit = values.get("time_limit_seconds")
    if limit is not None and not 1 <= limit <= TIME_LIMIT_MAX:
        errors.append(FieldError("timeLimitSeconds", FieldCode.INVALID, "Time limit is 1 second to 7 days."))
    attempts = values.get("max_attempts")
    if attempts is not None and not 1 <= attempts <= ATTEMPTS_MAX:
        errors.append(FieldError("maxAttempts", FieldCode.INVALID, f"Max attempts is 1 to {ATTEMPTS_MAX}."))
    start, end = values.get("available_from"), values.get("available_until")
    if start is not None and end is not None and end <= start:
        errors.append(FieldError("availableUntil", FieldCode.INVALID, "The window must end after it starts."))
    questions: list[Question] = values.get("questions") or []
    if len(questions) > QUESTIONS_MAX:
        errors.append(FieldError("questions", FieldCode.TOO_MANY, f"At most {QUESTIONS_MAX} questions."))
    seen: set[str] = set()
    for index, question in enumerate(questions):
        if question.id in seen:
            errors.append(
                FieldError(f"questions.{index}.id", FieldCode.DUPLICATE, "Question ids must be unique.")
            )
        seen.add(question.id)
        errors += scoring.validate_question(question, f"questions.{index}")
    return errors


def lifecycle_event(event_type: AssessmentEventType, assessment: Assessment, actor: Actor) -> dict[str, Any]:
    return assessment_event(
        event_type,
        key=str(assessment.id),
        course_id=assessment.course_id,
        user_id=str(actor.user_id),
        assessment_id=str(assessment.id),
        title=assessment.title,
        required_for_completion=assessment.required_for_completion,
        passing_score=assessment.passing_score,
        # The courses service's gradebook counts attempts by these (issue 17).
        score_policy=assessment.score_policy.value,
        max_score=assessment.max_score,
    )


def new_assessment(
    draft: AssessmentDraft,
    *,
    course_id: str,
    instructor_id: str,
    actor: Actor,
    now: datetime,
    new_id: ObjectId,
) -> Decision[Assessment]:
    """A new assessment in a course (its instructor manages it besides admins), announced as created."""
    values = draft.changes()
    values.setdefault("title", "")
    errors = validate(values)
    if errors:
        raise ValidationFailed(errors)
    assessment: Assessment = Assessment.model_construct(
        id=new_id,
        course_id=course_id,
        instructor_id=instructor_id,
        created_at=now,
        updated_at=now,
        **{**values, "title": values["title"].strip()},
    )
    return Decision(assessment, [lifecycle_event(AssessmentEventType.ASSESSMENT_CREATED, assessment, actor)])


def edit_assessment(
    assessment: Assessment, draft: AssessmentDraft, *, actor: Actor, now: datetime
) -> Decision[Assessment]:
    """The assessment with the draft's changes, validated as a whole, announced as updated.

    A question kept (same id) keeps its matching pairs' right-hand ids, pair by pair id, so answers
    saved against them stay meaningful.
    """
    changes = draft.changes()
    if "questions" in changes:
        changes["questions"] = _keeping_match_ids(assessment.questions, changes["questions"])
    # The model's own values (questions stay Question objects), then the changes.
    merged = {**{name: getattr(assessment, name) for name in Assessment.model_fields}, **changes}
    for name in draft.clear:
        merged[name] = None
    errors = validate(merged)
    if errors:
        raise ValidationFailed(errors)
    updated = assessment.model_copy(update={**changes, **dict.fromkeys(draft.clear), "updated_at": now})
    return Decision(updated, [lifecycle_event(AssessmentEventType.ASSESSMENT_UPDATED, updated, actor)])


def _keeping_match_ids(before: Sequence[Question], after: Sequence[Question]) -> list[Question]:
    kept = {q.id: {p.id: p.match_id for p in q.pairs} for q in before}
    return [
        q.model_copy(
            update={
                "pairs": [
                    p.model_copy(update={"match_id": kept[q.id].get(p.id, p.match_id)}) for p in q.pairs
                ]
            }
        )
        if q.id in kept and q.pairs
        else q
        for q in after
    ]


# --- attempts -----------------------------------------------------------------------------------------


def deadline_passed(attempt: Attempt, now: datetime, grace: timedelta) -> bool:
    return attempt.deadline is not None and now > attempt.deadline + grace


def require_open(assessment: Assessment, now: datetime) -> None:
    """Refuse a start outside the availability window, or of an assessment with no questions yet."""
    if assessment.available_from is not None and now < assessment.available_from:
        raise Conflict("This assessment is not open yet.", details={"reason": Reason.NOT_YET_AVAILABLE})
    if assessment.available_until is not None and now > assessment.available_until:
        raise Conflict("This assessment has closed.", details={"reason": Reason.CLOSED})
    if not assessment.questions:
        raise Conflict("This assessment has no questions yet.", details={"reason": Reason.NO_QUESTIONS})


def open_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The learner's one open attempt, if any."""
    return next((a for a in attempts if a.status is AttemptStatus.IN_PROGRESS), None)


def next_attempt(
    assessment: Assessment,
    attempts: Sequence[Attempt],
    *,
    user_id: str,
    now: datetime,
    shuffle: Shuffle,
) -> Attempt:
    """The learner's next attempt (none of `attempts` is open), or ATTEMPTS_EXHAUSTED; every attempt
    counts towards the limit. Its deadline is set now, by the server; its order is fixed for it."""
    if assessment.max_attempts is not None and len(attempts) >= assessment.max_attempts:
        raise Conflict("No attempts left for this assessment.", details={"reason": Reason.ATTEMPTS_EXHAUSTED})
    question_order, option_orders = presentation_order(assessment, shuffle)
    limit = assessment.time_limit_seconds
    number = len(attempts) + 1
    assessment_id = str(assessment.id)
    attempt: Attempt = Attempt.model_construct(
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
    return attempt


def presentation_order(assessment: Assessment, shuffle: Shuffle) -> tuple[list[str], dict[str, list[str]]]:
    """Question order and, per question, the order its choices are shown in, fixed for the attempt.

    Ordering items and matching choices are always shuffled, uniformly: their stored order is the answer
    key. A uniform shuffle may show the key's own order; refusing to would make "the reverse of what is
    shown" the key of every two-item question.
    """
    questions = [q.id for q in assessment.questions]
    if assessment.shuffle_questions:
        shuffle(questions)
    options: dict[str, list[str]] = {}
    for question in assessment.questions:
        ids = choice_ids(question)
        if assessment.shuffle_options or question.type in (QuestionType.ORDERING, QuestionType.MATCHING):
            shuffle(ids)
        options[question.id] = ids
    return questions, options


def choice_ids(question: Question) -> list[str]:
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
        where = f"answers.{index}"
        question = questions.get(question_id)
        if question is None:
            errors.append(
                FieldError(f"{where}.questionId", FieldCode.UNKNOWN_QUESTION, "No such question here.")
            )
            continue
        if question_id in parsed:
            errors.append(FieldError(f"{where}.questionId", FieldCode.DUPLICATE, "One answer per question."))
            continue
        try:
            parsed[question_id] = scoring.parse_answer(question, _with_pair_ids(question, raw, where), where)
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    return parsed


def _with_pair_ids(question: Question, raw: scoring.RawAnswer, where: str) -> scoring.RawAnswer:
    """Matching answers name right-hand items by their own ids; scoring pairs left and right by pair id.

    Only right-hand ids are accepted on the right: a pair id there would let a learner pair each prompt
    with itself and score full marks without knowing anything.
    """
    if question.type is not QuestionType.MATCHING or raw.pairs is None:
        return raw
    pair_of = {pair.match_id: pair.id for pair in question.pairs}
    unknown = [right for _, right in raw.pairs if right not in pair_of]
    if unknown:
        raise ValidationFailed([FieldError(where, FieldCode.UNKNOWN_ID, "Not a choice of this question.")])
    return dataclasses.replace(raw, pairs=[(left, pair_of[right]) for left, right in raw.pairs])


def close(
    assessment: Assessment, attempt: Attempt, new_answers: dict[str, Any], *, now: datetime, by_deadline: bool
) -> Decision[Attempt]:
    """Closing an attempt: its answers scored, its result, and its two events (submitted, completed)."""
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
    closed = attempt.model_copy(
        update={
            "answers": answers,
            "status": AttemptStatus.SUBMITTED,
            "submitted_at": now,
            "closed_by_deadline": by_deadline,
            "score": score,
            "max_score": max_score,
            "percent": percent,
            "passed": passed,
            "results": results,
        }
    )
    return Decision(closed, events)


def expire(
    assessment: Assessment, attempt: Attempt, *, now: datetime, grace: timedelta
) -> Decision[Attempt] | None:
    """An open attempt past its deadline plus grace is closed and scored as it stood; any other attempt
    is left as it is."""
    if attempt.status is not AttemptStatus.IN_PROGRESS or not deadline_passed(attempt, now, grace):
        return None
    return close(assessment, attempt, {}, now=now, by_deadline=True)


def save_answers(
    assessment: Assessment, attempt: Attempt, answers: dict[str, Any], *, now: datetime, grace: timedelta
) -> Decision[Attempt] | None:
    """Parsed answers recorded on an open attempt (each replacing that question's earlier answer).

    A submitted attempt refuses them (ALREADY_SUBMITTED). Past deadline and grace, the attempt is closed
    as it stood instead, without them: the caller answers TIME_UP once that is written (`saved`).
    """
    if attempt.status is AttemptStatus.SUBMITTED:
        raise Conflict("This attempt has been submitted.", details={"reason": Reason.ALREADY_SUBMITTED})
    if deadline_passed(attempt, now, grace):
        return close(assessment, attempt, {}, now=now, by_deadline=True)
    if not answers:
        return None
    return Decision(attempt.model_copy(update={"answers": {**attempt.answers, **answers}}))


def saved(attempt: Attempt) -> Attempt:
    """What a save answers once written: the open attempt, or TIME_UP when the save closed it."""
    if attempt.status is AttemptStatus.SUBMITTED:
        raise Conflict(
            "Time is up: the attempt was submitted as it stood.", details={"reason": Reason.TIME_UP}
        )
    return attempt


def submit(
    assessment: Assessment, attempt: Attempt, answers: dict[str, Any], *, now: datetime, grace: timedelta
) -> Decision[Attempt] | None:
    """The attempt closed with these last answers and scored, once: a submitted attempt is left as it
    is (a repeated or concurrent submit is answered with that score). Past the deadline plus grace it is
    scored as it stood: late answers are ignored."""
    if attempt.status is AttemptStatus.SUBMITTED:
        return None
    late = deadline_passed(attempt, now, grace)
    return close(assessment, attempt, {} if late else answers, now=now, by_deadline=late)


# --- counting -----------------------------------------------------------------------------------------


def result_attempt(assessment: Assessment, attempts: Sequence[Attempt]) -> Attempt | None:
    """The attempt that counts: the best score (earliest on ties) or the latest, per the policy."""
    submitted = [a for a in attempts if a.status is AttemptStatus.SUBMITTED]
    if not submitted:
        return None
    if assessment.score_policy is ScorePolicy.LATEST:
        return max(submitted, key=lambda a: a.number)
    return max(submitted, key=lambda a: (a.score or 0.0, -a.number))
