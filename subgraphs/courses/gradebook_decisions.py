"""The gradebook's decisions (issue 17, ADR 0031 "Gradebook"): pure functions, no store, no clock.

What a result, a new or changed assessment, a grading policy or an excuse does to the stored documents,
and how a learner's course grade is computed from their record, the course's assessments, their weights
and the learner's due times. Unit tests call these without a store (tests/unit/test_gradebook_decisions.py).
"""

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coursegraph.codes import FieldCode
from coursegraph.errors import BadUserInput, FieldError, ValidationFailed
from coursegraph.limits import GRADE_WEIGHT_MAX
from coursegraph.unit_of_work import Decision
from subgraphs.courses.models import (
    AssessmentResult,
    CourseGrading,
    GradedAssessment,
    GradeRecord,
    ScorePolicy,
)

# An assessment no policy names weighs this much: equal weights by default.
DEFAULT_WEIGHT = 1.0


class GradeStatus(StrEnum):
    GRADED = "GRADED"
    LATE = "LATE"  # the counted attempt was submitted after the learner's due time (counted all the same)
    MISSING = "MISSING"  # no attempt: 0 once the learner's due time has passed, else not counted
    EXCUSED = "EXCUSED"  # left out of the average


class GradebookSort(StrEnum):
    LEARNER = "LEARNER"  # the roster's order: oldest enrollment first
    GRADE_ASC = "GRADE_ASC"
    GRADE_DESC = "GRADE_DESC"


# --- what events and requests change --------------------------------------------------------------------


def learn_assessment(grading: CourseGrading, assessment: GradedAssessment) -> Decision[CourseGrading] | None:
    """The course's columns with this assessment added (at the end) or updated in place."""
    columns = list(grading.assessments)
    known = next((i for i, a in enumerate(columns) if a.id == assessment.id), None)
    if known is None:
        columns.append(assessment)
    elif columns[known] == assessment:
        return None
    else:
        columns[known] = assessment
    return Decision(grading.model_copy(update={"assessments": columns}))


def record_result(
    record: GradeRecord, assessment_id: str, *, attempt: int, percent: float, submitted_at: datetime
) -> Decision[GradeRecord] | None:
    """The record with one attempt's result: nothing when that attempt is recorded already (a redelivered
    event). The last result is the highest attempt number's, whatever order the events arrive in; the
    best is the highest percent, the earliest attempt on ties (as the assessments service counts)."""
    before = record.results.get(assessment_id)
    if before is not None and attempt in before.attempts:
        return None
    if before is None:
        result = AssessmentResult(
            attempts=[attempt],
            best_attempt=attempt,
            best_percent=percent,
            best_submitted_at=submitted_at,
            last_attempt=attempt,
            last_percent=percent,
            last_submitted_at=submitted_at,
        )
    else:
        result = before.model_copy(update={"attempts": sorted([*before.attempts, attempt])})
        if (percent, -attempt) > (before.best_percent, -before.best_attempt):
            result = result.model_copy(
                update={"best_attempt": attempt, "best_percent": percent, "best_submitted_at": submitted_at}
            )
        if attempt > before.last_attempt:
            result = result.model_copy(
                update={"last_attempt": attempt, "last_percent": percent, "last_submitted_at": submitted_at}
            )
    return Decision(record.model_copy(update={"results": {**record.results, assessment_id: result}}))


def set_weights(grading: CourseGrading, weights: Sequence[tuple[str, float]]) -> Decision[CourseGrading]:
    """The course's weights replaced by these (an assessment not named weighs `DEFAULT_WEIGHT`). Every
    error at once, and nothing changes with any: a weight is a finite number from 0 to the maximum, of an
    assessment of the course, named once."""
    known = {a.id for a in grading.assessments}
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, (assessment_id, weight) in enumerate(weights):
        where = f"weights.{index}"
        if assessment_id not in known:
            errors.append(
                FieldError(f"{where}.assessmentId", FieldCode.UNKNOWN_ID, "Not an assessment of this course.")
            )
        elif assessment_id in seen:
            errors.append(FieldError(f"{where}.assessmentId", FieldCode.DUPLICATE, "One weight each."))
        seen.add(assessment_id)
        if not math.isfinite(weight):
            errors.append(FieldError(f"{where}.weight", FieldCode.NOT_FINITE, "A weight is a number."))
        elif not 0 <= weight <= GRADE_WEIGHT_MAX:
            errors.append(
                FieldError(
                    f"{where}.weight", FieldCode.OUT_OF_RANGE, f"A weight is from 0 to {GRADE_WEIGHT_MAX}."
                )
            )
    if errors:
        raise ValidationFailed(errors)
    return Decision(grading.model_copy(update={"weights": dict(weights)}))


def excuse(record: GradeRecord, assessment_id: str, *, excused: bool) -> Decision[GradeRecord] | None:
    if (assessment_id in record.excused) == excused:
        return None
    rest = [a for a in record.excused if a != assessment_id]
    return Decision(record.model_copy(update={"excused": [*rest, assessment_id] if excused else rest}))


# --- the course grade ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    assessment: GradedAssessment
    status: GradeStatus
    score: float | None  # percent of the attempt that counts (by the score policy), if any
    attempts: int
    submitted_at: datetime | None  # of the attempt that counts
    due_at: datetime | None  # the learner's due time (their extension, if any)
    counted: float | None  # what enters the average (None: left out)


@dataclass(frozen=True)
class LearnerGrade:
    user_id: str
    course_grade: float | None  # percent; None while nothing counts
    cells: list[Cell]


def weight_of(grading: CourseGrading, assessment_id: str) -> float:
    return grading.weights.get(assessment_id, DEFAULT_WEIGHT)


def cell(
    assessment: GradedAssessment,
    result: AssessmentResult | None,
    *,
    excused: bool,
    due: datetime | None,
    now: datetime,
) -> Cell:
    if result is None:
        score, submitted_at, attempts = None, None, 0
    elif assessment.score_policy is ScorePolicy.LATEST:
        score, submitted_at, attempts = result.last_percent, result.last_submitted_at, len(result.attempts)
    else:
        score, submitted_at, attempts = result.best_percent, result.best_submitted_at, len(result.attempts)
    if excused:
        status, counted = GradeStatus.EXCUSED, None
    elif score is None:
        # Not yet due (or never due): not counted; past the learner's due time: a zero.
        status, counted = GradeStatus.MISSING, (0.0 if due is not None and due <= now else None)
    elif due is not None and submitted_at is not None and submitted_at > due:
        status, counted = GradeStatus.LATE, score
    else:
        status, counted = GradeStatus.GRADED, score
    return Cell(assessment, status, score, attempts, submitted_at, due, counted)


def grade(
    grading: CourseGrading,
    user_id: str,
    record: GradeRecord | None,
    due: Mapping[str, datetime],
    now: datetime,
) -> LearnerGrade:
    """A learner's cells and course grade: the weighted average of what counts (`Cell.counted`), None
    when nothing counts or everything that counts weighs 0. `due` is their due time per assessment."""
    results = {} if record is None else record.results
    excused = set() if record is None else set(record.excused)
    cells = [
        cell(a, results.get(a.id), excused=a.id in excused, due=due.get(a.id), now=now)
        for a in grading.assessments
    ]
    weighted = [(weight_of(grading, c.assessment.id), c.counted) for c in cells if c.counted is not None]
    total = sum(weight for weight, _ in weighted)
    course_grade = sum(w * v for w, v in weighted) / total if total > 0 else None
    return LearnerGrade(user_id, None if course_grade is None else round(course_grade, 2), cells)


def sorted_grades(grades: Sequence[LearnerGrade], sort: GradebookSort) -> list[LearnerGrade]:
    """In the order asked: the roster's, or by course grade (ties in the roster's order); learners with
    no grade yet come last either way."""
    if sort is GradebookSort.LEARNER:
        return list(grades)
    graded = [g for g in grades if g.course_grade is not None]
    ungraded = [g for g in grades if g.course_grade is None]
    # sorted() is stable: ties keep the roster's order.
    graded.sort(key=lambda g: g.course_grade or 0.0, reverse=sort is GradebookSort.GRADE_DESC)
    return graded + ungraded


# --- gradebook cursors ---------------------------------------------------------------------------------
# A page starts after the learner the cursor names, in the order asked (the learner's place is found
# afresh, so a grade that changed between pages moves them, as any live ranking does).

CURSOR_MAX = 200


def encode_cursor(user_id: str) -> str:
    return base64.urlsafe_b64encode(user_id.encode()).decode()


def decode_cursor(cursor: str) -> str:
    invalid = BadUserInput("`after` is not a cursor this API returned.", details={"field": "after"})
    if len(cursor) > CURSOR_MAX:
        raise invalid
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise invalid from exc


def page_after(user_ids: Sequence[str], after: str | None) -> int:
    """Where a page starts in `user_ids` (an index) after the cursor `after`."""
    if after is None:
        return 0
    user_id = decode_cursor(after)
    try:
        return user_ids.index(user_id) + 1
    except ValueError as exc:
        raise BadUserInput("`after` names no learner of this gradebook.", details={"field": "after"}) from exc
