"""DeadlineService on the real document store, no GraphQL: what each write stores and announces, what each
reader sees, how many lookups a learner's deadlines take, and the calendar feed's secret (created once,
rotated, an old or interrupted one answering nothing). The decisions are unit-tested in
tests/unit/test_deadlines_decisions.py."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coursegraph.errors import Forbidden, ValidationFailed
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.metrics import STORE_QUERIES
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.courses import deadlines_decisions
from subgraphs.courses.catalog import Catalog
from subgraphs.courses.deadlines import DeadlineService
from subgraphs.courses.decisions import LessonDraft, ModuleDraft
from subgraphs.courses.models import (
    CalendarFeed,
    CalendarFeedOwner,
    Certificate,
    Course,
    CourseAssessmentTitles,
    CourseDeadlines,
    Deadline,
    DeadlineTarget,
    Enrollment,
    Learner,
    MediaUse,
    deadline_id,
)
from subgraphs.courses.repository import (
    CalendarFeedRepository,
    CertificateRepository,
    CourseRepository,
    DeadlineRepository,
    EnrollmentRepository,
    LearnerRepository,
    MediaUseRepository,
)
from subgraphs.courses.service import ASSESSMENTS, CourseService
from tests.support.outbox import NoPublisher, outbox_event_types

pytestmark = pytest.mark.integration

T0 = datetime(2031, 6, 1, tzinfo=UTC)
MODELS = [
    Course,
    Enrollment,
    Learner,
    Certificate,
    MediaUse,
    Deadline,
    CourseDeadlines,
    CourseAssessmentTitles,
]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def user(role: Role = Role.LEARNER) -> Actor:
    return Actor(user_id=uuid.uuid4(), role=role)


class Services:
    def __init__(self, database: Any) -> None:
        self.database = database
        relay = DocumentOutboxRelay(
            [database["courses"], database["enrollments"], database["deadlines"]], NoPublisher()
        )
        self.clock = Clock()
        catalog = Catalog()
        self.courses = CourseService(
            CourseRepository(relay),
            EnrollmentRepository(relay),
            LearnerRepository(),
            CertificateRepository(),
            catalog,
            self.clock,
            MediaUseRepository(),
        )
        self.deadlines = DeadlineService(
            self.courses,
            DeadlineRepository(relay),
            EnrollmentRepository(relay),
            LearnerRepository(),
            CalendarFeedRepository(),
            catalog,
            self.clock,
            feed_url="https://api.example.org/calendar/{token}.ics",
        )


@pytest.fixture
async def services(mongodb_url: str) -> AsyncIterator[Services]:
    client = mongo_client(mongodb_url, service="deadline-service-tests")
    name = f"deadline_service_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [*MODELS, CalendarFeed, CalendarFeedOwner])
    yield Services(client[name])
    await client.drop_database(name)
    await client.close()


async def a_course(services: Services, instructor: Actor, learners: list[Actor]) -> tuple[str, str, str]:
    """A published course with one module and a known assessment, the learners enrolled: its id, the
    module's and the assessment's."""
    lessons = [LessonDraft(None, "Lesson", "Body", None)]
    created = await services.courses.create_course(
        instructor, title="Graphs", description="", modules=[ModuleDraft(None, "Trees", lessons)]
    )
    await services.courses.publish_course(instructor, created.id)
    assessment_id = str(uuid.uuid4().hex[:24])
    await services.deadlines.remember_assessment(
        Actor(service=ASSESSMENTS), created.id, assessment_id, "Quiz"
    )
    for learner in learners:
        await services.courses.enroll(learner, created.id)
    return created.id, created.modules[0].id, assessment_id


async def test_deadlines_are_stored_announced_and_seen_by_each_reader(services: Services) -> None:
    instructor, ada, bob = user(Role.INSTRUCTOR), user(), user()
    course_id, module_id, assessment_id = await a_course(services, instructor, [ada, bob])
    due = T0 + timedelta(days=7)

    await services.deadlines.set_deadline(instructor, course_id, DeadlineTarget.MODULE, module_id, due)
    await services.deadlines.set_deadline(
        instructor, course_id, DeadlineTarget.ASSESSMENT, assessment_id, due - timedelta(days=1)
    )
    stored = await services.database["deadlines"].find_one({"_id": deadline_id(course_id, module_id)})
    assert stored["due_at"] == due and stored["title"] == "Trees"
    assert outbox_event_types(stored) == ["DEADLINE_SET"]
    listed = await services.database["course_deadlines"].find_one({"_id": course_id})
    assert sorted(listed["targets"]) == sorted([module_id, assessment_id])

    # Moved: the same document, one more event; the same time again writes nothing.
    await services.deadlines.set_deadline(
        instructor, course_id, DeadlineTarget.MODULE, module_id, due + timedelta(hours=1)
    )
    await services.deadlines.set_deadline(
        instructor, course_id, DeadlineTarget.MODULE, module_id, due + timedelta(hours=1)
    )
    moved = await services.database["deadlines"].find_one({"_id": deadline_id(course_id, module_id)})
    assert moved["version"] == 1 and outbox_event_types(moved) == ["DEADLINE_SET", "DEADLINE_SET"]

    await services.deadlines.grant_extension(
        instructor, course_id, module_id, str(ada.user_id), due + timedelta(days=3)
    )
    summary = (await services.courses.courses(instructor, [course_id]))[0]
    assert summary is not None
    enrolled = await services.courses.viewer_enrollments(ada, [course_id])
    [managers] = await services.deadlines.course_deadlines(instructor, [summary], [None])
    [adas] = await services.deadlines.course_deadlines(ada, [summary], enrolled)
    [strangers] = await services.deadlines.course_deadlines(user(), [summary], [None])
    assert [v.deadline.target_id for v in managers] == [assessment_id, module_id]
    assert managers[1].extensions == {str(ada.user_id): due + timedelta(days=3)}
    assert [(v.due_at, v.extended) for v in adas] == [
        (due - timedelta(days=1), False),
        (due + timedelta(days=3), True),
    ]
    assert strangers == []

    bobs = await services.deadlines.upcoming(bob, str(bob.user_id), first=10)
    assert [d.view.due_at for d in bobs] == [due - timedelta(days=1), due + timedelta(hours=1)]
    services.clock.now = due  # the assessment's due time has passed
    assert [
        d.view.deadline.target_id for d in await services.deadlines.upcoming(bob, str(bob.user_id), first=10)
    ] == [module_id]
    with pytest.raises(Forbidden):
        await services.deadlines.upcoming(ada, str(bob.user_id), first=10)


async def test_refusals_change_nothing(services: Services) -> None:
    instructor, ada = user(Role.INSTRUCTOR), user()
    course_id, module_id, _ = await a_course(services, instructor, [ada])
    due = T0 + timedelta(days=7)
    await services.deadlines.set_deadline(instructor, course_id, DeadlineTarget.MODULE, module_id, due)
    before = await services.database["deadlines"].find_one({"_id": deadline_id(course_id, module_id)})
    for someone in (ada, user(Role.INSTRUCTOR)):
        with pytest.raises(Forbidden):
            await services.deadlines.set_deadline(
                someone, course_id, DeadlineTarget.MODULE, module_id, due + timedelta(days=1)
            )
        with pytest.raises(Forbidden):
            await services.deadlines.clear_deadline(someone, course_id, module_id)
    with pytest.raises(ValidationFailed):
        await services.deadlines.grant_extension(instructor, course_id, module_id, str(user().user_id), due)
    with pytest.raises(ValidationFailed):
        await services.deadlines.set_deadline(instructor, course_id, DeadlineTarget.MODULE, "nope", due)
    assert await services.database["deadlines"].find_one({"_id": deadline_id(course_id, module_id)}) == before


async def test_the_feed_secret_is_made_once_rotated_and_an_old_one_answers_nothing(
    services: Services,
) -> None:
    instructor, ada = user(Role.INSTRUCTOR), user()
    course_id, module_id, _ = await a_course(services, instructor, [ada])
    await services.deadlines.set_deadline(
        instructor, course_id, DeadlineTarget.MODULE, module_id, T0 + timedelta(days=2)
    )
    url = await services.deadlines.calendar_feed_url(ada, str(ada.user_id))
    assert url == await services.deadlines.calendar_feed_url(ada, str(ada.user_id))
    token = url.removeprefix("https://api.example.org/calendar/").removesuffix(".ics")
    # The store keys the lookup by the secret's hash: the secret itself is no key.
    assert await services.database["calendar_feeds"].find_one({"_id": token}) is None
    [event] = await services.deadlines.calendar_feed(token) or []
    assert event.uid == deadlines_decisions.calendar_uid(event.view.deadline, str(ada.user_id))

    rotated = await services.deadlines.rotate_calendar_feed(ada)
    new_token = rotated.removeprefix("https://api.example.org/calendar/").removesuffix(".ics")
    assert new_token != token
    assert await services.deadlines.calendar_feed(token) is None
    assert await services.deadlines.calendar_feed(new_token) is not None
    assert await services.database["calendar_feeds"].count_documents({}) == 1

    # A lookup an interrupted rotation left behind names a secret that is no longer the owner's.
    await CalendarFeed(id=deadlines_decisions.feed_key(token), user_id=str(ada.user_id)).insert()
    assert await services.deadlines.calendar_feed(token) is None
    assert await services.deadlines.calendar_feed("x" * 500) is None
    with pytest.raises(Forbidden):
        await services.deadlines.calendar_feed_url(user(), str(ada.user_id))


def store_queries() -> float:
    """The queries this test's client has sent (a batch of lookups counts once, as MongoDB is asked one)."""
    total: float = sum(
        STORE_QUERIES.labels("deadline-service-tests", "mongodb", operation, "background")._value.get()
        for operation in ("find", "update", "insert", "delete", "findAndModify")
    )
    return total


async def test_a_learners_deadlines_take_the_same_few_queries_however_many_courses(
    services: Services,
) -> None:
    instructor, ada, bob = user(Role.INSTRUCTOR), user(), user()
    due = T0 + timedelta(days=3)
    for index in range(3):
        course_id, module_id, assessment_id = await a_course(
            services, instructor, [ada] if index else [ada, bob]
        )
        await services.deadlines.set_deadline(instructor, course_id, DeadlineTarget.MODULE, module_id, due)
        await services.deadlines.set_deadline(
            instructor, course_id, DeadlineTarget.ASSESSMENT, assessment_id, due
        )

    asked = []
    for learner, courses in ((bob, 1), (ada, 3)):
        before = store_queries()
        found = await services.deadlines.upcoming(learner, str(learner.user_id), first=20)
        asked.append(store_queries() - before)
        assert len(found) == 2 * courses
    # Their list, their enrollments, the courses' lists, the deadlines: four queries, not one per course.
    assert asked == [4, 4]
