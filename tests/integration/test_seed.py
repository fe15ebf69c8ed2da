"""`coursegraph seed` on real PostgreSQL and MongoDB: counts, consistency, `--reset`, and the graph reads it.

The command runs as a user runs it (a subprocess, configured by environment), against a throwaway
PostgreSQL database and a throwaway MongoDB database, so no other test sees the seeded catalog.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pymongo import AsyncMongoClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coursegraph.seeding import SEED_EMAIL_DOMAIN, SEED_MARKER
from subgraphs.courses.models import enrollment_id
from tests.support.stack import REPO, Stack, run_stack

pytestmark = pytest.mark.integration

INSTRUCTORS, COURSES, LEARNERS, PER_LEARNER, SEED = 4, 40, 30, 3, 11
SIZE = [
    f"--instructors={INSTRUCTORS}",
    f"--courses={COURSES}",
    f"--learners={LEARNERS}",
    f"--enrollments-per-learner={PER_LEARNER}",
    f"--seed={SEED}",
]


@dataclass
class Stores:
    env: dict[str, str]  # the seed command's (and the stack's) settings
    users: AsyncEngine
    mongo: AsyncMongoClient[dict[str, Any]]
    database: str

    @property
    def courses(self) -> Any:
        return self.mongo[self.database]["courses"]

    @property
    def enrollments(self) -> Any:
        return self.mongo[self.database]["enrollments"]


@dataclass
class Run:
    returncode: int
    output: str


async def seed(stores: Stores, *args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "coursegraph_cli",
        "seed",
        *args,
        cwd=REPO,
        env=stores.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return Run(await process.wait(), output.decode(errors="replace"))


@pytest.fixture(scope="module")
async def stores(
    database_url: str, mongodb_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stores]:
    name = f"seed_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name)
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
    env = {
        **inherited,
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_DATA_DIR": str(tmp_path_factory.mktemp("seed-data")),
        "COURSEGRAPH_DATABASE_URL": url.render_as_string(hide_password=False),
        "COURSEGRAPH_MONGODB_URL": mongodb_url,
        "COURSEGRAPH_COURSES_DATABASE": name,
        "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
    }
    users = create_async_engine(url)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    yield Stores(env=env, users=users, mongo=mongo, database=name)
    await mongo.drop_database(name)
    await mongo.close()
    await users.dispose()
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="module")
async def seeded(stores: Stores) -> Run:
    run = await seed(stores, *SIZE)
    assert run.returncode == 0, run.output
    return run


async def seeded_users(stores: Stores) -> list[dict[str, Any]]:
    async with stores.users.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT id, email, name, role FROM users WHERE email LIKE :domain ORDER BY email"),
            {"domain": f"%@{SEED_EMAIL_DOMAIN}"},
        )
        return [dict(row) for row in rows.mappings()]


async def seeded_snapshot(stores: Stores) -> dict[str, Any]:
    """Everything seeding wrote, in a comparable form."""
    courses = await stores.courses.find({SEED_MARKER: True}).to_list()
    enrollments = await stores.enrollments.find({SEED_MARKER: True}).to_list()
    # Enrolling derives an enrollment's id from its learner and course (ADR 0014): seeding does too.
    assert all(e["_id"] == enrollment_id(e["user_id"], e["course_id"]) for e in enrollments)
    counts = Counter(e["course_id"] for e in enrollments)
    assert all(c["enrollment_count"] == counts[str(c["_id"])] for c in courses), "counted, as enrolling does"
    return {
        "users": [(str(u["id"]), u["email"], u["name"], u["role"]) for u in await seeded_users(stores)],
        "courses": sorted(
            (same(c["_id"]), c["instructor_id"], c["title"], c["status"], c["lesson_count"]) for c in courses
        ),
        "enrollments": sorted(
            (e["user_id"], same(e["course_id"]), e["completed_lessons"], e["progress"]) for e in enrollments
        ),
    }


def same(object_id: Any) -> str:
    """The part of a seeded ObjectId that the seed decides (its first 4 bytes are the document's date,
    and dates are relative to the time of the run)."""
    return str(object_id)[8:]


async def test_seed_loads_the_requested_catalog(stores: Stores, seeded: Run) -> None:
    users = await seeded_users(stores)
    roles = Counter(user["role"] for user in users)
    assert roles == {"instructor": INSTRUCTORS, "learner": LEARNERS}
    instructors = {str(u["id"]) for u in users if u["role"] == "instructor"}

    courses = await stores.courses.find({}).to_list()
    assert len(courses) == COURSES and all(course[SEED_MARKER] is True for course in courses)
    statuses = Counter(course["status"] for course in courses)
    assert set(statuses) == {"draft", "published", "archived"}, statuses
    assert statuses["published"] > statuses["draft"] + statuses["archived"]
    for course in courses:
        assert course["instructor_id"] in instructors
        lessons = [lesson for module in course["modules"] for lesson in module["lessons"]]
        assert course["lesson_count"] == len(lessons) > 0
        assert [m["order"] for m in course["modules"]] == list(range(1, len(course["modules"]) + 1))
        assert all(lesson["title"] and lesson["content"] for lesson in lessons)
        assert (course["published_at"] is not None) == (course["status"] != "draft")
        if course["status"] == "archived":
            assert course["published_at"] < course["archived_at"] <= datetime.now(UTC)
    enrollments = await stores.enrollments.find({}).to_list()
    assert len(enrollments) > LEARNERS, "most learners have several enrollments"
    assert "published courses" in seeded.output and "Took" in seeded.output


async def test_enrollments_agree_with_their_courses(stores: Stores, seeded: Run) -> None:
    learners = {str(u["id"]) for u in await seeded_users(stores) if u["role"] == "learner"}
    courses = {str(c["_id"]): c for c in await stores.courses.find({}).to_list()}
    enrollments = await stores.enrollments.find({}).to_list()
    pairs = [(e["user_id"], e["course_id"]) for e in enrollments]
    assert len(pairs) == len(set(pairs)), "one enrollment per learner and course"
    assert max(Counter(user for user, _ in pairs).values()) <= PER_LEARNER
    progress_seen = set()
    for enrollment in enrollments:
        assert enrollment["user_id"] in learners and enrollment[SEED_MARKER] is True
        course = courses[enrollment["course_id"]]
        assert course["status"] != "draft" and enrollment["enrolled_at"] >= course["published_at"]
        lessons = [lesson["id"] for module in course["modules"] for lesson in module["lessons"]]
        completed = enrollment["completed_lessons"]
        assert set(completed) <= set(lessons) and len(completed) == len(set(completed))
        assert enrollment["progress"] == round(100 * len(completed) / len(lessons), 2)
        finished = len(completed) == len(lessons)
        assert (enrollment["status"] == "completed") == finished
        assert (enrollment["completed_at"] is not None) == finished
        progress_seen.add("none" if not completed else "all" if finished else "partial")
    assert progress_seen == {"none", "partial", "all"}
    # Each learner's list of courses (what "my enrollments" reads, ADR 0014), in the order they enrolled.
    lists = {doc["_id"]: doc["courses"] async for doc in stores.courses.database["learners"].find({})}
    by_learner: dict[str, list[dict[str, Any]]] = {}
    for enrollment in enrollments:
        by_learner.setdefault(enrollment["user_id"], []).append(enrollment)
    assert lists == {
        user: [e["course_id"] for e in sorted(mine, key=lambda e: e["enrolled_at"])]
        for user, mine in by_learner.items()
    }


async def test_seeding_announces_nothing(stores: Stores, seeded: Run) -> None:
    assert await stores.courses.count_documents({"outbox.0": {"$exists": True}}) == 0
    assert await stores.enrollments.count_documents({"outbox.0": {"$exists": True}}) == 0
    async with stores.users.connect() as connection:
        assert (await connection.execute(sa.text("SELECT count(*) FROM outbox_events"))).scalar_one() == 0


@pytest.fixture(scope="module")
def stack(stores: Stores, seeded: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {key: value for key, value in stores.env.items() if key.startswith("COURSEGRAPH_")}
    with run_stack(env, tmp_path_factory.mktemp("seed-stack") / "stack.log") as running:
        yield running


CATALOG = """query($first: Int!) {
  courses(first: $first) {
    totalCount
    edges { node { id title status publishedAt lessonCount enrollmentCount instructor { id name } } }
  }
}"""


async def test_the_seeded_catalog_reads_through_the_router(stores: Stores, stack: Stack) -> None:
    response = await asyncio.to_thread(stack.graphql, CATALOG, {"first": 20})
    body = response.json()
    assert body.get("errors") is None, body
    catalog = body["data"]["courses"]
    published = await stores.courses.count_documents({"status": "published"})
    assert catalog["totalCount"] == published and len(catalog["edges"]) == min(20, published)
    names = {str(u["id"]): u["name"] for u in await seeded_users(stores)}
    for edge in catalog["edges"]:
        course = edge["node"]
        assert course["status"] == "PUBLISHED" and course["publishedAt"]
        assert course["instructor"]["name"] == names[course["instructor"]["id"]], "federated from users"
        stored = await stores.enrollments.count_documents({"course_id": course["id"]})
        assert course["enrollmentCount"] == stored


async def test_reset_replaces_only_seeded_data_with_the_same_catalog(stores: Stores, seeded: Run) -> None:
    before = await seeded_snapshot(stores)
    # Data that seeding does not own: a real user and their draft course must survive --reset.
    own_user, own_course = uuid.uuid4(), f"own course {uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    async with stores.users.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO users (id, email, name, provider, provider_id, role, created_at, updated_at)"
                " VALUES (:id, :email, 'Own', 'google', :sub, 'instructor', :now, :now)"
            ),
            {"id": own_user, "sub": own_user.hex, "email": f"own-{own_user.hex[:8]}@example.org", "now": now},
        )
    await stores.courses.insert_one(
        {
            "title": own_course,
            "instructor_id": str(own_user),
            "status": "draft",
            "created_at": now,
            "updated_at": now,
        }
    )
    # ...while the own user's enrollment in a seeded course goes with that course.
    a_seeded_course = await stores.courses.find_one({SEED_MARKER: True, "status": "published"})
    assert a_seeded_course is not None
    await stores.enrollments.insert_one(
        {"user_id": str(own_user), "course_id": str(a_seeded_course["_id"]), "enrolled_at": now}
    )

    refused = await seed(stores, *SIZE)
    assert refused.returncode == 1 and "--reset" in refused.output, refused.output
    assert await seeded_snapshot(stores) == before, "a refused seed changes nothing"
    assert await stores.enrollments.count_documents({"user_id": str(own_user)}) == 1

    for _ in range(2):  # idempotent: the same seed gives the same catalog, however often it is reset
        reset = await seed(stores, "--reset", *SIZE)
        assert reset.returncode == 0, reset.output
        assert "Removed earlier seeded data" in reset.output
        assert await seeded_snapshot(stores) == before

    assert await stores.courses.count_documents({"title": own_course}) == 1
    assert await stores.enrollments.count_documents({"user_id": str(own_user)}) == 0
    async with stores.users.connect() as connection:
        owner = await connection.execute(
            sa.text("SELECT count(*) FROM users WHERE id = :id"), {"id": own_user}
        )
        assert owner.scalar_one() == 1


async def test_clear_removes_the_seeded_data_and_nothing_else(stores: Stores, seeded: Run) -> None:
    cleared = await seed(stores, "--clear")
    assert cleared.returncode == 0, cleared.output
    assert await seeded_users(stores) == []
    assert await stores.courses.count_documents({SEED_MARKER: True}) == 0
    assert await stores.enrollments.count_documents({}) == 0
    assert await stores.courses.count_documents({}) == 1, "the course seeding does not own stays"


def test_an_unreachable_document_store_is_named_and_nothing_changes(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
    env |= {"COURSEGRAPH_DATA_DIR": str(tmp_path / "dev"), "COURSEGRAPH_DEV_MONGODB_PORT": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "coursegraph_cli", "seed", "--courses=1", "--learners=1", "--instructors=1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    message = " ".join((run.stdout + run.stderr).split())
    assert "MongoDB is not reachable at mongodb://127.0.0.1:1/" in message and "coursegraph dev" in message
    assert not (tmp_path / "dev" / "users.db").exists(), "the users store was not touched"
