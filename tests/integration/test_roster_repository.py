"""A course's roster (ADR 0031) on the real document store: completed once from the enrollments when it
is not known complete, kept by adds and removals after that, and never undone by an add that raced it."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from coursegraph.mongo import init_models, mongo_client
from subgraphs.courses.models import Enrollment, Roster, enrollment_id
from subgraphs.courses.repository import RosterRepository

pytestmark = pytest.mark.integration

T0 = datetime(2031, 6, 1, tzinfo=UTC)


@pytest.fixture
async def database(mongodb_url: str) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = mongo_client(mongodb_url, service="roster-tests")
    name = f"rosters_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [Enrollment, Roster])
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def enroll(user_id: str, course_id: str, minutes: int) -> None:
    await Enrollment(
        id=enrollment_id(user_id, course_id),
        user_id=user_id,
        course_id=course_id,
        enrolled_at=T0 + timedelta(minutes=minutes),
    ).insert()


async def test_a_roster_is_completed_from_the_enrollments_once_then_kept(database: Any) -> None:
    rosters = RosterRepository()
    course, other = "c1", "c2"
    # Enrolled out of order, and one in another course.
    await enroll("late", course, 5)
    await enroll("early", course, 1)
    await enroll("elsewhere", other, 2)
    # An add that came before the roster was ever completed (an event of a new enrollment).
    await rosters.add(course, ["newest"])

    assert await rosters.learners(course) == ["newest", "early", "late"]
    stored = await database["rosters"].find_one({"_id": course})
    assert stored["complete"] is True

    # Complete now: an enrollment written behind the roster's back is not read again ...
    await enroll("unannounced", course, 9)
    assert await rosters.learners(course) == ["newest", "early", "late"]
    # ... while adds and removals keep it.
    await rosters.add(course, ["joined", "early"])
    await rosters.remove(course, ["late"])
    assert await rosters.learners(course) == ["newest", "early", "joined"]
    assert await rosters.learners("no-such-course") == []
