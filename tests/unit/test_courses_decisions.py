"""The courses domain's decisions (subgraphs/courses/decisions.py), with no store: what each decides, what
it announces, and what it refuses."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from coursegraph import limits
from coursegraph.errors import Conflict, NotFound, ValidationFailed
from coursegraph.unit_of_work import Decision, changed_fields
from subgraphs.courses import decisions
from subgraphs.courses.decisions import LessonDraft, ModuleDraft
from subgraphs.courses.models import Course, CourseStatus, Enrollment, EnrollmentStatus, Lesson, Module

NOW = datetime(2031, 6, 1, tzinfo=UTC)
LATER = datetime(2031, 6, 2, tzinfo=UTC)


def course(
    status: CourseStatus = CourseStatus.PUBLISHED, lessons: int = 2, required: list[str] | None = None
) -> Course:
    modules = [
        Module(
            id="m1",
            title="One",
            order=1,
            lessons=[Lesson(id=f"l{i}", title=f"L{i}", order=i, content=f"Body {i}") for i in range(lessons)],
        )
    ]
    built: Course = Course.model_construct(
        id=ObjectId(),
        title="Graphs",
        instructor_id="teacher",
        status=status,
        modules=modules,
        lesson_count=lessons,
        required_assessments=required or [],
        created_at=NOW,
        updated_at=NOW,
        version=3,
    )
    return built


def enrollment(of: Course, **fields: Any) -> Enrollment:
    built: Enrollment = Enrollment.model_construct(
        id=ObjectId(), user_id="learner", course_id=str(of.id), enrolled_at=NOW, version=5, **fields
    )
    return built


def event_types(decision: Decision[Any]) -> list[str]:
    return [json.loads(entry["payload"])["event_type"] for entry in decision.events]


# --- courses --------------------------------------------------------------------------------------


def test_a_new_course_is_a_draft_with_its_outline_counted_and_announced() -> None:
    drafts = [ModuleDraft(None, " One ", [LessonDraft(None, "Hi", "Body", "media:" + "a" * 24)])]
    decided = decisions.new_course(
        instructor_id="teacher", title=" Graphs ", description="", modules=drafts, now=NOW
    )
    assert decided.state.title == "Graphs" and decided.state.status is CourseStatus.DRAFT
    assert decided.state.lesson_count == 1 and decided.state.modules[0].title == "One"
    assert event_types(decided) == ["COURSE_CREATED"]


def test_a_bad_outline_is_refused_field_by_field() -> None:
    drafts = [ModuleDraft("not-ours", "", [LessonDraft(None, "x", "y", "ftp://nope")])]
    with pytest.raises(ValidationFailed) as refused:
        decisions.new_course(instructor_id="t", title="", description="", modules=drafts, now=NOW)
    assert sorted(error.field for error in refused.value.errors) == [
        "modules.0.id",
        "modules.0.lessons.0.mediaUrl",
        "modules.0.title",
        "title",
    ]


def test_an_edit_changes_what_it_names_keeps_lesson_ids_and_says_what_changed() -> None:
    before = course()
    drafts = [ModuleDraft("m1", "One", [LessonDraft("l1", "Renamed", "New body", None)])]
    decided = decisions.edit_course(
        before, title="New", description=None, modules=drafts, editor_id="t", now=LATER
    )
    assert set(changed_fields(before, decided.state)) == {"title", "modules", "lesson_count", "updated_at"}
    assert decided.state.modules[0].lessons[0].id == "l1" and decided.state.lesson_count == 1
    assert json.loads(decided.events[0]["payload"])["metadata"]["changed"] == ["modules", "title"]


def test_a_published_course_keeps_a_lesson_and_an_archived_one_is_not_edited() -> None:
    with pytest.raises(ValidationFailed) as empty:
        decisions.edit_course(course(), title=None, description=None, modules=[], editor_id="t", now=LATER)
    assert [error.code for error in empty.value.errors] == ["NO_LESSONS"]
    with pytest.raises(Conflict) as archived:
        decisions.edit_course(
            course(CourseStatus.ARCHIVED), title="x", description=None, modules=None, editor_id="t", now=LATER
        )
    assert archived.value.details == {"reason": "COURSE_ARCHIVED"}


def test_publishing_once_needs_a_lesson_and_never_reopens_an_archived_course() -> None:
    decided = decisions.publish(course(CourseStatus.DRAFT), now=LATER)
    assert decided is not None and decided.state.status is CourseStatus.PUBLISHED
    assert decided.state.published_at == LATER and event_types(decided) == ["COURSE_PUBLISHED"]
    assert decisions.publish(course(), now=LATER) is None, "publishing again changes nothing"
    with pytest.raises(ValidationFailed):
        decisions.publish(course(CourseStatus.DRAFT, lessons=0), now=LATER)
    with pytest.raises(Conflict):
        decisions.publish(course(CourseStatus.ARCHIVED), now=LATER)


def test_archiving_is_once() -> None:
    decided = decisions.archive(course(), archiver_id="admin", now=LATER)
    assert decided is not None and decided.state.status is CourseStatus.ARCHIVED
    assert decisions.archive(decided.state, archiver_id="admin", now=LATER) is None


def test_requiring_an_assessment_is_a_set_announced_as_an_update() -> None:
    decided = decisions.require_assessment(course(), "quiz", required=True)
    assert decided is not None and decided.state.required_assessments == ["quiz"]
    # Every replica's catalog hears of it: completing a lesson decides on the catalog's requirements.
    assert event_types(decided) == ["COURSE_UPDATED"]
    assert json.loads(decided.events[0]["payload"])["metadata"]["changed"] == ["required_assessments"]
    assert decisions.require_assessment(decided.state, "quiz", required=True) is None
    dropped = decisions.require_assessment(decided.state, "quiz", required=False)
    assert dropped is not None and dropped.state.required_assessments == []


# --- enrollment and progress ----------------------------------------------------------------------


def test_enrolling_needs_a_published_course_of_someone_else() -> None:
    open_course = course()
    decided = decisions.enroll(open_course, user_id="learner", now=NOW)
    assert decided.state.course_id == str(open_course.id) and decided.state.status is EnrollmentStatus.ACTIVE
    assert event_types(decided) == ["COURSE_ENROLLED"]
    assert decisions.enroll(open_course, user_id="learner", now=LATER).state.id == decided.state.id, "one id"
    for closed in (CourseStatus.DRAFT, CourseStatus.ARCHIVED):
        with pytest.raises(Conflict) as refused:
            decisions.enroll(course(closed), user_id="learner", now=NOW)
        assert refused.value.details == {"reason": "COURSE_NOT_PUBLISHED"}
    with pytest.raises(Conflict) as own:
        decisions.enroll(open_course, user_id="teacher", now=NOW)
    assert own.value.details == {"reason": "OWN_COURSE"}


def test_progress_moves_forward_once_per_lesson() -> None:
    of = course(lessons=4)
    first = decisions.complete_lesson(of, enrollment(of), "l0", now=NOW, certificate_code="CG-X")
    assert first is not None and first.state.progress == 25.0
    assert event_types(first) == ["LESSON_COMPLETED", "PROGRESS_UPDATED"]
    assert changed_fields(enrollment(of), first.state) == {"completed_lessons": ["l0"], "progress": 25.0}
    assert decisions.complete_lesson(of, first.state, "l0", now=NOW, certificate_code="CG-X") is None
    with pytest.raises(NotFound):
        decisions.complete_lesson(of, first.state, "l9", now=NOW, certificate_code="CG-X")


def test_progress_never_goes_back_when_lessons_are_added() -> None:
    of = course(lessons=4)
    ahead = enrollment(of, progress=75.0, completed_lessons=["l0", "l1", "l2"])
    grown = course(lessons=8)
    decided = decisions.complete_lesson(grown, ahead, "l3", now=NOW, certificate_code="CG-X")
    assert decided is not None and decided.state.progress == 75.0, "4 of 8 is less than what was reached"
    assert event_types(decided) == ["LESSON_COMPLETED"], "no progress event when progress stays"


def test_the_last_lesson_completes_with_a_certificate_unless_an_assessment_is_still_required() -> None:
    plain = course(lessons=1)
    done = decisions.complete_lesson(plain, enrollment(plain), "l0", now=LATER, certificate_code="CG-X")
    assert done is not None and done.state.status is EnrollmentStatus.COMPLETED
    assert done.state.certificate_code == "CG-X" and done.state.completed_at == LATER
    assert event_types(done) == [
        "LESSON_COMPLETED",
        "PROGRESS_UPDATED",
        "COURSE_COMPLETED",
        "CERTIFICATE_ISSUED",
    ]

    quiz = course(lessons=1, required=["quiz"])
    waiting = decisions.complete_lesson(quiz, enrollment(quiz), "l0", now=LATER, certificate_code="CG-X")
    assert waiting is not None and waiting.state.status is EnrollmentStatus.ACTIVE
    assert waiting.state.certificate_code is None
    passed = decisions.record_pass(quiz, waiting.state, "quiz", now=LATER, certificate_code="CG-Y")
    assert passed is not None and passed.state.certificate_code == "CG-Y"
    assert event_types(passed) == ["COURSE_COMPLETED", "CERTIFICATE_ISSUED"]
    assert decisions.record_pass(quiz, passed.state, "quiz", now=LATER, certificate_code="CG-Z") is None


def test_a_completed_enrollment_is_not_completed_again() -> None:
    plain = course(lessons=2)
    completed = enrollment(
        plain,
        progress=100.0,
        completed_lessons=["l0"],
        status=EnrollmentStatus.COMPLETED,
        completed_at=NOW,
        certificate_code="CG-OLD",
    )
    decided = decisions.complete_lesson(plain, completed, "l1", now=LATER, certificate_code="CG-NEW")
    assert decided is not None and decided.state.certificate_code == "CG-OLD"
    assert event_types(decided) == ["LESSON_COMPLETED"]


def test_search_text_is_literal_and_bounded() -> None:
    assert decisions.clean_search("  (A+)+$ ") == "(a+)+$"
    with pytest.raises(ValidationFailed):
        decisions.clean_search("x" * (limits.SEARCH_MAX + 1))
