"""The catalog read model against the real document store: starting from a snapshot, following the
catalog's generation, and the seed's bulk deletes in batches (ADR 0025)."""

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import init_models, mongo_client
from coursegraph.seeding import SEED_MARKER
from subgraphs.courses.catalog import Catalog
from subgraphs.courses.catalog_keeper import CatalogKeeper
from subgraphs.courses.models import Course, CourseStatus, Enrollment, Learner, Lesson, Module
from subgraphs.courses.repository import CatalogStateRepository, CourseRepository
from subgraphs.courses.seed import CourseSeeder
from tests.support.outbox import NoPublisher
from tests.support.stack import REPO

pytestmark = pytest.mark.integration

NOW = datetime(2031, 6, 1, tzinfo=UTC)


def course(title: str, *, minutes: int, status: CourseStatus = CourseStatus.PUBLISHED) -> Course:
    at = NOW + timedelta(minutes=minutes)
    return Course(
        id=ObjectId(),
        title=title,
        description=f"About {title}",
        instructor_id=str(uuid.uuid4()),
        status=status,
        modules=[
            Module(
                id="m1",
                title="One",
                order=1,
                lessons=[Lesson(id="l1", title="Hi", order=1, content="x" * 500)],
            )
        ],
        lesson_count=1,
        created_at=at,
        updated_at=at,
        published_at=at if status is CourseStatus.PUBLISHED else None,
    )


@pytest.fixture
async def store(mongodb_url: str) -> AsyncIterator[tuple[AsyncMongoClient[dict[str, Any]], str]]:
    client = mongo_client(mongodb_url, service="catalog-keeper-tests")
    name = f"catalog_keeper_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [Course, Enrollment, Learner])
    yield client, name
    await client.drop_database(name)
    await client.close()


class Replica:
    """What one courses replica keeps: its catalog and the keeper of it."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        self.announced = 0  # what the service would announce to the shared caches (ADR 0022)
        self.catalog = Catalog(on_change=self._changed)
        relay = DocumentOutboxRelay([], NoPublisher())
        self.keeper = CatalogKeeper(
            self.catalog,
            CourseRepository(relay),
            CatalogStateRepository(client[name]),
            lambda: datetime.now(UTC),
        )

    def _changed(self) -> None:
        self.announced += 1

    def titles(self) -> list[str]:
        return [summary.title for summary in self.catalog.newest_first(lambda _: True)]


async def test_a_replica_starts_from_the_snapshot_the_last_full_read_left(
    store: tuple[AsyncMongoClient[dict[str, Any]], str],
) -> None:
    client, name = store
    await client[name]["courses"].insert_many(
        [
            course("Algebra", minutes=1).model_dump(by_alias=True),
            course("Botany", minutes=2).model_dump(by_alias=True),
        ]
    )
    first = Replica(client, name)
    assert await first.keeper.start() is False  # no snapshot yet: every course is read
    assert first.keeper.source == "store" and first.titles() == ["Botany", "Algebra"]
    assert first.announced == 2, "each course that changed the catalog is announced to the shared caches"

    # A course written behind the replicas' backs is not in the snapshot: a replica that starts from
    # it does not have it until its full read (which follows, in the background).
    await client[name]["courses"].insert_one(course("Chemistry", minutes=3).model_dump(by_alias=True))
    second = Replica(client, name)
    assert await second.keeper.start() is True
    assert second.keeper.source == "snapshot" and second.titles() == ["Botany", "Algebra"]
    assert second.catalog.summaries() == first.catalog.summaries()  # outlines and all
    assert await second.keeper.reload() == 3
    assert second.titles() == ["Chemistry", "Botany", "Algebra"]


async def test_a_new_generation_reaches_a_running_replica(
    store: tuple[AsyncMongoClient[dict[str, Any]], str],
) -> None:
    client, name = store
    courses = client[name]["courses"]
    await courses.insert_one(course("Old", minutes=1).model_dump(by_alias=True))
    running = Replica(client, name)
    await running.keeper.start()
    assert running.titles() == ["Old"]

    # The seed's way: replace the courses, write the new generation's snapshot, then the generation.
    await courses.delete_many({})
    seeder = CourseSeeder(client, name, "test")
    new = [course("New 1", minutes=2), course("New 2", minutes=3, status=CourseStatus.DRAFT)]
    await courses.insert_many([document.model_dump(by_alias=True) for document in new])
    generation = await seeder.announce(datetime.now(UTC))
    assert generation == 1

    announced = running.announced
    await running.keeper.follow_generation()
    assert running.titles() == ["New 2", "New 1"]
    assert running.keeper.generation == 1 and running.announced > announced

    # Nothing moved: nothing is read again.
    await courses.insert_one(course("Unannounced", minutes=4).model_dump(by_alias=True))
    await running.keeper.follow_generation()
    assert running.titles() == ["New 2", "New 1"]


async def test_a_snapshot_of_an_older_generation_never_replaces_a_newer_one(
    store: tuple[AsyncMongoClient[dict[str, Any]], str],
) -> None:
    client, name = store
    state = CatalogStateRepository(client[name])
    assert await state.write_snapshot(b"two", generation=2, taken_at=NOW, courses=0)
    assert not await state.write_snapshot(b"one", generation=1, taken_at=NOW, courses=0)
    head = await state.snapshot_head()
    assert head is not None and head.generation == 2
    assert await state.read_snapshot(head) == b"two"
    # The refused snapshot left no chunks behind, and the replaced one's chunks are gone.
    assert await client[name]["catalog_snapshot_chunks"].count_documents({}) == len(head.chunks)


async def test_the_seed_removes_any_number_of_documents_in_batches(
    store: tuple[AsyncMongoClient[dict[str, Any]], str],
) -> None:
    """FerretDB on SQLite deletes what a filter matched with one SQL `IN` naming every id: removing the
    enrollments of ten times the demo catalog at once failed ("too many SQL variables"); so did naming
    the users of ten times the catalog in one `$in`."""
    client, name = store
    users = [str(uuid.uuid4()) for _ in range(40_000)]
    mine = course("Taught by a seeded user", minutes=1)
    mine.instructor_id = users[-1]
    theirs = course("Someone else's", minutes=2)
    await client[name]["courses"].insert_many(
        [document.model_dump(by_alias=True) for document in (mine, theirs)]
    )
    enrollments = client[name]["enrollments"]
    for start in range(0, 33_000, 5_500):
        await enrollments.insert_many(
            [{"user_id": users[i], "course_id": "x", SEED_MARKER: True} for i in range(start, start + 5_500)]
        )
    await enrollments.insert_one({"user_id": "someone", "course_id": str(theirs.id)})

    removed = await CourseSeeder(client, name, "test").remove(users)

    assert removed == {"courses": 1, "enrollments": 33_000}
    assert [doc["title"] async for doc in client[name]["courses"].find({})] == ["Someone else's"]
    assert await enrollments.count_documents({}) == 1


async def test_catalog_announce_after_a_restore_reaches_running_replicas(
    store: tuple[AsyncMongoClient[dict[str, Any]], str], mongodb_url: str
) -> None:
    """A restore writes courses behind every replica's back; `coursegraph catalog-announce` tells them."""
    client, name = store
    courses = client[name]["courses"]
    await courses.insert_many(
        [course(title, minutes=i).model_dump(by_alias=True) for i, title in enumerate("AB")]
    )
    running = Replica(client, name)
    await running.keeper.start()
    assert running.titles() == ["B", "A"]

    await courses.delete_many({"title": "A"})  # "the backup" had no A, and a C
    await courses.insert_one(course("C", minutes=5).model_dump(by_alias=True))
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")},
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_MONGODB_URL": mongodb_url,
        "COURSEGRAPH_COURSES_DATABASE": name,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coursegraph_cli",
        "catalog-announce",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
    assert await process.wait() == 0 and "2 courses" in output, output

    await running.keeper.follow_generation()
    assert running.titles() == ["C", "B"]
