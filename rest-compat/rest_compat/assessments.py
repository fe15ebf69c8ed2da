"""The assessment endpoints: read an assessment, submit answers, read one's result.

Each endpoint runs exactly one GraphQL operation through the router; the graph decides who may see and do
what (enrollment, the reveal policy). Answer keys are never requested for an assessment read here, so no
caller gets them from `GET /assessments/{id}`; a result carries `correct_answer` and `feedback` only when
the graph reveals them.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.graph import GraphError, Runner, user_errors

# Runs one GraphQL operation for a REST request (forwarding its credentials); answers `data`.

AssessmentId = Annotated[
    str,
    Path(description="The assessment's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]

# Bounds mirror the assessments service's limits, so an oversized request never reaches the graph.
ANSWERS_MAX = 200  # questions per assessment
ITEMS_MAX = 20  # options, ordering items, matching pairs per question
ANSWER_TEXT_MAX = 1_000
# Question, option and pair ids: what the service mints or accepts (letters, digits, '-', '_').
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

QuestionType = Literal[
    "single_choice", "multiple_choice", "true_false", "short_text", "numeric", "ordering", "matching"
]
Outcome = Literal["correct", "partial", "incorrect", "unanswered"]


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


# --- request bodies -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    # Unknown fields are an error and "1" is not a number; `{"$gt": ""}` is never a valid value anywhere.
    model_config = ConfigDict(extra="forbid", strict=True)


class PairAnswer(_Strict):
    left_id: ItemId = Field(description="A matching question's left-hand item (`match_prompts`).")
    right_id: ItemId = Field(description="The right-hand item (`choices`) paired with it.")


class AnswerRequest(_Strict):
    """One answer: set exactly the field of the question's type (the service refuses any other)."""

    question_id: ItemId
    option_ids: Annotated[list[ItemId], Field(max_length=ITEMS_MAX)] | None = Field(
        None, description="Single or multiple choice: the chosen `choices` ids."
    )
    value: bool | None = Field(None, description="True/false.")
    text: Annotated[str, StringConstraints(max_length=ANSWER_TEXT_MAX)] | None = Field(
        None, description="Short text."
    )
    number: Annotated[float, Field(allow_inf_nan=False)] | None = Field(None, description="Numeric.")
    ordered_ids: Annotated[list[ItemId], Field(max_length=ITEMS_MAX)] | None = Field(
        None, description="Ordering: every item id, in the order given."
    )
    pairs: Annotated[list[PairAnswer], Field(max_length=ITEMS_MAX)] | None = Field(
        None, description="Matching: left-hand ids paired with right-hand ids."
    )

    def to_graph(self) -> dict[str, Any]:
        return {
            "questionId": self.question_id,
            "optionIds": self.option_ids,
            "value": self.value,
            "text": self.text,
            "number": self.number,
            "orderedIds": self.ordered_ids,
            "pairs": None
            if self.pairs is None
            else [{"leftId": pair.left_id, "rightId": pair.right_id} for pair in self.pairs],
        }


class SubmitRequest(_Strict):
    answers: Annotated[list[AnswerRequest], Field(max_length=ANSWERS_MAX)] = Field(
        description="At most one answer per question; a question left out stays unanswered."
    )


# --- response bodies ------------------------------------------------------------------------------------


class Choice(BaseModel):
    id: str
    text: str


class Question(BaseModel):
    id: str
    type: QuestionType
    prompt: str
    points: float
    choices: list[Choice] = Field(
        description="Options, ordering items (not in the answer's order), or a matching question's "
        "right-hand items."
    )
    match_prompts: list[Choice] = Field(description="A matching question's left-hand items.")

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "Question":
        return cls(
            id=node["id"],
            type=node["type"].lower(),
            prompt=node["prompt"],
            points=node["points"],
            choices=[Choice(**choice) for choice in node["choices"]],
            match_prompts=[Choice(**prompt) for prompt in node["matchPrompts"]],
        )


class Assessment(BaseModel):
    id: str
    course_id: str
    module_id: str | None
    title: str
    instructions: str
    passing_score: float = Field(description="Percent needed to pass.")
    time_limit_seconds: int | None
    max_attempts: int | None
    score_policy: Literal["best", "latest"]
    shuffle_questions: bool
    shuffle_options: bool
    available_from: datetime | None
    available_until: datetime | None
    required_for_completion: bool
    reveal_policy: Literal["after_submission", "after_passing", "after_due", "never"]
    max_score: float
    question_count: int
    questions: list[Question] | None = Field(
        description="Without answer keys; null unless the caller is enrolled in the course or manages it."
    )

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "Assessment":
        questions = node["questions"]
        return cls(
            id=node["id"],
            course_id=node["course"]["id"],
            module_id=node["moduleId"],
            title=node["title"],
            instructions=node["instructions"],
            passing_score=node["passingScore"],
            time_limit_seconds=node["timeLimitSeconds"],
            max_attempts=node["maxAttempts"],
            score_policy=node["scorePolicy"].lower(),
            shuffle_questions=node["shuffleQuestions"],
            shuffle_options=node["shuffleOptions"],
            available_from=node["availableFrom"],
            available_until=node["availableUntil"],
            required_for_completion=node["requiredForCompletion"],
            reveal_policy=node["revealPolicy"].lower(),
            max_score=node["maxScore"],
            question_count=node["questionCount"],
            questions=None if questions is None else [Question.from_graph(q) for q in questions],
        )


class MatchPair(BaseModel):
    left_id: str
    right_id: str


class CorrectAnswer(BaseModel):
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

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "CorrectAnswer":
        pairs, option_feedback = node["pairs"], node["optionFeedback"]
        return cls(
            correct_option_ids=node["correctOptionIds"],
            correct_bool=node["correctBool"],
            accepted_answers=node["acceptedAnswers"],
            case_sensitive=node["caseSensitive"],
            numeric_answer=node["numericAnswer"],
            tolerance=node["tolerance"],
            correct_order=node["correctOrder"],
            pairs=None
            if pairs is None
            else [MatchPair(left_id=p["leftId"], right_id=p["rightId"]) for p in pairs],
            feedback=node["feedback"],
            option_feedback=None if option_feedback is None else [Choice(**c) for c in option_feedback],
        )


class QuestionResult(BaseModel):
    question_id: str
    points: float
    max_points: float
    outcome: Outcome
    feedback: str | None = Field(description="Null until the reveal policy allows.")
    correct_answer: CorrectAnswer | None = Field(description="Null until the reveal policy allows.")

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "QuestionResult":
        key = node["correctAnswer"]
        return cls(
            question_id=node["questionId"],
            points=node["points"],
            max_points=node["maxPoints"],
            outcome=node["outcome"].lower(),
            feedback=node["feedback"],
            correct_answer=None if key is None else CorrectAnswer.from_graph(key),
        )


class AssessmentResult(BaseModel):
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

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "AssessmentResult":
        return cls(
            attempt_id=node["attemptId"],
            attempt_number=node["attemptNumber"],
            score=node["score"],
            max_score=node["maxScore"],
            percent=node["percent"],
            passed=node["passed"],
            submitted_at=node["submittedAt"],
            closed_by_deadline=node["closedByDeadline"],
            revealed=node["revealed"],
            questions=[QuestionResult.from_graph(q) for q in node["questions"]],
        )


class Attempt(BaseModel):
    id: str
    assessment_id: str
    number: int
    status: Literal["in_progress", "submitted"]
    started_at: datetime
    deadline: datetime | None
    submitted_at: datetime | None
    closed_by_deadline: bool
    result: AssessmentResult | None

    @classmethod
    def from_graph(cls, node: dict[str, Any], assessment_id: str) -> "Attempt":
        assessment, result = node["assessment"], node["result"]
        return cls(
            id=node["id"],
            assessment_id=assessment["id"] if assessment else assessment_id,
            number=node["number"],
            status=node["status"].lower(),
            started_at=node["startedAt"],
            deadline=node["deadline"],
            submitted_at=node["submittedAt"],
            closed_by_deadline=node["closedByDeadline"],
            result=None if result is None else AssessmentResult.from_graph(result),
        )


# --- errors ---------------------------------------------------------------------------------------------


# --- the endpoints --------------------------------------------------------------------------------------


def assessments_router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["assessments"])

    @router.get(
        "/assessments/{assessment_id}",
        summary="An assessment's settings and questions (never answer keys; questions only for enrolled "
        "learners and the course's managers)",
    )
    async def get_assessment(request: Request, assessment_id: AssessmentId) -> Envelope[Assessment]:
        data = await run(request, ASSESSMENT, {"id": assessment_id})
        if data["assessment"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Assessment not found.")
        return Envelope.ok(Assessment.from_graph(data["assessment"]))

    @router.post(
        "/assessments/{assessment_id}/submit",
        status_code=201,
        summary="Submit answers (enrolled learners): submits the open attempt, or starts and submits a new "
        "one; answers with the scored attempt",
        description="201 with the submitted attempt and its result. 400 when an answer does not fit its "
        "question (`details.fields`; nothing is recorded), 403 when not enrolled, 404 when there is no such "
        "assessment, 409 with `details.reason` ATTEMPTS_EXHAUSTED, NOT_YET_AVAILABLE, CLOSED or "
        "NO_QUESTIONS.",
    )
    async def submit(request: Request, assessment_id: AssessmentId, body: SubmitRequest) -> Envelope[Attempt]:
        variables = {"assessmentId": assessment_id, "answers": [answer.to_graph() for answer in body.answers]}
        data = await run(request, SUBMIT_ANSWERS, variables)
        payload = data["submitAnswers"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="answers")
        return Envelope.ok(Attempt.from_graph(payload["attempt"], assessment_id.lower()))

    @router.get(
        "/assessments/{assessment_id}/result",
        summary="The caller's result: the attempt that counts under the score policy (best or latest)",
        description="Correct answers and feedback only as the reveal policy allows. 404 when the caller has "
        "no submitted attempt (or there is no such assessment).",
    )
    async def get_result(request: Request, assessment_id: AssessmentId) -> Envelope[AssessmentResult]:
        data = await run(request, ASSESSMENT_RESULT, {"id": assessment_id})
        if data["assessmentResult"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "No result for this assessment yet.")
        return Envelope.ok(AssessmentResult.from_graph(data["assessmentResult"]))

    return router
