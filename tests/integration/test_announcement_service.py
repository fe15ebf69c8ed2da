"""AnnouncementService on the real document store, no GraphQL (issue 17): what posting and editing write
and announce, who reads which page, refusals that change nothing, and the internal audience the
notifications service pages through. The decisions themselves: tests/unit/test_announcements_decisions.py."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from coursegraph.errors import Forbidden, NotFound, ValidationFailed
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import init_models, mongo_client
from coursegraph.pagination import Page
from coursegraph.security import Actor, Role
from subgraphs.courses.announcements import AnnouncementService
from subgraphs.courses.catalog import Catalog, CourseSummary
from subgraphs.courses.decisions import LessonDraft, ModuleDraft
from subgraphs.courses.models import (
    Announcement,
    Course,
    CourseAnnouncements,
    Enrollment,
    Learner,
    MediaUse,
    Roster,
    enrollment_id,
)
from subgraphs.courses.repository import (
    AnnouncementRepository,
    CertificateRepository,
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    MediaUseRepository,
    RosterRepository,
)
from subgraphs.courses.service import CourseService
from tests.integration.test_course_service import Clock, user
from tests.support.outbox import NoPublisher, outbox_event_types

pytestmark = pytest.mark.integration

NOTIFICATIONS = Actor(service="notifications")


class Store:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        self.database = client[name]
        relay = DocumentOutboxRelay(
            [self.database[c] for c in ("courses", "enrollments", "announcements")], NoPublisher()
        )
        clock = Clock()
        enrollments = EnrollmentRepository(relay)
        self.courses = CourseService(
            CourseRepository(relay),
            enrollments,
            LearnerRepository(),
            CertificateRepository(),
            Catalog(),
            clock,
            MediaUseRepository(),
        )
        self.service = AnnouncementService(
            self.courses, AnnouncementRepository(relay), enrollments, RosterRepository(), clock
        )

    async def course(self, instructor: Actor) -> CourseSummary:
        lessons = [LessonDraft(None, "Lesson", "Body", None)]
        created = await self.courses.create_course(
            instructor, title="Signals", description="", modules=[ModuleDraft(None, "One", lessons)]
        )
        return await self.courses.publish_course(instructor, created.id)

    async def enroll(self, course_id: str) -> tuple[Actor, Enrollment]:
        learner = user()
        return learner, await self.courses.enroll(learner, course_id)

    async def page(
        self, actor: Actor, course: CourseSummary, first: int = 20, after: str | None = None
    ) -> Any:
        (enrollment,) = await self.courses.viewer_enrollments(actor, [course.id])
        (found,) = await self.service.pages(actor, [(course, enrollment, first, after)])
        assert isinstance(found, Page), found
        return found


@pytest.fixture
async def store(mongodb_url: str) -> AsyncIterator[Store]:
    client = mongo_client(mongodb_url, service="announcement-tests")
    name = f"announcements_{uuid.uuid4().hex[:12]}"
    models = [Course, Enrollment, Learner, MediaUse, Roster, Announcement, CourseAnnouncements]
    await init_models(client, name, models)
    yield Store(client, name)
    await client.drop_database(name)
    await client.close()


async def test_posting_writes_the_announcement_listed_by_its_course_with_one_event(store: Store) -> None:
    instructor = user(Role.INSTRUCTOR)
    course = await store.course(instructor)
    posted = await store.service.post(
        instructor, course.id, title=" Hello ", body="**Bold** <script>x()</script>"
    )
    assert posted.title == "Hello" and posted.body == "**Bold** <script>x()</script>"
    assert posted.body_html == "<p><strong>Bold</strong> &lt;script&gt;x()&lt;/script&gt;</p>\n"
    stored = await store.database["announcements"].find_one({"_id": posted.id})
    assert stored is not None and stored["course_id"] == course.id
    assert outbox_event_types(stored) == ["ANNOUNCEMENT_POSTED"]
    listed = await store.database["course_announcements"].find_one({"_id": course.id})
    assert listed is not None and listed["announcements"] == [str(posted.id)]

    edited = await store.service.update(instructor, str(posted.id), title="Hello again", body=None)
    assert edited.title == "Hello again" and edited.edited_at is not None and edited.version == 1
    unchanged = await store.service.update(instructor, str(posted.id), title="Hello again", body=None)
    assert unchanged.version == 1, "no change, no write"
    stored = await store.database["announcements"].find_one({"_id": posted.id})
    assert stored is not None and outbox_event_types(stored) == [
        "ANNOUNCEMENT_POSTED",
        "ANNOUNCEMENT_UPDATED",
    ]


async def test_refusals_write_nothing(store: Store) -> None:
    instructor = user(Role.INSTRUCTOR)
    course = await store.course(instructor)
    learner, _ = await store.enroll(course.id)
    posted = await store.service.post(instructor, course.id, title="Kept", body="Kept")
    with pytest.raises(Forbidden):
        await store.service.post(learner, course.id, title="Mine", body="x")
    with pytest.raises(Forbidden):
        await store.service.post(user(Role.INSTRUCTOR), course.id, title="Mine", body="x")
    with pytest.raises(Forbidden):
        await store.service.update(learner, str(posted.id), title="Mine", body=None)
    with pytest.raises(NotFound):  # it cannot read it: not told that it exists
        await store.service.update(user(Role.INSTRUCTOR), str(posted.id), title="Mine", body=None)
    with pytest.raises(NotFound):
        await store.service.post(instructor, str(ObjectId()), title="Nowhere", body="x")
    with pytest.raises(ValidationFailed) as invalid:
        await store.service.post(instructor, course.id, title="", body="x" * 20_001)
    assert [(e.field, e.code) for e in invalid.value.errors] == [("title", "REQUIRED"), ("body", "TOO_LONG")]
    assert await store.database["announcements"].count_documents({}) == 1
    assert (await store.page(instructor, course)).items[0][1].title == "Kept"


async def test_a_page_is_newest_first_for_learners_and_teachers_and_empty_for_anyone_else(
    store: Store,
) -> None:
    instructor = user(Role.INSTRUCTOR)
    course = await store.course(instructor)
    learner, _ = await store.enroll(course.id)
    for i in range(3):
        await store.service.post(instructor, course.id, title=f"N{i}", body="x")
    # A listed id with no announcement behind it (a crash between the two writes) is skipped.
    await store.database["course_announcements"].update_one(
        {"_id": course.id}, {"$push": {"announcements": str(ObjectId())}}
    )
    first = await store.page(learner, course, first=2)
    assert [a.title for _, a in first.items] == ["N2", "N1"] and first.has_next
    rest = await store.page(learner, course, first=2, after=first.end_cursor)
    assert [a.title for _, a in rest.items] == ["N0"] and not rest.has_next
    assert [a.title for _, a in (await store.page(instructor, course)).items] == ["N2", "N1", "N0"]
    stranger = await store.page(user(), course)
    assert stranger.items == [] and stranger.total is not None and stranger.total() == 0


async def test_the_audience_pages_the_roster_skipping_learners_who_no_longer_hear_the_course(
    store: Store,
) -> None:
    instructor = user(Role.INSTRUCTOR)
    course = await store.course(instructor)
    learners = [(await store.enroll(course.id))[0] for _ in range(5)]
    ids = [str(learner.user_id) for learner in learners]
    # One whose enrollment is gone (as `seed --reset` leaves it), one listed who never enrolled.
    await store.database["enrollments"].delete_one({"_id": enrollment_id(ids[1], course.id)})
    await RosterRepository().add(course.id, ["never-enrolled"])
    posted = await store.service.post(instructor, course.id, title="All", body="Hello *you*")

    with pytest.raises(Forbidden):
        await store.service.audience(user(Role.ADMIN), str(posted.id), first=2, after=None)
    seen: list[str] = []
    after = None
    while True:
        audience = await store.service.audience(NOTIFICATIONS, str(posted.id), first=2, after=after)
        assert audience is not None and audience.body_text == "Hello you"
        assert audience.course_title == "Signals"
        seen += audience.learners
        if not audience.has_next:
            break
        after = audience.end_cursor
    assert sorted(seen) == sorted(ids[0:1] + ids[2:])
    assert await store.service.audience(NOTIFICATIONS, str(ObjectId()), first=2, after=None) is None
