"""CourseService on the real document store, no GraphQL: each operation's answer, what it wrote, the
events waiting in the outbox, and refusals that change nothing. The decisions themselves are unit-tested
in tests/unit/test_courses_decisions.py."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from coursegraph.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.metrics import STORE_CALLS
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.courses.catalog import Catalog
from subgraphs.courses.decisions import LessonDraft, ModuleDraft
from subgraphs.courses.models import (
    Certificate,
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    Learner,
    MediaUse,
    enrollment_id,
)
from subgraphs.courses.repository import (
    CertificateRepository,
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    MediaUseRepository,
)
from subgraphs.courses.service import COURSES, CourseService
from tests.support.outbox import NoPublisher, outbox_event_types

pytestmark = pytest.mark.integration

T0 = datetime(2031, 6, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def user(role: Role = Role.LEARNER) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role)


def outline(lessons: int = 2) -> list[ModuleDraft]:
    return [
        ModuleDraft(
            None, "One", [LessonDraft(None, f"Lesson {i}", f"Body {i}", None) for i in range(lessons)]
        )
    ]


class Service:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        self.database = client[name]
        relay = DocumentOutboxRelay([self.database["courses"], self.database["enrollments"]], NoPublisher())
        self.catalog = Catalog()
        self.service = CourseService(
            CourseRepository(relay),
            EnrollmentRepository(relay),
            LearnerRepository(),
            CertificateRepository(),
            self.catalog,
            Clock(),
            MediaUseRepository(),
        )

    async def stored(self, collection: str, document_id: Any) -> dict[str, Any]:
        found = await self.database[collection].find_one({"_id": document_id})
        assert found is not None, (collection, document_id)
        return found

    async def event_types(self, collection: str, document_id: Any) -> list[str]:
        return outbox_event_types(await self.stored(collection, document_id))


@pytest.fixture
async def courses(mongodb_url: str) -> AsyncIterator[Service]:
    client = mongo_client(mongodb_url, service="course-service-tests")
    name = f"course_service_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [Course, Enrollment, Learner, Certificate, MediaUse])
    yield Service(client, name)
    await client.drop_database(name)
    await client.close()


async def published(courses: Service, instructor: Actor, lessons: int = 2) -> str:
    created = await courses.service.create_course(
        instructor, title="Graphs", description="About graphs", modules=outline(lessons)
    )
    await courses.service.publish_course(instructor, created.id)
    return created.id


async def test_a_course_is_created_edited_published_and_archived_by_its_instructor(courses: Service) -> None:
    instructor = user(Role.INSTRUCTOR)
    created = await courses.service.create_course(
        instructor, title="  Graphs ", description="", modules=outline()
    )
    assert created.title == "Graphs" and created.status is CourseStatus.DRAFT and created.lesson_count == 2
    course_id = ObjectId(created.id)
    assert await courses.event_types("courses", course_id) == ["COURSE_CREATED"]

    edited = await courses.service.update_course(
        instructor, created.id, title="Graph theory", description=None, modules=None
    )
    assert edited.title == "Graph theory" and edited.version == created.version + 1
    stored = await courses.stored("courses", course_id)
    assert stored["title"] == "Graph theory" and stored["modules"][0]["lessons"][0]["content"] == "Body 0"

    live = await courses.service.publish_course(instructor, created.id)
    again = await courses.service.publish_course(instructor, created.id)
    assert live.status is CourseStatus.PUBLISHED and again.version == live.version, "publishing is idempotent"
    closed = await courses.service.archive_course(instructor, created.id)
    assert closed.status is CourseStatus.ARCHIVED and courses.catalog.get(created.id) == closed
    assert await courses.event_types("courses", course_id) == [
        "COURSE_CREATED",
        "COURSE_UPDATED",
        "COURSE_PUBLISHED",
        "COURSE_ARCHIVED",
    ]
    with pytest.raises(Conflict) as archived:
        await courses.service.update_course(
            instructor, created.id, title="No", description=None, modules=None
        )
    assert archived.value.details == {"reason": "COURSE_ARCHIVED"}


async def test_refusals_change_nothing(courses: Service) -> None:
    instructor = user(Role.INSTRUCTOR)
    created = await courses.service.create_course(
        instructor, title="Draft", description="", modules=outline()
    )
    before = await courses.stored("courses", ObjectId(created.id))
    with pytest.raises(NotFound):  # a stranger does not see a draft
        await courses.service.publish_course(user(Role.INSTRUCTOR), created.id)
    with pytest.raises(ValidationFailed) as invalid:
        await courses.service.update_course(instructor, created.id, title=" ", description=None, modules=None)
    assert [error.field for error in invalid.value.errors] == ["title"]
    with pytest.raises(NotFound):  # drafts are not open to anyone else
        await courses.service.enroll(user(), created.id)
    with pytest.raises(Unauthenticated):
        await courses.service.enroll(Actor(), created.id)
    assert await courses.stored("courses", ObjectId(created.id)) == before


async def test_enrolling_counts_once_and_refuses_a_second_time(courses: Service) -> None:
    instructor, learner = user(Role.INSTRUCTOR), user()
    course_id = await published(courses, instructor)
    enrollment = await courses.service.enroll(learner, course_id)
    assert enrollment.counted and enrollment.status is EnrollmentStatus.ACTIVE
    assert courses.catalog.get(course_id).enrollment_count == 1  # type: ignore[union-attr]
    with pytest.raises(Conflict) as twice:
        await courses.service.enroll(learner, course_id)
    assert twice.value.details == {"reason": "ALREADY_ENROLLED"}
    with pytest.raises(Conflict) as own:
        await courses.service.enroll(instructor, course_id)
    assert own.value.details == {"reason": "OWN_COURSE"}
    stored = await courses.stored("courses", ObjectId(course_id))
    assert stored["enrollment_count"] == 1 and stored["counted_enrollments"] == [str(enrollment.id)]
    assert await courses.event_types("enrollments", enrollment.id) == ["COURSE_ENROLLED"]
    learners = await courses.stored("learners", str(learner.user_id))
    assert learners["courses"] == [course_id]


async def test_a_course_closed_since_the_catalog_heard_of_it_is_not_enrolled_in(courses: Service) -> None:
    instructor = user(Role.INSTRUCTOR)
    course_id = await published(courses, instructor)
    # Archived by another replica: this one's catalog still says published.
    await courses.database["courses"].update_one(
        {"_id": ObjectId(course_id)}, {"$set": {"status": "archived"}, "$inc": {"version": 1}}
    )
    learner = user()
    with pytest.raises(Conflict) as closed:
        await courses.service.enroll(learner, course_id)
    assert closed.value.details == {"reason": "COURSE_NOT_PUBLISHED"}
    stored = await courses.stored("courses", ObjectId(course_id))
    assert stored["enrollment_count"] == 0
    assert (
        await courses.database["enrollments"].find_one(
            {"_id": enrollment_id(str(learner.user_id), course_id)}
        )
        is None
    )


async def test_completing_every_lesson_and_the_required_assessment_issues_one_certificate(
    courses: Service,
) -> None:
    instructor, learner = user(Role.INSTRUCTOR), user()
    course_id = await published(courses, instructor)
    service = Actor(service="assessments")
    await courses.service.set_required_assessment(service, course_id, "quiz-1", required=True)
    await courses.service.enroll(learner, course_id)
    lessons = [lesson.id for lesson in courses.catalog.get(course_id).modules[0].lessons]  # type: ignore[union-attr]

    with pytest.raises(NotFound):
        await courses.service.complete_lesson(learner, course_id, "no-such-lesson")
    with pytest.raises(Forbidden):
        await courses.service.complete_lesson(user(), course_id, lessons[0])
    first = await courses.service.complete_lesson(learner, course_id, lessons[0])
    repeated = await courses.service.complete_lesson(learner, course_id, lessons[0])
    assert first.progress == 50.0 and repeated.version == first.version, "completing twice changes nothing"
    last = await courses.service.complete_lesson(learner, course_id, lessons[1])
    assert last.progress == 100.0 and last.status is EnrollmentStatus.ACTIVE, "the quiz is still to pass"
    stored = await courses.stored("enrollments", last.id)
    assert stored["version"] == last.version and stored["completed_lessons"] == lessons, (
        "the answer is what was written"
    )

    consumer = Actor(service=COURSES)
    user_id = str(learner.user_id)
    await courses.service.record_assessment_pass(
        consumer, user_id=user_id, course_id=course_id, assessment_id="quiz-1"
    )
    await courses.service.record_assessment_pass(
        consumer, user_id=user_id, course_id=course_id, assessment_id="quiz-1"
    )
    done = await courses.stored("enrollments", last.id)
    assert done["status"] == "completed" and done["certificate_code"].startswith("CG-")
    assert await courses.service.certificate(done["certificate_code"]) is not None
    assert (await courses.event_types("enrollments", last.id)).count("CERTIFICATE_ISSUED") == 1


def course_reads() -> float:
    """The course documents this test module's service has found so far (its `find`s on `courses`)."""
    return sum(
        sample.value
        for metric in STORE_CALLS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["service"] == "course-service-tests"
        and sample.labels["operation"] == "find"
    )


async def test_lesson_bodies_are_read_once_per_course_version(courses: Service) -> None:
    """A course page reads the course document for its bodies once; while the catalog knows the same
    version, the bodies kept are served; an edit (a new version) is read afresh."""
    instructor = user(Role.INSTRUCTOR)
    course_id = await published(courses, instructor)
    learner = user()
    await courses.service.enroll(learner, course_id)
    enrollment = await courses.service.viewer_enrollments(learner, [course_id])

    first = await courses.service.lesson_bodies(learner, [course_id], enrollment)
    assert sorted(first[0].values()) == ["Body 0", "Body 1"]
    before = course_reads()
    assert await courses.service.lesson_bodies(learner, [course_id], enrollment) == first
    assert course_reads() == before, "the same version's bodies come from the service's memory"

    created = (await courses.service.courses(instructor, [course_id]))[0]
    assert created is not None
    lessons = [
        LessonDraft(lesson.id, lesson.title, f"New {lesson.title}", None)
        for module in created.modules
        for lesson in module.lessons
    ]
    await courses.service.update_course(
        instructor, course_id, title=None, description=None, modules=[ModuleDraft(None, "One", lessons)]
    )
    before = course_reads()
    edited = await courses.service.lesson_bodies(learner, [course_id], enrollment)
    assert sorted(edited[0].values()) == ["New Lesson 0", "New Lesson 1"]
    assert course_reads() == before + 1
    # Someone who may not read the bodies gets none, kept or not.
    assert await courses.service.lesson_bodies(user(), [course_id], [None]) == [{}]
