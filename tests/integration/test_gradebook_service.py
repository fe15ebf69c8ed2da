"""The gradebook on the real document store, fed through the courses service's assessment.events handler:
a fixture course graded by hand (best and latest policies, a missing attempt, an extension written as a
Deadline document), redelivered and out-of-order results, excuses, and refusals that change nothing."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from coursegraph.errors import Forbidden, ValidationFailed
from coursegraph.events import Event
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.courses.catalog import Catalog
from subgraphs.courses.consumers import AssessmentEventHandler
from subgraphs.courses.decisions import LessonDraft, ModuleDraft
from subgraphs.courses.gradebook import GradebookService
from subgraphs.courses.gradebook_decisions import GradebookSort, GradeStatus
from subgraphs.courses.models import (
    Certificate,
    Course,
    CourseGrading,
    Deadline,
    DeadlineTarget,
    Enrollment,
    GradeRecord,
    Learner,
    MediaUse,
    Roster,
    deadline_id,
)
from subgraphs.courses.repository import (
    CertificateRepository,
    CourseRepository,
    EnrollmentRepository,
    GradebookRepository,
    LearnerRepository,
    MediaUseRepository,
    ProcessedEventRepository,
    RosterRepository,
)
from subgraphs.courses.service import CourseService
from tests.support.outbox import NoPublisher

pytestmark = pytest.mark.integration

T0 = datetime(2031, 6, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Graded:
    def __init__(self, database: Any) -> None:
        relay = DocumentOutboxRelay([database["courses"], database["enrollments"]], NoPublisher())
        self.clock = Clock()
        self.courses = CourseService(
            CourseRepository(relay),
            EnrollmentRepository(relay),
            LearnerRepository(),
            CertificateRepository(),
            Catalog(),
            self.clock,
            MediaUseRepository(),
        )
        self.gradebook = GradebookService(self.courses, RosterRepository(), GradebookRepository(), self.clock)
        self.events = AssessmentEventHandler(
            self.courses, ProcessedEventRepository(database["processed_events"]), self.clock, self.gradebook
        )
        self.database = database

    async def assessment(self, course_id: str, title: str, policy: str) -> str:
        assessment_id = str(ObjectId())
        await self.events(
            Event(
                event_type="ASSESSMENT_CREATED",
                source="assessments",
                user_id=str(uuid.uuid4()),
                course_id=course_id,
                metadata={
                    "assessment_id": assessment_id,
                    "title": title,
                    "required_for_completion": False,
                    "passing_score": 50,
                    "score_policy": policy,
                    "max_score": 10,
                },
            )
        )
        return assessment_id

    async def result(
        self, course_id: str, user_id: str, assessment_id: str, attempt: int, percent: float, at: datetime
    ) -> Event:
        event = Event(
            event_type="ASSESSMENT_COMPLETED",
            source="assessments",
            user_id=user_id,
            course_id=course_id,
            timestamp=at,
            metadata={
                "assessment_id": assessment_id,
                "attempt_id": str(ObjectId()),
                "attempt_number": attempt,
                "score": percent / 10,
                "max_score": 10,
                "percent": percent,
                "passed": percent >= 50,
                "assessment_title": "t",
            },
        )
        await self.events(event)
        return event


@pytest.fixture
async def graded(mongodb_url: str) -> AsyncIterator[Graded]:
    client: AsyncMongoClient[dict[str, Any]] = mongo_client(mongodb_url, service="gradebook-tests")
    name = f"gradebook_{uuid.uuid4().hex[:12]}"
    models = [
        Course,
        Enrollment,
        Learner,
        Certificate,
        MediaUse,
        Roster,
        Deadline,
        CourseGrading,
        GradeRecord,
    ]
    await init_models(client, name, models)
    yield Graded(client[name])
    await client.drop_database(name)
    await client.close()


def person(role: Role = Role.LEARNER) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role)


async def test_a_fixture_course_grades_as_computed_by_hand(graded: Graded) -> None:
    instructor = person(Role.INSTRUCTOR)
    modules = [ModuleDraft(None, "One", [LessonDraft(None, "L", "", None)])]
    course = await graded.courses.create_course(instructor, title="Graded", description="", modules=modules)
    await graded.courses.publish_course(instructor, course.id)
    ada, bo, cy = person(), person(), person()
    for minute, learner in enumerate((ada, bo, cy)):
        graded.clock.now = T0 + timedelta(minutes=minute)  # the roster's order: enrollment order
        await graded.courses.enroll(learner, course.id)
    quiz = await graded.assessment(course.id, "Quiz", "best")
    exam = await graded.assessment(course.id, "Exam", "latest")
    essay = await graded.assessment(course.id, "Essay", "best")
    # The essay was due at T0 + 1 day; Bo has an extension to T0 + 3 days.
    due = T0 + timedelta(days=1)
    await Deadline(
        id=deadline_id(course.id, essay),
        course_id=course.id,
        target=DeadlineTarget.ASSESSMENT,
        target_id=essay,
        title="Essay",
        due_at=due,
        extensions={str(bo.user_id): T0 + timedelta(days=3)},
        updated_at=T0,
    ).insert()
    a, b, c = str(ada.user_id), str(bo.user_id), str(cy.user_id)
    at = T0 + timedelta(hours=1)
    # Ada: quiz 40 then 80 (best 80), exam 90 then 70 (latest 70), essay 60 on time.
    for assessment, attempt, percent in [
        (quiz, 1, 40),
        (quiz, 2, 80),
        (exam, 1, 90),
        (exam, 2, 70),
        (essay, 1, 60),
    ]:
        await graded.result(course.id, a, assessment, attempt, percent, at)
    # Bo: the exam's second attempt arrives before the first (order-safe); no essay yet, extension pending.
    await graded.result(course.id, b, exam, 2, 50, at)
    redelivered = await graded.result(course.id, b, exam, 1, 100, at)
    await graded.events(redelivered)
    await graded.result(course.id, b, quiz, 1, 100, at)
    # Cy: the essay two days late (after the due time, no extension).
    await graded.result(course.id, c, essay, 1, 100, T0 + timedelta(days=2))
    await graded.gradebook.set_grading_policy(instructor, course.id, [(quiz, 1), (exam, 2), (essay, 1)])

    # Two days on: the essay's due time passed for Ada and Cy, not for Bo.
    graded.clock.now = T0 + timedelta(days=2)
    page = await graded.gradebook.gradebook(
        instructor, await _summary(graded, course.id), first=10, after=None, sort=GradebookSort.LEARNER
    )
    rows = {grade.user_id: grade for _, grade in page.page.items}
    assert [g.user_id for _, g in page.page.items] == [a, b, c]
    # Ada: (1*80 + 2*70 + 1*60) / 4 = 70.
    assert rows[a].course_grade == 70
    # Bo: latest exam is attempt 2 (50), whatever the arrival order; the essay not due yet: (100 + 2*50) / 3.
    assert rows[b].course_grade == pytest.approx(66.67)
    assert [cell.status for cell in rows[b].cells] == [
        GradeStatus.GRADED,
        GradeStatus.GRADED,
        GradeStatus.MISSING,
    ]
    assert rows[b].cells[1].attempts == 2  # the redelivery added no attempt
    # Cy: quiz and exam missing with no due time (not counted), essay late but counted: 100.
    assert rows[c].course_grade == 100
    assert rows[c].cells[2].status is GradeStatus.LATE

    # Past Bo's extension, his missing essay counts 0: (100 + 100 + 0) / 4.
    graded.clock.now = T0 + timedelta(days=4)
    summary = await _summary(graded, course.id)
    (bo_grades,) = await graded.gradebook.viewer_grades(bo, [summary])
    assert bo_grades is not None and bo_grades[1].course_grade == 50
    # Asked by someone not enrolled: nothing.
    assert await graded.gradebook.viewer_grades(person(), [summary]) == [None]

    # Excused, the essay leaves Bo's average.
    _, excused = await graded.gradebook.excuse(instructor, course.id, b, essay, excused=True)
    assert excused.course_grade == pytest.approx(66.67) and excused.cells[2].status is GradeStatus.EXCUSED

    # By grade, descending: Cy 100, Ada 70, Bo 66.67; pages follow the cursor.
    first = await graded.gradebook.gradebook(
        instructor, await _summary(graded, course.id), first=2, after=None, sort=GradebookSort.GRADE_DESC
    )
    assert [g.user_id for _, g in first.page.items] == [c, a] and first.page.has_next
    rest = await graded.gradebook.gradebook(
        instructor,
        await _summary(graded, course.id),
        first=2,
        after=first.page.end_cursor,
        sort=GradebookSort.GRADE_DESC,
    )
    assert [g.user_id for _, g in rest.page.items] == [b] and not rest.page.has_next


async def test_bad_policies_and_strangers_change_nothing(graded: Graded) -> None:
    instructor, other = person(Role.INSTRUCTOR), person(Role.INSTRUCTOR)
    modules = [ModuleDraft(None, "One", [LessonDraft(None, "L", "", None)])]
    course = await graded.courses.create_course(instructor, title="Policy", description="", modules=modules)
    await graded.courses.publish_course(instructor, course.id)
    quiz = await graded.assessment(course.id, "Quiz", "best")
    await graded.gradebook.set_grading_policy(instructor, course.id, [(quiz, 3)])
    before = await graded.database["course_gradings"].find_one({"_id": course.id})

    with pytest.raises(ValidationFailed):
        await graded.gradebook.set_grading_policy(instructor, course.id, [(quiz, -1)])
    with pytest.raises(ValidationFailed):
        await graded.gradebook.set_grading_policy(instructor, course.id, [(str(ObjectId()), 1)])
    with pytest.raises(Forbidden):
        await graded.gradebook.set_grading_policy(other, course.id, [(quiz, 1)])
    with pytest.raises(Forbidden):
        await graded.gradebook.gradebook(
            other, await _summary(graded, course.id), first=5, after=None, sort=GradebookSort.LEARNER
        )
    assert await graded.database["course_gradings"].find_one({"_id": course.id}) == before


async def _summary(graded: Graded, course_id: str) -> Any:
    found = (await graded.courses.any_courses([course_id]))[0]
    assert found is not None
    return found
