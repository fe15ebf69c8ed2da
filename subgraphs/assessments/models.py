"""The assessments store (MongoDB): assessments with their questions and keys, and learners' attempts.

Answer keys live in the question documents; they leave the service only through fields guarded by the
reveal policy (see permissions.py). Models stay within FerretDB v1's subset; writes after creation are
update operators guarded by `version` (the relay edits `outbox` concurrently).

Every read of a request finds its documents by `_id` (ADR 0014): an attempt's id is derived from its
assessment, learner and number (`attempt_id`), and a course's `CourseAssessments` document lists its
assessments in the order they were created.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import pymongo
from beanie import Document
from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo import IndexModel

from coursegraph.ids import derived_object_id


class QuestionType(StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    TRUE_FALSE = "true_false"
    SHORT_TEXT = "short_text"
    NUMERIC = "numeric"
    ORDERING = "ordering"
    MATCHING = "matching"


class ScorePolicy(StrEnum):
    BEST = "best"
    LATEST = "latest"


class RevealPolicy(StrEnum):
    """When a learner may see correct answers and per-option feedback (scores are always shown)."""

    AFTER_SUBMISSION = "after_submission"  # as soon as the attempt is submitted
    AFTER_LAST_ATTEMPT = "after_last_attempt"  # once the learner has no attempts left
    AFTER_PASSING = "after_passing"
    AFTER_DUE = "after_due"  # once the availability window has closed
    NEVER = "never"


class Option(BaseModel):
    """A choice (single/multiple choice) or an item to order (ordering)."""

    id: str
    text: str
    correct: bool = False  # choice questions only
    feedback: str | None = None


class MatchPair(BaseModel):
    """Matching: `prompt` (left, id `id`) belongs with `match` (right, id `match_id`).

    Learners pair left ids with right ids; the two ids are unrelated random values, so the pairing
    cannot be read off the ids.
    """

    id: str
    prompt: str
    match: str
    match_id: str = Field(default_factory=lambda: uuid.uuid4().hex)


class Question(BaseModel):
    id: str
    type: QuestionType
    prompt: str
    points: float = 1.0
    feedback: str | None = None  # shown with the result, under the reveal policy
    options: list[Option] = Field(default_factory=list)  # choices, or ordering items in correct order
    correct_bool: bool | None = None  # true/false
    accepted_answers: list[str] = Field(default_factory=list)  # short text
    case_sensitive: bool = False  # short text
    numeric_answer: float | None = None
    tolerance: float = 0.0  # numeric: |given - answer| <= tolerance
    pairs: list[MatchPair] = Field(default_factory=list)  # matching


class Assessment(Document):
    course_id: str
    module_id: str | None = None
    instructor_id: str  # the course's instructor when created: who manages it besides admins
    title: str
    instructions: str = ""
    questions: list[Question] = Field(default_factory=list)
    passing_score: float = 60.0  # percent
    time_limit_seconds: int | None = None
    max_attempts: int | None = None
    score_policy: ScorePolicy = ScorePolicy.BEST
    shuffle_questions: bool = False
    shuffle_options: bool = False
    available_from: datetime | None = None
    available_until: datetime | None = None
    required_for_completion: bool = False
    reveal_policy: RevealPolicy = RevealPolicy.AFTER_SUBMISSION
    version: int = 0
    created_at: datetime
    updated_at: datetime
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "assessments"
        indexes = [
            # The relay's poll for what no write announced (see coursegraph.events.document_outbox).
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            # Whether an instructor authors any assessment (who may look at learners' attempts).
            IndexModel([("instructor_id", pymongo.ASCENDING)]),
        ]

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)


class AttemptStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"


class QuestionResult(BaseModel):
    question_id: str
    points: float
    max_points: float
    outcome: str  # "correct" | "partial" | "incorrect" | "unanswered"


class Attempt(Document):
    assessment_id: str
    course_id: str
    instructor_id: str = ""  # the assessment's, when started: instructors see their courses' attempts
    user_id: str
    number: int  # 1, 2, ... per learner and assessment
    started_at: datetime
    deadline: datetime | None = None
    question_order: list[str] = Field(default_factory=list)
    option_orders: dict[str, list[str]] = Field(default_factory=dict)  # question id -> option ids
    answers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # question id -> normalised answer
    status: AttemptStatus = AttemptStatus.IN_PROGRESS
    submitted_at: datetime | None = None
    closed_by_deadline: bool = False
    score: float | None = None
    max_score: float | None = None
    percent: float | None = None
    passed: bool | None = None
    results: list[QuestionResult] = Field(default_factory=list)
    version: int = 0
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "attempts"
        indexes = [
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            # A user's attempts, newest first: their own, and (with the instructor) an instructor's view.
            IndexModel(
                [
                    ("user_id", pymongo.ASCENDING),
                    ("started_at", pymongo.DESCENDING),
                    ("_id", pymongo.DESCENDING),
                ]
            ),
            IndexModel(
                [
                    ("user_id", pymongo.ASCENDING),
                    ("instructor_id", pymongo.ASCENDING),
                    ("started_at", pymongo.DESCENDING),
                    ("_id", pymongo.DESCENDING),
                ]
            ),
            # The sweeper's query: open attempts by deadline.
            IndexModel([("status", pymongo.ASCENDING), ("deadline", pymongo.ASCENDING)]),
        ]


def attempt_id(assessment_id: str, user_id: str, number: int) -> ObjectId:
    """The id of a learner's attempt number `number` at an assessment: concurrent starts of the same
    number collide on it, and a learner's attempts are found without a query."""
    return derived_object_id("attempt", assessment_id, user_id, str(number))


class CourseAssessments(Document):
    """A course's assessments, in the order they were created.

    Written before the assessment itself, so a crash in between leaves an id with no assessment behind
    it, which readers skip.
    """

    id: str  # type: ignore[assignment]  # the course's id
    assessments: list[str] = Field(default_factory=list)

    class Settings:
        name = "course_assessments"
