"""The assessment endpoints: read an assessment, submit answers, read one's result.

Each endpoint runs exactly one GraphQL operation through the router; the graph decides who may see and do
what (enrollment, the reveal policy). Answer keys are never requested for an assessment read here, so no
caller gets them from `GET /assessments/{id}`; a result carries `correct_answer` and `feedback` only when
the graph reveals them.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import AliasPath, ConfigDict, Field, StringConstraints, ValidationInfo, model_validator

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.limits import ANSWER_TEXT_MAX, ITEMS_MAX, QUESTIONS_MAX
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    responses,
    text_rules,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

ASSESSMENT_FIELDS = """
  id title instructions moduleId passingScore timeLimitSeconds maxAttempts scorePolicy
  shuffleQuestions shuffleOptions availableFrom availableUntil requiredForCompletion revealPolicy
  maxScore questionCount
  course { id }
  questions { id type prompt points choices { id text } matchPrompts { id text } }"""

KEY_FIELDS = """
  correctOptionIds correctBool acceptedAnswers caseSensitive numericAnswer tolerance correctOrder
  pairs { leftId rightId } feedback optionFeedback { id text }"""

RESULT_FIELDS = f"""
  attemptId attemptNumber score maxScore percent passed submittedAt closedByDeadline revealed
  questions {{ questionId points maxPoints outcome feedback correctAnswer {{ {KEY_FIELDS} }} }}"""

ATTEMPT_FIELDS = f"""
  id number status startedAt deadline submittedAt closedByDeadline
  assessment {{ id }}
  result {{ {RESULT_FIELDS} }}"""

ASSESSMENT = f"""
query RestAssessment($id: ID!) {{ assessment(id: $id) {{ {ASSESSMENT_FIELDS} }} }}"""

SUBMIT_ANSWERS = f"""
mutation RestSubmitAnswers($assessmentId: ID!, $answers: [AnswerInput!]!) {{
  submitAnswers(assessmentId: $assessmentId, answers: $answers) {{
    attempt {{ {ATTEMPT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

ASSESSMENT_RESULT = f"""
query RestAssessmentResult($id: ID!) {{ assessmentResult(id: $id) {{ {RESULT_FIELDS} }} }}"""


# --- request and response bodies ------------------------------------------------------------------------
# Bounds are the assessments service's limits (coursegraph.limits), so an oversized request never reaches
# the graph: an answer per question at most, and an answer's items (options, ordering items, matching pairs)
# at most a question's.

# Question, option and pair ids: what the service mints or accepts (letters, digits, '-', '_').
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

QuestionType = Literal[
    "single_choice", "multiple_choice", "true_false", "short_text", "numeric", "ordering", "matching"
]
Outcome = Literal["correct", "partial", "incorrect", "unanswered"]
ScorePolicy = Literal["best", "latest"]
RevealPolicy = Literal["after_submission", "after_last_attempt", "after_passing", "after_due", "never"]
AttemptStatus = Literal["in_progress", "submitted"]

AssessmentId = Annotated[
    str,
    Path(description="The assessment's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]


class PairAnswer(GraphInput):
    left_id: ItemId = Field(description="A matching question's left-hand item (`match_prompts`).")
    right_id: ItemId = Field(description="The right-hand item (`choices`) paired with it.")


# The answer fields, with their JSON type when given (each may also be null: not given).
ANSWER_TYPES = {
    "option_ids": "array",
    "value": "boolean",
    "text": "string",
    "number": "number",
    "ordered_ids": "array",
    "pairs": "array",
}
ANSWER_FIELDS = tuple(ANSWER_TYPES)
# Exactly one answer field is given and not null. (Said with each field's type rather than as
# `not: {type: null}`: the same set, which schemathesis' coverage phase walks ten times faster.)
ONE_ANSWER: dict[str, Any] = {
    "oneOf": [
        {"required": [name], "properties": {name: {"type": json_type}}}
        for name, json_type in ANSWER_TYPES.items()
    ]
}


def _ids(description: str) -> Any:
    """A non-empty list of distinct item ids."""
    return Field(
        None,
        min_length=1,
        max_length=ITEMS_MAX,
        description=description,
        json_schema_extra={"uniqueItems": True},
    )


class AnswerRequest(GraphInput):
    """One answer: exactly one answer field, the one of the question's type (the service refuses any
    other)."""

    model_config = ConfigDict(json_schema_extra=ONE_ANSWER)

    question_id: ItemId
    option_ids: list[ItemId] | None = _ids("Single or multiple choice: the chosen `choices` ids, each once.")
    value: bool | None = Field(None, description="True/false.")
    text: Annotated[str, text_rules(ANSWER_TEXT_MAX, required=True, line_breaks=True)] | None = Field(
        None, description="Short text."
    )
    number: Annotated[float, Field(allow_inf_nan=False)] | None = Field(None, description="Numeric.")
    ordered_ids: list[ItemId] | None = _ids("Ordering: every item id, in the order given, each once.")
    pairs: Annotated[list[PairAnswer], Field(min_length=1, max_length=ITEMS_MAX)] | None = Field(
        None, description="Matching: left-hand ids paired with right-hand ids, each id once."
    )

    @model_validator(mode="after")
    def one_answer(self) -> "AnswerRequest":
        given = [name for name in ANSWER_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(ANSWER_FIELDS)}")
        for ids in (self.option_ids, self.ordered_ids):
            if ids is not None and len(set(ids)) != len(ids):
                raise ValueError("give each id once")
        return self


class SubmitRequest(GraphInput):
    answers: Annotated[list[AnswerRequest], Field(max_length=QUESTIONS_MAX)] = Field(
        description="At most one answer per question of the assessment (`question_id` as "
        "`GET /assessments/{assessment_id}` lists them), each of the question's type and naming its "
        "items; a question left out stays unanswered. An answer that does not fit its question is a 400 "
        "naming it (`details.fields`)."
    )


class Choice(GraphOutput):
    id: str
    text: str


class Question(GraphOutput):
    id: str
    type: Annotated[QuestionType, FromGraphEnum]
    prompt: str
    points: float
    choices: list[Choice] = Field(
        description="Options, ordering items (not in the answer's order), or a matching question's "
        "right-hand items."
    )
    match_prompts: list[Choice] = Field(description="A matching question's left-hand items.")


class Assessment(GraphOutput):
    id: str
    course_id: str = Field(validation_alias=AliasPath("course", "id"))
    module_id: str | None
    title: str
    instructions: str
    passing_score: float = Field(description="Percent needed to pass.")
    time_limit_seconds: int | None
    max_attempts: int | None
    score_policy: Annotated[ScorePolicy, FromGraphEnum]
    shuffle_questions: bool
    shuffle_options: bool
    available_from: datetime | None
    available_until: datetime | None
    required_for_completion: bool
    reveal_policy: Annotated[RevealPolicy, FromGraphEnum]
    max_score: float
    question_count: int
    questions: list[Question] | None = Field(
        description="Without answer keys; null unless the caller is enrolled in the course or manages it."
    )


class MatchPair(GraphOutput):
    left_id: str
    right_id: str


class CorrectAnswer(GraphOutput):
    """A question's answer key, as the reveal policy shows it; only the fields of its type are set."""

    correct_option_ids: list[str] | None
    correct_bool: bool | None
    accepted_answers: list[str] | None
    case_sensitive: bool | None
    numeric_answer: float | None
    tolerance: float | None
    correct_order: list[str] | None
    pairs: list[MatchPair] | None
    feedback: str | None
    option_feedback: list[Choice] | None


class QuestionResult(GraphOutput):
    question_id: str
    points: float
    max_points: float
    outcome: Annotated[Outcome, FromGraphEnum]
    feedback: str | None = Field(description="Null until the reveal policy allows.")
    correct_answer: CorrectAnswer | None = Field(description="Null until the reveal policy allows.")


class AssessmentResult(GraphOutput):
    attempt_id: str
    attempt_number: int
    score: float
    max_score: float
    percent: float
    passed: bool
    submitted_at: datetime
    closed_by_deadline: bool = Field(description="Submitted by the server when time ran out.")
    revealed: bool = Field(description="Whether correct answers and feedback are shown.")
    questions: list[QuestionResult]


class Attempt(GraphOutput):
    id: str
    assessment_id: str = Field(validation_alias=AliasPath("assessment", "id"))
    number: int
    status: Annotated[AttemptStatus, FromGraphEnum]
    started_at: datetime
    deadline: datetime | None
    submitted_at: datetime | None
    closed_by_deadline: bool
    result: AssessmentResult | None

    @model_validator(mode="before")
    @classmethod
    def requested_assessment_when_gone(cls, node: Any, info: ValidationInfo) -> Any:
        # `assessment` is null once the assessment is deleted; the attempt still names the assessment the
        # request gave (`context={"assessment_id": ...}`).
        if isinstance(node, dict) and node.get("assessment") is None and info.context:
            return {**node, "assessment": {"id": info.context["assessment_id"]}}
        return node


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["assessments"])

    @router.get(
        "/assessments/{assessment_id}",
        summary="An assessment's settings and questions (never answer keys; questions only for enrolled "
        "learners and the course's managers)",
        responses=responses(404),
        openapi_extra=SIGNED_IN,
    )
    async def get_assessment(request: Request, assessment_id: AssessmentId) -> Envelope[Assessment]:
        data = await run(request, ASSESSMENT, {"id": assessment_id})
        if data["assessment"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Assessment not found.")
        return Envelope.ok(Assessment.model_validate(data["assessment"]))

    @router.post(
        "/assessments/{assessment_id}/submit",
        status_code=201,
        summary="Submit answers (enrolled learners): submits the open attempt, or starts and submits a new "
        "one; answers with the scored attempt",
        description="201 with the submitted attempt and its result. 400 when an answer does not fit its "
        "question (`details.fields`; nothing is recorded), 403 when not enrolled, 404 when there is no such "
        "assessment, 409 with `details.reason` ATTEMPTS_EXHAUSTED, NOT_YET_AVAILABLE, CLOSED or "
        "NO_QUESTIONS.",
        responses=responses(403, 404, 409, 413),
        openapi_extra=SIGNED_IN,
    )
    async def submit(request: Request, assessment_id: AssessmentId, body: SubmitRequest) -> Envelope[Attempt]:
        variables = {"assessmentId": assessment_id, **body.to_graph()}
        data = await run(request, SUBMIT_ANSWERS, variables)
        payload = data["submitAnswers"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="answers")
        context = {"assessment_id": assessment_id.lower()}
        return Envelope.ok(Attempt.model_validate(payload["attempt"], context=context))

    @router.get(
        "/assessments/{assessment_id}/result",
        summary="The caller's result: the attempt that counts under the score policy (best or latest)",
        description="Correct answers and feedback only as the reveal policy allows. 404 when the caller has "
        "no submitted attempt (or there is no such assessment).",
        responses=responses(404),
        openapi_extra=SIGNED_IN,
    )
    async def get_result(request: Request, assessment_id: AssessmentId) -> Envelope[AssessmentResult]:
        data = await run(request, ASSESSMENT_RESULT, {"id": assessment_id})
        if data["assessmentResult"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "No result for this assessment yet.")
        return Envelope.ok(AssessmentResult.model_validate(data["assessmentResult"]))

    return router
