"""GraphQL types of the assessments subgraph.

Answer keys appear only in `QuestionKey`, reached through `Question.key` (managers) and
`QuestionResult.correctAnswer` (when the reveal policy allows): every path, including `_entities`,
goes through those two guarded fields.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

import strawberry
from strawberry.types import Info

from coursegraph.errors import BadUserInput
from coursegraph.graphql import PAGE_SIZE, PageInfo, UserError
from coursegraph.ids import parse_object_id
from subgraphs.assessments import decisions, scoring
from subgraphs.assessments.context import AssessmentsContext
from subgraphs.assessments.models import (
    Assessment,
    Attempt,
    AttemptStatus,
    MatchPair,
    Option,
    Question,
    QuestionType,
    RevealPolicy,
    ScorePolicy,
)

Ctx = Info[AssessmentsContext, None]

QuestionTypeEnum = strawberry.enum(QuestionType, name="QuestionType")
ScorePolicyEnum = strawberry.enum(ScorePolicy, name="ScorePolicy")
RevealPolicyEnum = strawberry.enum(RevealPolicy, name="RevealPolicy")
AttemptStatusEnum = strawberry.enum(AttemptStatus, name="AttemptStatus")


@strawberry.enum(name="QuestionOutcome")
class OutcomeEnum(StrEnum):
    CORRECT = "correct"
    PARTIAL = "partial"
    INCORRECT = "incorrect"
    UNANSWERED = "unanswered"


@strawberry.type(description="A choice, an item to order, or one side of a matching question.")
class Choice:
    id: strawberry.ID
    text: str


@strawberry.type(description="A matching pair of the key: the left item's id and its right item's id.")
class MatchKey:
    left_id: strawberry.ID
    right_id: strawberry.ID


@strawberry.type(description="The answer key of a question: managers, or learners once revealed.")
class QuestionKey:
    correct_option_ids: list[strawberry.ID] | None = None
    correct_bool: bool | None = None
    accepted_answers: list[str] | None = None
    case_sensitive: bool | None = None
    numeric_answer: float | None = None
    tolerance: float | None = None
    correct_order: list[strawberry.ID] | None = None
    pairs: list[MatchKey] | None = None
    feedback: str | None = None
    option_feedback: list[Choice] | None = strawberry.field(default=None, description="Per-option feedback.")

    @classmethod
    def of(cls, q: Question) -> Self:
        choice = q.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE)
        return cls(
            correct_option_ids=[strawberry.ID(o.id) for o in q.options if o.correct] if choice else None,
            correct_bool=q.correct_bool,
            accepted_answers=q.accepted_answers or None,
            case_sensitive=q.case_sensitive if q.type is QuestionType.SHORT_TEXT else None,
            numeric_answer=q.numeric_answer,
            tolerance=q.tolerance if q.type is QuestionType.NUMERIC else None,
            correct_order=[strawberry.ID(o.id) for o in q.options]
            if q.type is QuestionType.ORDERING
            else None,
            pairs=[MatchKey(left_id=strawberry.ID(p.id), right_id=strawberry.ID(p.match_id)) for p in q.pairs]
            or None,
            feedback=q.feedback,
            option_feedback=[
                Choice(id=strawberry.ID(o.id), text=o.feedback or "") for o in q.options if o.feedback
            ]
            or None,
        )


@strawberry.type(name="Question")
class QuestionType_:
    id: strawberry.ID
    type: QuestionTypeEnum  # type: ignore[valid-type]
    prompt: str
    points: float
    choices: list[Choice] = strawberry.field(
        description="Options, ordering items, or a matching question's right-hand items, in display order."
    )
    match_prompts: list[Choice] = strawberry.field(description="A matching question's left-hand items.")
    row: strawberry.Private[Question]
    assessment: strawberry.Private[Assessment]

    @classmethod
    def present(cls, q: Question, assessment: Assessment, order: list[str]) -> Self:
        """Show a question without its key, its choices in `order` (the service chose it)."""
        if q.type is QuestionType.MATCHING:
            texts = {p.match_id: p.match for p in q.pairs}
        else:
            texts = {o.id: o.text for o in q.options}
        choices = [Choice(id=strawberry.ID(i), text=texts[i]) for i in order if i in texts]
        return cls(
            id=strawberry.ID(q.id),
            type=q.type,
            prompt=q.prompt,
            points=q.points,
            choices=choices,
            match_prompts=[Choice(id=strawberry.ID(p.id), text=p.prompt) for p in q.pairs],
            row=q,
            assessment=assessment,
        )

    @strawberry.field(description="The answer key: the course's instructor and admins only (else null).")
    def key(self, info: Ctx) -> QuestionKey | None:
        may_see = info.context.service.may_see_key(info.context.actor, self.assessment)
        return QuestionKey.of(self.row) if may_see else None


@strawberry.federation.type(keys=["id"], name="Course")
class CourseType:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Self:
        return cls(id=id)

    @strawberry.field(description="The course's assessments, oldest first.")
    async def assessments(self, info: Ctx) -> list["AssessmentType"]:
        rows = await info.context.loaders.assessments_by_course.load(str(self.id))
        return [AssessmentType.from_row(row) for row in rows]


@strawberry.federation.type(keys=["id"], name="User")
class UserType:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Self:
        return cls(id=id)

    @strawberry.field(
        description="Attempts, newest first: the user themself, admins, or instructors (theirs).",
        directives=[PAGE_SIZE],
    )
    async def assessment_attempts(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> "AttemptConnection | None":
        page = await info.context.service.attempts_of(
            info.context.actor, str(self.id), first=first, after=after
        )
        return AttemptConnection(
            edges=[AttemptEdge(cursor=c, node=AttemptType.from_row(row)) for c, row in page.items],
            page_info=PageInfo.of(page),
        )


@strawberry.federation.type(keys=["id"], name="Assessment", description="A quiz or exam in a course.")
class AssessmentType:
    id: strawberry.ID
    title: str
    instructions: str
    module_id: strawberry.ID | None
    passing_score: float = strawberry.field(description="Percent needed to pass.")
    time_limit_seconds: int | None
    max_attempts: int | None
    score_policy: ScorePolicyEnum  # type: ignore[valid-type]
    shuffle_questions: bool
    shuffle_options: bool
    available_from: datetime | None
    available_until: datetime | None
    required_for_completion: bool
    reveal_policy: RevealPolicyEnum  # type: ignore[valid-type]
    max_score: float
    question_count: int
    row: strawberry.Private[Assessment]

    @classmethod
    def from_row(cls, row: Assessment) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            instructions=row.instructions,
            module_id=strawberry.ID(row.module_id) if row.module_id else None,
            passing_score=row.passing_score,
            time_limit_seconds=row.time_limit_seconds,
            max_attempts=row.max_attempts,
            score_policy=row.score_policy,
            shuffle_questions=row.shuffle_questions,
            shuffle_options=row.shuffle_options,
            available_from=row.available_from,
            available_until=row.available_until,
            required_for_completion=row.required_for_completion,
            reveal_policy=row.reveal_policy,
            max_score=row.max_score,
            question_count=len(row.questions),
            row=row,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        row = await info.context.loaders.visible_assessment_by_id.load(parse_object_id(id))
        return None if row is None else cls.from_row(row)

    @strawberry.field
    def course(self) -> CourseType:
        return CourseType(id=strawberry.ID(self.row.course_id))

    @strawberry.field(description="Questions without keys: enrolled learners, the instructor and admins.")
    async def questions(self, info: Ctx) -> list[QuestionType_] | None:
        shown = await info.context.service.questions(
            info.context.actor, self.row, info.context.loaders.course_access.load
        )
        return None if shown is None else [QuestionType_.present(q, self.row, order) for q, order in shown]

    @strawberry.field(description="The caller's attempts at this assessment, oldest first.")
    async def viewer_attempts(self, info: Ctx) -> list["AttemptType"]:
        rows = await info.context.service.viewer_attempts(
            info.context.actor, self.row, info.context.loaders.learner_attempts.load
        )
        return [AttemptType.from_row(r) for r in rows]


@strawberry.type(description="How one question of a submitted attempt was scored.")
class QuestionResultType:
    question_id: strawberry.ID
    points: float
    max_points: float
    outcome: OutcomeEnum
    feedback: str | None = strawberry.field(description="Null until the reveal policy allows.")
    correct_answer: QuestionKey | None = strawberry.field(description="Null until the reveal policy allows.")


@strawberry.type(name="AssessmentResult", description="A submitted attempt's score.")
class AssessmentResultType:
    attempt_id: strawberry.ID
    attempt_number: int
    score: float
    max_score: float
    percent: float
    passed: bool
    submitted_at: datetime
    closed_by_deadline: bool
    revealed: bool = strawberry.field(description="Whether correct answers and feedback are shown.")
    questions: list[QuestionResultType] = strawberry.field(
        description="How each question was scored: empty until the reveal policy allows, since outcomes "
        "compared across attempts spell the key."
    )

    @classmethod
    async def of(cls, info: Ctx, attempt: Attempt) -> "AssessmentResultType | None":
        loaders = info.context.loaders
        assessment = await loaders.assessment_by_id.load(attempt.assessment_id)
        if assessment is None:
            return None
        learner = await loaders.learner_attempts.load((attempt.assessment_id, attempt.user_id))
        shown = info.context.service.result(info.context.actor, attempt, assessment, learner)
        if shown is None or attempt.submitted_at is None:
            return None
        revealed = shown.revealed
        questions = {q.id: q for q in assessment.questions}
        results = []
        for scored in attempt.results if revealed else []:
            question = questions.get(scored.question_id)
            results.append(
                QuestionResultType(
                    question_id=strawberry.ID(scored.question_id),
                    points=scored.points,
                    max_points=scored.max_points,
                    outcome=OutcomeEnum(scored.outcome),
                    feedback=question.feedback if revealed and question else None,
                    correct_answer=QuestionKey.of(question) if revealed and question else None,
                )
            )
        return cls(
            attempt_id=strawberry.ID(str(attempt.id)),
            attempt_number=attempt.number,
            score=attempt.score or 0.0,
            max_score=attempt.max_score or 0.0,
            percent=attempt.percent or 0.0,
            passed=bool(attempt.passed),
            submitted_at=attempt.submitted_at,
            closed_by_deadline=attempt.closed_by_deadline,
            revealed=revealed,
            questions=results,
        )


@strawberry.type(description="A saved answer, as the learner gave it.")
class SavedAnswer:
    question_id: strawberry.ID
    option_ids: list[strawberry.ID] | None = None
    value: bool | None = None
    text: str | None = None
    number: float | None = None
    ordered_ids: list[strawberry.ID] | None = None
    pairs: list[MatchKey] | None = None


def _saved(question: Question | None, question_id: str, answer: dict[str, Any]) -> SavedAnswer:
    pairs = answer.get("pairs")
    match_id: dict[str, str] = {p.id: p.match_id for p in question.pairs} if question else {}
    return SavedAnswer(
        question_id=strawberry.ID(question_id),
        option_ids=answer.get("option_ids"),
        value=answer.get("value"),
        text=answer.get("text"),
        number=answer.get("number"),
        ordered_ids=answer.get("ordered_ids"),
        # Stored by pair id; shown with the right-hand ids the learner chose from.
        pairs=[
            MatchKey(
                left_id=strawberry.ID(str(left)), right_id=strawberry.ID(match_id.get(str(right), str(right)))
            )
            for left, right in pairs.items()
        ]
        if isinstance(pairs, dict)
        else None,
    )


@strawberry.federation.type(
    keys=["id"], name="Attempt", description="One learner's attempt at an assessment."
)
class AttemptType:
    id: strawberry.ID
    number: int
    status: AttemptStatusEnum  # type: ignore[valid-type]
    started_at: datetime
    deadline: datetime | None = strawberry.field(description="Server-side; null when untimed.")
    submitted_at: datetime | None
    closed_by_deadline: bool
    row: strawberry.Private[Attempt]

    @classmethod
    def from_row(cls, row: Attempt) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            number=row.number,
            status=row.status,
            started_at=row.started_at,
            deadline=row.deadline,
            submitted_at=row.submitted_at,
            closed_by_deadline=row.closed_by_deadline,
            row=row,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        row = await info.context.loaders.attempt_by_id.load(parse_object_id(id))
        return None if row is None else cls.from_row(row)

    @strawberry.field
    async def assessment(self, info: Ctx) -> AssessmentType | None:
        row = await info.context.loaders.assessment_by_id.load(self.row.assessment_id)
        return None if row is None else AssessmentType.from_row(row)

    @strawberry.field
    def user(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.user_id))

    @strawberry.field(description="The questions in this attempt's order, choices in its order; no keys.")
    async def questions(self, info: Ctx) -> list[QuestionType_]:
        assessment = await info.context.loaders.assessment_by_id.load(self.row.assessment_id)
        if assessment is None:
            return []
        by_id = {q.id: q for q in assessment.questions}
        orders = self.row.option_orders
        if any(qid not in orders for qid in self.row.question_order):
            # A question the attempt kept no order for: a fresh one, never the authored one.
            orders = {**info.context.service.display_orders(info.context.actor, assessment), **orders}
        return [
            QuestionType_.present(by_id[qid], assessment, orders[qid])
            for qid in self.row.question_order
            if qid in by_id
        ]

    @strawberry.field
    async def answers(self, info: Ctx) -> list[SavedAnswer]:
        assessment = await info.context.loaders.assessment_by_id.load(self.row.assessment_id)
        questions = {q.id: q for q in assessment.questions} if assessment else {}
        return [_saved(questions.get(qid), qid, answer) for qid, answer in self.row.answers.items()]

    @strawberry.field(description="The score, once submitted.")
    async def result(self, info: Ctx) -> AssessmentResultType | None:
        return await AssessmentResultType.of(info, self.row)


@strawberry.type
class AttemptEdge:
    cursor: str
    node: AttemptType


@strawberry.type
class AttemptConnection:
    edges: list[AttemptEdge]
    page_info: PageInfo


# --- inputs -------------------------------------------------------------------------------------------


@strawberry.input
class OptionInput:
    id: strawberry.ID | None = None
    text: str
    correct: bool = False
    feedback: str | None = None


@strawberry.input
class MatchPairInput:
    id: strawberry.ID | None = None
    prompt: str
    match: str


@strawberry.input(description="A question and its key; only the fields of its type may be set.")
class QuestionInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Keep an existing question's id.")
    type: QuestionTypeEnum  # type: ignore[valid-type]
    prompt: str
    points: float = 1.0
    feedback: str | None = None
    options: list[OptionInput] = strawberry.field(
        default_factory=list, description="Choices, or items in order."
    )
    correct_bool: bool | None = None
    accepted_answers: list[str] = strawberry.field(default_factory=list)
    case_sensitive: bool = False
    numeric_answer: float | None = None
    tolerance: float = 0.0
    pairs: list[MatchPairInput] = strawberry.field(default_factory=list)

    def to_model(self) -> Question:
        """New ids where none is given; a kept question's pairs keep their right-hand ids (the edit's
        decision sees to it, see `decisions.edit_assessment`)."""
        return Question(
            id=str(self.id) if self.id else uuid.uuid4().hex,
            type=self.type,
            prompt=self.prompt,
            points=self.points,
            feedback=self.feedback,
            options=[
                Option(
                    id=str(o.id) if o.id else uuid.uuid4().hex,
                    text=o.text,
                    correct=o.correct,
                    feedback=o.feedback,
                )
                for o in self.options
            ],
            correct_bool=self.correct_bool,
            accepted_answers=self.accepted_answers,
            case_sensitive=self.case_sensitive,
            numeric_answer=self.numeric_answer,
            tolerance=self.tolerance,
            pairs=[
                MatchPair(
                    id=str(p.id) if p.id else uuid.uuid4().hex,
                    prompt=p.prompt,
                    match=p.match,
                    match_id=uuid.uuid4().hex,
                )
                for p in self.pairs
            ],
        )


@strawberry.input
class AssessmentInput:
    title: str | None = None
    instructions: str | None = None
    module_id: strawberry.ID | None = None
    questions: list[QuestionInput] | None = None
    passing_score: float | None = None
    time_limit_seconds: int | None = None
    max_attempts: int | None = None
    score_policy: ScorePolicyEnum | None = None  # type: ignore[valid-type]
    shuffle_questions: bool | None = None
    shuffle_options: bool | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    required_for_completion: bool | None = None
    reveal_policy: RevealPolicyEnum | None = None  # type: ignore[valid-type]
    clear: list[str] = strawberry.field(
        default_factory=list,
        description="Settings to unset: timeLimitSeconds, maxAttempts, availableFrom, availableUntil.",
    )

    def to_draft(self) -> decisions.AssessmentDraft:
        clearable = {
            "timeLimitSeconds": "time_limit_seconds",
            "maxAttempts": "max_attempts",
            "availableFrom": "available_from",
            "availableUntil": "available_until",
        }
        unknown = [name for name in self.clear if name not in clearable]
        if unknown:
            raise BadUserInput(f"Cannot clear {', '.join(unknown)}.", details={"field": "clear"})
        return decisions.AssessmentDraft(
            title=self.title,
            instructions=self.instructions,
            module_id=str(self.module_id) if self.module_id else None,
            questions=None if self.questions is None else [q.to_model() for q in self.questions],
            passing_score=self.passing_score,
            time_limit_seconds=self.time_limit_seconds,
            max_attempts=self.max_attempts,
            score_policy=self.score_policy,
            shuffle_questions=self.shuffle_questions,
            shuffle_options=self.shuffle_options,
            available_from=self.available_from,
            available_until=self.available_until,
            required_for_completion=self.required_for_completion,
            reveal_policy=self.reveal_policy,
            clear={clearable[name] for name in self.clear},
        )


@strawberry.input
class MatchAnswerInput:
    left_id: strawberry.ID
    right_id: strawberry.ID


@strawberry.input(description="An answer: set exactly the field of the question's type.")
class AnswerInput:
    question_id: strawberry.ID
    option_ids: list[strawberry.ID] | None = None
    value: bool | None = None
    text: str | None = None
    number: float | None = None
    ordered_ids: list[strawberry.ID] | None = None
    pairs: list[MatchAnswerInput] | None = None

    def to_raw(self) -> tuple[str, scoring.RawAnswer]:
        return str(self.question_id), scoring.RawAnswer(
            option_ids=None if self.option_ids is None else [str(i) for i in self.option_ids],
            value=self.value,
            text=self.text,
            number=self.number,
            ordered_ids=None if self.ordered_ids is None else [str(i) for i in self.ordered_ids],
            pairs=None if self.pairs is None else [(str(p.left_id), str(p.right_id)) for p in self.pairs],
        )


@strawberry.type
class AssessmentPayload:
    assessment: AssessmentType | None
    errors: list[UserError]


@strawberry.type
class AttemptPayload:
    attempt: AttemptType | None
    errors: list[UserError]
