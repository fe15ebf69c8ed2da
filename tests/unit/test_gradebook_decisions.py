"""The gradebook's decisions without a store: results by attempt number, weights, and the course grade."""

from datetime import UTC, datetime, timedelta

import pytest

from coursegraph.codes import FieldCode
from coursegraph.errors import BadUserInput, ValidationFailed
from subgraphs.courses import gradebook_decisions as decide
from subgraphs.courses.gradebook_decisions import GradebookSort, GradeStatus, LearnerGrade
from subgraphs.courses.models import CourseGrading, GradedAssessment, GradeRecord, ScorePolicy

T0 = datetime(2031, 3, 1, 12, tzinfo=UTC)
QUIZ = GradedAssessment(id="quiz", title="Quiz", score_policy=ScorePolicy.BEST, max_score=10)
EXAM = GradedAssessment(id="exam", title="Exam", score_policy=ScorePolicy.LATEST, max_score=20)
ESSAY = GradedAssessment(id="essay", title="Essay", max_score=5)


def grading(**weights: float) -> CourseGrading:
    built: CourseGrading = CourseGrading.model_construct(
        id="c", assessments=[QUIZ, EXAM, ESSAY], weights=weights, version=1
    )
    return built


def record(*results: tuple[str, int, float, datetime], excused: tuple[str, ...] = ()) -> GradeRecord:
    state: GradeRecord = GradeRecord.model_construct(
        id="r", course_id="c", user_id="u", results={}, excused=list(excused), version=1
    )
    for assessment_id, attempt, percent, at in results:
        decision = decide.record_result(
            state, assessment_id, attempt=attempt, percent=percent, submitted_at=at
        )
        assert decision is not None
        state = decision.state
    return state


def test_best_and_last_follow_attempt_numbers_whatever_the_order_of_arrival() -> None:
    in_order = record(("exam", 1, 80, T0), ("exam", 2, 40, T0 + timedelta(hours=1)), ("exam", 3, 60, T0))
    late_first = record(("exam", 3, 60, T0), ("exam", 1, 80, T0), ("exam", 2, 40, T0 + timedelta(hours=1)))
    for state in (in_order, late_first):
        result = state.results["exam"]
        assert (result.best_attempt, result.best_percent) == (1, 80)
        assert (result.last_attempt, result.last_percent) == (3, 60)
        assert result.attempts == [1, 2, 3]


def test_a_redelivered_result_changes_nothing() -> None:
    state = record(("quiz", 1, 50, T0))
    assert decide.record_result(state, "quiz", attempt=1, percent=50, submitted_at=T0) is None
    # Even if it claimed another score: the attempt is recorded already.
    assert decide.record_result(state, "quiz", attempt=1, percent=90, submitted_at=T0) is None


def test_best_keeps_the_earliest_attempt_on_ties() -> None:
    state = record(("quiz", 2, 70, T0 + timedelta(hours=2)), ("quiz", 1, 70, T0))
    assert state.results["quiz"].best_attempt == 1
    assert state.results["quiz"].best_submitted_at == T0


def test_the_course_grade_is_the_weighted_average_by_each_score_policy() -> None:
    # quiz: best of 50, 90 -> 90; exam: latest of 80, 60 -> 60; essay: never attempted, no due time.
    state = record(("quiz", 1, 50, T0), ("quiz", 2, 90, T0), ("exam", 1, 80, T0), ("exam", 2, 60, T0))
    graded = decide.grade(grading(quiz=1, exam=3), "u", state, {}, T0)
    # (1 * 90 + 3 * 60) / 4; the missing essay is not due, so not counted.
    assert graded.course_grade == 67.5
    assert [c.status for c in graded.cells] == [GradeStatus.GRADED, GradeStatus.GRADED, GradeStatus.MISSING]
    assert [c.score for c in graded.cells] == [90, 60, None]
    assert [c.attempts for c in graded.cells] == [2, 2, 0]


def test_a_missing_attempt_counts_zero_once_the_learners_due_time_has_passed() -> None:
    state = record(("quiz", 1, 90, T0), ("exam", 1, 60, T0))
    due = {"essay": T0 + timedelta(days=1)}
    before = decide.grade(grading(), "u", state, due, T0)
    after = decide.grade(grading(), "u", state, due, T0 + timedelta(days=2))
    assert before.course_grade == 75  # (90 + 60) / 2
    assert after.course_grade == 50  # (90 + 60 + 0) / 3
    assert after.cells[2].status is GradeStatus.MISSING and after.cells[2].score is None


def test_late_is_after_the_learners_own_due_time_and_still_counts() -> None:
    state = record(("quiz", 1, 80, T0 + timedelta(hours=2)))
    on_time = decide.grade(grading(), "u", state, {"quiz": T0 + timedelta(hours=3)}, T0)
    late = decide.grade(grading(), "u", state, {"quiz": T0 + timedelta(hours=1)}, T0)
    assert on_time.cells[0].status is GradeStatus.GRADED
    assert late.cells[0].status is GradeStatus.LATE and late.course_grade == 80


def test_excused_is_left_out_and_nothing_counted_is_no_grade() -> None:
    state = record(("quiz", 1, 20, T0), ("exam", 1, 100, T0), excused=("quiz",))
    graded = decide.grade(grading(), "u", state, {}, T0)
    assert graded.cells[0].status is GradeStatus.EXCUSED and graded.course_grade == 100
    assert decide.grade(grading(), "u", None, {}, T0).course_grade is None
    # Only weight-0 results count: no grade rather than a division by zero.
    assert decide.grade(grading(exam=0, quiz=0), "u", state, {}, T0).course_grade is None


def test_excuse_toggles_once() -> None:
    state = record()
    excused = decide.excuse(state, "quiz", excused=True)
    assert excused is not None and excused.state.excused == ["quiz"]
    assert decide.excuse(excused.state, "quiz", excused=True) is None
    again = decide.excuse(excused.state, "quiz", excused=False)
    assert again is not None and again.state.excused == []


def test_bad_weights_are_refused_all_at_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        decide.set_weights(
            grading(),
            [("quiz", -1), ("nope", 1), ("exam", float("nan")), ("exam", 2), ("essay", 1001)],
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("weights.0.weight", FieldCode.OUT_OF_RANGE),
        ("weights.1.assessmentId", FieldCode.UNKNOWN_ID),
        ("weights.2.weight", FieldCode.NOT_FINITE),
        ("weights.3.assessmentId", FieldCode.DUPLICATE),
        ("weights.4.weight", FieldCode.OUT_OF_RANGE),
    ]
    assert decide.set_weights(grading(), [("quiz", 2)]).state.weights == {"quiz": 2}


def test_columns_are_added_in_order_and_updated_in_place() -> None:
    empty = CourseGrading.model_construct(id="c", assessments=[], weights={}, version=0)
    first = decide.learn_assessment(empty, QUIZ)
    assert first is not None
    second = decide.learn_assessment(first.state, EXAM)
    assert second is not None
    renamed = decide.learn_assessment(second.state, QUIZ.model_copy(update={"title": "Quiz 1"}))
    assert renamed is not None and [a.title for a in renamed.state.assessments] == ["Quiz 1", "Exam"]
    assert decide.learn_assessment(renamed.state, EXAM) is None


def test_sorting_by_grade_puts_learners_without_one_last_and_pages_by_cursor() -> None:
    grades = [
        LearnerGrade("a", 50, []),
        LearnerGrade("b", None, []),
        LearnerGrade("c", 90, []),
        LearnerGrade("d", 50, []),
    ]
    ascending = decide.sorted_grades(grades, GradebookSort.GRADE_ASC)
    descending = decide.sorted_grades(grades, GradebookSort.GRADE_DESC)
    assert [g.user_id for g in ascending] == ["a", "d", "c", "b"]
    assert [g.user_id for g in descending] == ["c", "a", "d", "b"]
    order = [g.user_id for g in ascending]
    assert decide.page_after(order, decide.encode_cursor("d")) == 2
    with pytest.raises(BadUserInput):
        decide.page_after(order, decide.encode_cursor("z"))
    with pytest.raises(BadUserInput):
        decide.page_after(order, "%%%")
