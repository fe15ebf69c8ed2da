"""RosterService on the real document store, no GraphQL (issue 17): bulk enrollment's batched writes and
outcomes, unenrolling and coming back, course roles, and refusals that change nothing. The users service
is a directory the test fills (it is another service, reached over HTTP in the running stack)."""

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from bson import ObjectId

from coursegraph.errors import Conflict, Forbidden, NotFound, ValidationFailed
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.courses.models import (
    Certificate,
    Course,
    CourseRole,
    Enrollment,
    EnrollmentStatus,
    Learner,
    MediaUse,
    Roster,
    enrollment_id,
)
from subgraphs.courses.repository import (
    CourseRepository,
    EnrollmentRepository,
    LearnerRepository,
    RosterRepository,
)
from subgraphs.courses.roster import RosterService
from subgraphs.courses.roster_decisions import RosterOutcome
from tests.integration.test_course_service import Clock, Service, outline, user
from tests.support.outbox import NoPublisher

pytestmark = pytest.mark.integration


class Directory:
    """Users by id and email, as the users service would answer `lookupUsers`."""

    def __init__(self) -> None:
        self.users: dict[str, str] = {}
        self.calls = 0

    def add(self, count: int) -> list[tuple[str, str]]:
        made = [(str(uuid.uuid4()), f"u{uuid.uuid4().hex[:10]}@example.org") for _ in range(count)]
        self.users.update(made)
        return made

    async def find(self, ids: Sequence[str], emails: Sequence[str]) -> list[tuple[str, str]]:
        self.calls += 1
        wanted = set(emails)
        return [(i, e) for i, e in self.users.items() if i in ids or e in wanted]


class Rosters(Service):
    def __init__(self, client: Any, name: str) -> None:
        super().__init__(client, name)
        self.directory = Directory()
        relay = DocumentOutboxRelay([self.database["courses"], self.database["enrollments"]], NoPublisher())
        self.roster = RosterService(
            CourseRepository(relay),
            EnrollmentRepository(relay),
            LearnerRepository(),
            RosterRepository(),
            self.catalog,
            self.directory,
            Clock(),
        )


@pytest.fixture
async def rosters(mongodb_url: str) -> AsyncIterator[Rosters]:
    client = mongo_client(mongodb_url, service="roster-service-tests")
    name = f"roster_service_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [Course, Enrollment, Learner, Certificate, MediaUse, Roster])
    yield Rosters(client, name)
    await client.drop_database(name)
    await client.close()


async def a_course(rosters: Rosters, instructor: Actor) -> str:
    created = await rosters.service.create_course(
        instructor, title="Graphs", description="", modules=outline()
    )
    await rosters.service.publish_course(instructor, created.id)
    return created.id


async def test_bulk_enrollment_writes_in_batches_and_a_second_time_changes_nothing(rosters: Rosters) -> None:
    instructor = user(Role.INSTRUCTOR)
    course_id = await a_course(rosters, instructor)
    people = rosters.directory.add(120)
    entries = [email if n % 2 else user_id for n, (user_id, email) in enumerate(people)]
    entries += ["not an entry", "ghost@example.org", people[0][1].upper(), str(instructor.user_id)]
    rosters.directory.users[str(instructor.user_id)] = "teacher@example.org"

    results = await rosters.roster.enroll_users(instructor, course_id, entries)
    outcomes = [r.outcome for r in results]
    assert outcomes[:120] == [RosterOutcome.ENROLLED] * 120
    # Invalid, unknown, the first user again (by email: enrolled once), the instructor.
    assert outcomes[120:] == [
        RosterOutcome.INVALID,
        RosterOutcome.UNKNOWN_USER,
        RosterOutcome.ALREADY_ENROLLED,
        RosterOutcome.INVALID,
    ]
    assert rosters.directory.calls == 1  # one lookup for the whole batch
    course = await rosters.stored("courses", ObjectId(course_id))
    assert course["enrollment_count"] == 120
    assert rosters.catalog.get(course_id).enrollment_count == 120  # type: ignore[union-attr]
    stored = await rosters.database["enrollments"].count_documents({"course_id": course_id, "counted": True})
    assert stored == 120
    first = await rosters.stored("enrollments", enrollment_id(people[0][0], course_id))
    assert [e["event_type"] for e in map(_payload, first["outbox"])] == ["COURSE_ENROLLED"]
    assert set(await RosterRepository().learners(course_id)) == {user_id for user_id, _ in people}
    learner = await rosters.stored("learners", people[5][0])
    assert learner["courses"] == [course_id]

    again = await rosters.roster.enroll_users(instructor, course_id, entries)
    assert [r.outcome for r in again][:120] == [RosterOutcome.ALREADY_ENROLLED] * 120
    assert (await rosters.stored("courses", ObjectId(course_id)))["enrollment_count"] == 120

    with pytest.raises(ValidationFailed):
        await rosters.roster.enroll_users(instructor, course_id, ["a@example.org"] * 501)


async def test_unenrolling_keeps_the_enrollment_and_enrolling_again_brings_it_back(rosters: Rosters) -> None:
    instructor = user(Role.INSTRUCTOR)
    course_id = await a_course(rosters, instructor)
    ((user_id, _),) = rosters.directory.add(1)
    learner = Actor(user_id=uuid.UUID(user_id), role=Role.LEARNER)
    await rosters.roster.enroll_user(instructor, course_id, user_id)
    lesson = (await rosters.stored("courses", ObjectId(course_id)))["modules"][0]["lessons"][0]["id"]
    await rosters.service.complete_lesson(learner, course_id, lesson)

    removed = await rosters.roster.unenroll_user(instructor, course_id, user_id)
    assert removed.status is EnrollmentStatus.REMOVED and removed.completed_lessons == [lesson]
    await rosters.roster.unenroll_user(instructor, course_id, user_id)  # again: nothing changes
    course = await rosters.stored("courses", ObjectId(course_id))
    assert course["enrollment_count"] == 0
    assert await RosterRepository().learners(course_id) == []
    assert (await rosters.stored("learners", user_id))["courses"] == []
    events = [
        e["event_type"] for e in map(_payload, (await rosters.stored("enrollments", removed.id))["outbox"])
    ]
    assert events.count("ENROLLMENT_REMOVED") == 1
    # Removed: no content, no progress, no access for other services.
    assert await rosters.service.viewer_enrollments(learner, [course_id]) == [None]
    with pytest.raises(Forbidden):
        await rosters.service.complete_lesson(learner, course_id, lesson)
    access = await rosters.service.course_access(Actor(service="assessments"), course_id, user_id)
    assert access is not None and access.enrollment is None

    back = await rosters.roster.enroll_user(instructor, course_id, user_id)
    assert back.status is EnrollmentStatus.ACTIVE and back.completed_lessons == [lesson]
    with pytest.raises(Conflict) as twice:
        await rosters.roster.enroll_user(instructor, course_id, user_id)
    assert twice.value.details == {"reason": "ALREADY_ENROLLED"}
    assert (await rosters.stored("courses", ObjectId(course_id)))["enrollment_count"] == 1
    # Removed again, the learner comes back by themself, counted once more.
    await rosters.roster.unenroll_user(instructor, course_id, user_id)
    own = await rosters.service.enroll(learner, course_id)
    assert own.status is EnrollmentStatus.ACTIVE and own.completed_lessons == [lesson]
    assert (await rosters.stored("courses", ObjectId(course_id)))["enrollment_count"] == 1
    with pytest.raises(Conflict):
        await rosters.service.enroll(learner, course_id)


async def test_roles_and_refusals(rosters: Rosters) -> None:
    instructor, stranger = user(Role.INSTRUCTOR), user(Role.INSTRUCTOR)
    course_id = await a_course(rosters, instructor)
    (ta_id, _), (learner_id, _) = rosters.directory.add(2)
    ta = Actor(user_id=uuid.UUID(ta_id), role=Role.LEARNER)
    await rosters.roster.enroll_user(instructor, course_id, learner_id)
    summary = await rosters.roster.set_course_role(
        instructor, course_id, ta_id, CourseRole.TEACHING_ASSISTANT
    )
    assert summary.teaching_assistants == (ta_id,)
    page = await rosters.roster.roster(ta, summary, first=10, after=None)
    assert [(e.user_id, e.role) for _, e in page.items] == [(learner_id, CourseRole.LEARNER)]
    assert rosters.roster.viewer_role(ta, summary, None) is CourseRole.TEACHING_ASSISTANT

    before = await rosters.stored("courses", ObjectId(course_id))
    for caller in (ta, stranger, Actor(user_id=uuid.UUID(learner_id), role=Role.LEARNER)):
        with pytest.raises(Forbidden):
            await rosters.roster.enroll_user(caller, course_id, ta_id)
        with pytest.raises(Forbidden):
            await rosters.roster.unenroll_user(caller, course_id, learner_id)
        with pytest.raises(Forbidden):
            await rosters.roster.set_course_role(caller, course_id, learner_id, CourseRole.TEACHING_ASSISTANT)
        with pytest.raises(Forbidden):
            await rosters.roster.enroll_users(caller, course_id, [learner_id])
        with pytest.raises(Forbidden):
            await rosters.service.update_course(
                caller, course_id, title="Mine", description=None, modules=None
            )
    with pytest.raises(Forbidden):
        await rosters.roster.roster(stranger, summary, first=10, after=None)
    with pytest.raises(NotFound):
        await rosters.roster.enroll_user(instructor, course_id, str(uuid.uuid4()))
    assert await rosters.stored("courses", ObjectId(course_id)) == before


async def test_the_roster_pages_on_after_a_learner_left_it(rosters: Rosters) -> None:
    instructor = user(Role.INSTRUCTOR)
    course_id = await a_course(rosters, instructor)
    people = [user_id for user_id, _ in rosters.directory.add(3)]
    for user_id in people:  # one at a time: each enrolled after the one before
        await rosters.roster.enroll_user(instructor, course_id, user_id)
    course = rosters.catalog.get(course_id)
    assert course is not None
    first = await rosters.roster.roster(instructor, course, first=1, after=None)
    assert [e.user_id for _, e in first.items] == people[:1] and first.has_next
    # The learner the cursor names leaves: the next page still starts after them.
    await rosters.roster.unenroll_user(instructor, course_id, people[0])
    rest = await rosters.roster.roster(instructor, course, first=5, after=first.end_cursor)
    assert [e.user_id for _, e in rest.items] == people[1:] and not rest.has_next


def _payload(entry: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(entry["payload"])
    return payload
