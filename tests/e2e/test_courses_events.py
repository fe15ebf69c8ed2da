"""course.events end to end: every event read back from the real Kafka topic, nothing lost or doubled.

Through the router as clients call it: each event carries the envelope and is keyed by its aggregate
(a course, or an enrollment); per-key order holds; duplicate and concurrent enrollments and racing
completions announce exactly once; an event recorded while Kafka is down, or by a service killed before
it could publish, is published exactly once later.
"""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient

from tests.e2e.conftest import E2EStack, unique_email
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.support.kafka import collect_events
from tests.support.stack import REPO, run_stack

pytestmark = pytest.mark.e2e

TOPIC = "course.events"
COURSES_DATABASE = "coursegraph_courses"  # the courses service's default database, looked in first
DEAD_KAFKA = "127.0.0.1:1"  # nothing listens there: every publish fails

ENROLL = """mutation($c: ID!) {
  enroll(courseId: $c) { enrollment { id progress status } errors { code field message } }
}"""
COMPLETE = """mutation($c: ID!, $l: ID!) {
  completeLesson(courseId: $c, lessonId: $l) {
    enrollment { id progress status completedAt completedLessonIds } errors { code }
  }
}"""
ARCHIVE = "mutation($id: ID!) { archiveCourse(id: $id) { course { id status } errors { code } } }"
VIEWER_ENROLLMENT = """query($id: ID!) {
  course(id: $id) { enrollmentCount viewerEnrollment { id progress status completedAt completedLessonIds } }
}"""

Received = list[tuple[bytes | None, dict[str, Any]]]


# --- helpers --------------------------------------------------------------------------------------


def lesson_ids(course: dict[str, Any]) -> list[str]:
    return [lesson["id"] for module in course["modules"] for lesson in module["lessons"]]


def enroll(stack: E2EStack, token: str, course_id: str) -> dict[str, Any]:
    body = stack.graphql(ENROLL, {"c": course_id}, token=token).json()
    assert body.get("errors") is None and not body["data"]["enroll"]["errors"], body
    enrollment: dict[str, Any] = body["data"]["enroll"]["enrollment"]
    return enrollment


def complete(stack: E2EStack, token: str, course_id: str, lesson_id: str) -> dict[str, Any]:
    body = stack.graphql(COMPLETE, {"c": course_id, "l": lesson_id}, token=token).json()
    assert body.get("errors") is None and not body["data"]["completeLesson"]["errors"], body
    enrollment: dict[str, Any] = body["data"]["completeLesson"]["enrollment"]
    return enrollment


def viewer_enrollment(stack: E2EStack, token: str, course_id: str) -> dict[str, Any]:
    body = stack.graphql(VIEWER_ENROLLMENT, {"id": course_id}, token=token).json()
    assert body.get("errors") is None, body
    course: dict[str, Any] = body["data"]["course"]
    return course


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def course_events(
    bootstrap: str, *, course_ids: set[str], expect: int, within: float = 30.0, settle: float = 0.0
) -> Received:
    return await collect_events(
        bootstrap,
        TOPIC,
        lambda e: e.get("course_id") in course_ids,
        expect=expect,
        within=within,
        settle=settle,
    )


def by_key(received: Received) -> dict[str, list[dict[str, Any]]]:
    """Events per message key, in the order Kafka delivered them (one key is one partition)."""
    keyed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, event in received:
        assert key is not None, event
        keyed[key.decode()].append(event)
    return keyed


def assert_envelope(event: dict[str, Any], *, user_id: str, course_id: str) -> None:
    assert set(event) >= {
        "event_id",
        "event_type",
        "timestamp",
        "user_id",
        "course_id",
        "metadata",
        "source",
        "version",
    }, event
    assert str(uuid.UUID(event["event_id"])) == event["event_id"]
    assert datetime.fromisoformat(event["timestamp"]).utcoffset() is not None, "timestamps carry a zone"
    assert event["user_id"] == user_id
    assert event["course_id"] == course_id
    assert isinstance(event["metadata"], dict)
    assert event["source"] == "courses"
    assert event["version"] == 1


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in events]


def outbox_of(
    mongodb_url: str, collection: str, document_id: str, database: str | None = None
) -> list[dict[str, Any]]:
    """The pending events of one document, read straight from MongoDB (in `database`, or in whichever
    database holds it: ObjectIds are unique, and the stack may use a database of its own)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongodb_url, tz_aware=True) as client:
        document = client[database or COURSES_DATABASE][collection].find_one({"_id": ObjectId(document_id)})
        for name in [] if database or document else client.list_database_names():
            document = client[name][collection].find_one({"_id": ObjectId(document_id)})
            if document is not None:
                break
        if document is not None:
            outbox: list[dict[str, Any]] = document.get("outbox", [])
            return outbox
    raise AssertionError(f"{collection}/{document_id} is in no database")


def pending_types(outbox: list[dict[str, Any]]) -> list[str]:
    return [json.loads(entry["payload"])["event_type"] for entry in outbox]


async def wait_for_empty_outbox(
    mongodb_url: str, collection: str, document_id: str, *, database: str | None = None
) -> None:
    deadline = time.monotonic() + 30
    while left := outbox_of(mongodb_url, collection, document_id, database):
        assert time.monotonic() < deadline, f"still pending after 30s: {left}"
        await asyncio.sleep(0.25)


def infra(action: str, service: str, *, attempts: int = 3) -> None:
    """`coursegraph infra up|down SERVICE`, as a developer runs it (retried: other clones' test runs
    may be starting or stopping the same service at that moment)."""
    outputs = []
    for _ in range(attempts):
        done = subprocess.run(
            [sys.executable, "-m", "coursegraph_cli", "infra", action, service],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode == 0:
            return
        outputs.append(done.stdout + done.stderr)
        time.sleep(2)
    raise AssertionError(f"infra {action} {service} failed:\n" + "\n---\n".join(outputs))


# --- 1. every event, its envelope, its key, its order ---------------------------------------------


async def test_every_course_event_carries_the_envelope_its_aggregate_key_and_keeps_order(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    instructor = stack.sign_in_as("instructor")
    instructor_id, instructor_token = instructor["user"]["id"], instructor["access_token"]
    course = stack.create_course(instructor_token, title="Events tour", lessons=2)
    learner = stack.sign_in()
    learner_id, token = learner["user"]["id"], learner["access_token"]
    enrollment = enroll(stack, token, course["id"])
    first, second = lesson_ids(course)
    complete(stack, token, course["id"], first)
    done = complete(stack, token, course["id"], second)
    assert done["progress"] == 100 and done["status"] == "COMPLETED"
    archived = stack.graphql(ARCHIVE, {"id": course["id"]}, token=instructor_token).json()
    assert archived["data"]["archiveCourse"]["course"]["status"] == "ARCHIVED", archived

    received = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=9, settle=2.0)
    keyed = by_key(received)
    assert set(keyed) == {course["id"], enrollment["id"]}, (
        "course events by course id, the rest by enrollment"
    )

    course_stream, enrollment_stream = keyed[course["id"]], keyed[enrollment["id"]]
    assert types(course_stream) == ["COURSE_CREATED", "COURSE_PUBLISHED", "COURSE_ARCHIVED"]
    assert types(enrollment_stream) == [
        "COURSE_ENROLLED",
        "LESSON_COMPLETED",
        "PROGRESS_UPDATED",
        "LESSON_COMPLETED",
        "PROGRESS_UPDATED",
        "COURSE_COMPLETED",
    ]
    for event in course_stream:
        assert_envelope(event, user_id=instructor_id, course_id=course["id"])
    for event in enrollment_stream:
        assert_envelope(event, user_id=learner_id, course_id=course["id"])
    assert len({e["event_id"] for _, e in received}) == 9, "every event has its own id"
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in enrollment_stream]
    assert stamps == sorted(stamps)

    created, published, archived_event = course_stream
    assert created["metadata"] == {"title": "Events tour"}
    assert published["metadata"] == {"title": "Events tour"}
    assert archived_event["metadata"] == {}
    enrolled, lesson_1, progress_1, lesson_2, progress_2, completed = enrollment_stream
    assert enrolled["metadata"] == {
        "enrollment_id": enrollment["id"],
        "course_title": "Events tour",
        "enrolled_by": learner_id,  # themself (an instructor may enroll others, issue 17)
        "reactivated": False,
    }
    assert lesson_1["metadata"] == {"lesson_id": first}
    assert progress_1["metadata"] == {"progress": 50.0, "previous_progress": 0.0}
    assert lesson_2["metadata"] == {"lesson_id": second}
    assert progress_2["metadata"] == {"progress": 100.0, "previous_progress": 50.0}
    assert completed["metadata"] == {"course_title": "Events tour"}


# --- 2. one enrollment, one event -----------------------------------------------------------------


async def test_a_second_enrollment_is_a_conflict_and_announces_nothing(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    course = stack.create_course(stack.sign_in_as("instructor")["access_token"], lessons=1)
    token = stack.sign_in()["access_token"]
    enrollment = enroll(stack, token, course["id"])

    again = stack.graphql(ENROLL, {"c": course["id"]}, token=token).json()
    assert error_code(again) == "CONFLICT"
    assert viewer_enrollment(stack, token, course["id"])["enrollmentCount"] == 1, "nothing changed"

    received = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, settle=3.0)
    enrolled = [(key, e) for key, e in received if e["event_type"] == "COURSE_ENROLLED"]
    assert len(enrolled) == 1, received
    assert enrolled[0][0] == enrollment["id"].encode()


async def test_concurrent_enrollments_of_one_learner_make_one_enrollment_and_one_event(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    course = stack.create_course(stack.sign_in_as("instructor")["access_token"], lessons=1)
    token = stack.sign_in()["access_token"]
    attempts = 12

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=attempts)) as client:
        gate = asyncio.Event()

        async def attempt() -> dict[str, Any]:
            await gate.wait()
            response = await client.post(
                stack.router_url,
                json={"query": ENROLL, "variables": {"c": course["id"]}},
                headers={"authorization": f"Bearer {token}"},
            )
            body: dict[str, Any] = response.json()
            return body

        tasks = [asyncio.create_task(attempt()) for _ in range(attempts)]
        await asyncio.sleep(0.05)
        gate.set()
        bodies = await asyncio.gather(*tasks)

    winners = [b["data"]["enroll"]["enrollment"] for b in bodies if not b.get("errors")]
    assert len(winners) == 1, bodies
    assert sorted(error_code(b) for b in bodies if b.get("errors")) == ["CONFLICT"] * (attempts - 1)
    state = viewer_enrollment(stack, token, course["id"])
    assert state["enrollmentCount"] == 1 and state["viewerEnrollment"]["id"] == winners[0]["id"]

    received = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, settle=3.0)
    enrolled = [(key, e) for key, e in received if e["event_type"] == "COURSE_ENROLLED"]
    assert [key for key, _ in enrolled] == [winners[0]["id"].encode()], received


# --- 3. completion happens once, even when the last two completions race ---------------------------


async def test_racing_last_completions_complete_each_enrollment_exactly_once(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    instructor_token = stack.sign_in_as("instructor")["access_token"]
    courses = [stack.create_course(instructor_token, lessons=4) for _ in range(5)]
    token = stack.sign_in()["access_token"]
    enrollments = {course["id"]: enroll(stack, token, course["id"])["id"] for course in courses}

    async with httpx.AsyncClient(timeout=60) as client:

        async def complete_async(course_id: str, lesson_id: str) -> dict[str, Any]:
            response = await client.post(
                stack.router_url,
                json={"query": COMPLETE, "variables": {"c": course_id, "l": lesson_id}},
                headers={"authorization": f"Bearer {token}"},
            )
            body: dict[str, Any] = response.json()
            assert body.get("errors") is None and not body["data"]["completeLesson"]["errors"], body
            enrollment: dict[str, Any] = body["data"]["completeLesson"]["enrollment"]
            return enrollment

        for course in courses:
            lessons = lesson_ids(course)
            for lesson in lessons[:2]:
                await complete_async(course["id"], lesson)
            # The last two at once: both read 50%, one write reaches 75, the other (re-deciding on the
            # fresh document after losing the version race) reaches 100 and completes the enrollment.
            racing = await asyncio.gather(*(complete_async(course["id"], lesson) for lesson in lessons[2:]))
            assert max(e["progress"] for e in racing) == 100, racing

    finished: dict[str, dict[str, Any]] = {}
    for course in courses:
        state = viewer_enrollment(stack, token, course["id"])["viewerEnrollment"]
        assert state["progress"] == 100 and state["status"] == "COMPLETED" and state["completedAt"], state
        assert sorted(state["completedLessonIds"]) == sorted(lesson_ids(course))
        finished[course["id"]] = state

    # Completing a lesson again changes nothing (the settle below proves it announces nothing either).
    for course in courses[:2]:
        for lesson in (lesson_ids(course)[0], lesson_ids(course)[-1]):
            repeated = complete(stack, token, course["id"], lesson)
            assert repeated == finished[course["id"]]
        assert viewer_enrollment(stack, token, course["id"])["viewerEnrollment"] == finished[course["id"]]

    # Per enrollment: enrolled, 4 x (lesson completed, progress updated), completed once.
    per_enrollment = 1 + 4 * 2 + 1
    received = await course_events(
        kafka_bootstrap,
        course_ids=set(enrollments),
        expect=len(courses) * (per_enrollment + 2),  # + created, published per course
        settle=3.0,
    )
    keyed = by_key(received)
    for course in courses:
        stream = keyed[enrollments[course["id"]]]
        counts = Counter(types(stream))
        assert counts == {
            "COURSE_ENROLLED": 1,
            "LESSON_COMPLETED": 4,
            "PROGRESS_UPDATED": 4,
            "COURSE_COMPLETED": 1,
        }, types(stream)
        assert types(stream)[-1] == "COURSE_COMPLETED", "completion follows the progress that reached 100"
        progress = [e["metadata"]["progress"] for e in stream if e["event_type"] == "PROGRESS_UPDATED"]
        assert progress == [25.0, 50.0, 75.0, 100.0], "progress only moves forward, never past 100"
        completed_lessons = [
            e["metadata"]["lesson_id"] for e in stream if e["event_type"] == "LESSON_COMPLETED"
        ]
        assert sorted(completed_lessons) == sorted(lesson_ids(course)), "each lesson announced once"
        assert types(keyed[course["id"]]) == ["COURSE_CREATED", "COURSE_PUBLISHED"]


# --- 4. nothing lost: Kafka down --------------------------------------------------------------------


@pytest.fixture
def kafka_restored() -> Iterator[None]:
    """Whatever happens in the test, Kafka is running again afterwards."""
    try:
        yield
    finally:
        infra("up", "kafka")


@pytest.mark.timeout(300)
async def test_an_enrollment_made_while_kafka_is_down_is_published_once_kafka_is_back(
    stack: E2EStack, kafka_bootstrap: str, mongodb_url: str, kafka_restored: None
) -> None:
    course = stack.create_course(stack.sign_in_as("instructor")["access_token"], lessons=1)
    learner = stack.sign_in()
    token = learner["access_token"]
    # The course's own events go out first, so only the enrollment waits for Kafka below.
    await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=2)

    infra("down", "kafka")
    try:
        started = time.monotonic()
        enrollment = enroll(stack, token, course["id"])
        write_seconds = time.monotonic() - started
        assert write_seconds < 5, f"the write must not wait for Kafka ({write_seconds:.1f}s)"
        pending = outbox_of(mongodb_url, "enrollments", enrollment["id"])
        assert pending_types(pending) == ["COURSE_ENROLLED"]
        await asyncio.sleep(3)  # the relay tries, fails and backs off meanwhile
        assert outbox_of(mongodb_url, "enrollments", enrollment["id"]) == pending, "kept while Kafka is down"
    finally:
        down_for = time.monotonic() - started
        infra("up", "kafka")
    back = time.monotonic()
    restart_seconds = back - started - down_for

    # Delivery first (timed), then a settled read of the whole stream: exactly once.
    await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, within=120)
    delivered_after = time.monotonic() - back
    received = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, settle=3.0)
    print(
        f"\nKafka down {down_for:.1f}s: enroll took {write_seconds:.2f}s; Kafka restart took "
        f"{restart_seconds:.1f}s; event delivered {delivered_after:.1f}s after Kafka was ready"
    )
    delivered = [(key, e) for key, e in received if e["event_type"] == "COURSE_ENROLLED"]
    assert [e["event_id"] for _, e in delivered] == [pending[0]["event_id"]], received
    assert delivered[0][0] == enrollment["id"].encode()
    assert delivered[0][1]["user_id"] == learner["user"]["id"]
    await wait_for_empty_outbox(mongodb_url, "enrollments", enrollment["id"])


# --- 5. nothing lost: the service killed between the write and the publish ------------------------


@pytest.mark.timeout(400)
async def test_an_event_pending_when_the_service_is_killed_is_published_once_after_restart(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    mongodb_url: str,
    kafka_bootstrap: str,
    oauth_provider: FakeOAuthProvider,
) -> None:
    # A database of its own: the session's stack (whose relay reads `coursegraph_courses`) must not
    # publish this test's pending events for it.
    database = f"coursegraph_courses_crash_{uuid.uuid4().hex[:10]}"
    admin_email = unique_email("admin")

    def environment(kafka: str, data_dir: Path) -> dict[str, str]:
        return {
            "COURSEGRAPH_PROFILE": "test",
            "COURSEGRAPH_DATA_DIR": str(data_dir),
            "COURSEGRAPH_DATABASE_URL": database_url,
            "COURSEGRAPH_MONGODB_URL": mongodb_url,
            "COURSEGRAPH_COURSES_DATABASE": database,
            "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS": kafka,
            "COURSEGRAPH_ADMIN_EMAILS": admin_email,
            "COURSEGRAPH_OUTBOX_MAX_BACKOFF_SECONDS": "2",
            **oauth_provider.environment(),
        }

    try:
        crashed_dir = tmp_path_factory.mktemp("crashed-stack")
        with run_stack(environment(DEAD_KAFKA, crashed_dir), crashed_dir / "stack.log") as running:
            crashing = E2EStack(running, oauth_provider, admin_email, crashed_dir)
            course = crashing.create_course(crashing.sign_in_as("instructor")["access_token"], lessons=1)
            learner = crashing.sign_in()
            enrollment = enroll(crashing, learner["access_token"], course["id"])
            pending = outbox_of(mongodb_url, "enrollments", enrollment["id"], database)
            assert pending_types(pending) == ["COURSE_ENROLLED"]
            await asyncio.sleep(2)  # the relay tries (and fails) at least once
            assert outbox_of(mongodb_url, "enrollments", enrollment["id"], database) == pending
            crashing.kill()  # SIGKILL: no shutdown, no last publish attempt
        course_outbox = outbox_of(mongodb_url, "courses", course["id"], database)
        assert pending_types(course_outbox) == ["COURSE_CREATED", "COURSE_PUBLISHED"], "they wait too"

        nothing = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=1, within=5)
        assert nothing == [], "nothing reached Kafka before the restart"

        restarted_dir = tmp_path_factory.mktemp("restarted-stack")
        started = time.monotonic()
        with run_stack(environment(kafka_bootstrap, restarted_dir), restarted_dir / "stack.log"):
            up = time.monotonic()
            await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, within=120)
            delivered = time.monotonic()
            received = await course_events(kafka_bootstrap, course_ids={course["id"]}, expect=3, settle=3.0)
            await wait_for_empty_outbox(mongodb_url, "enrollments", enrollment["id"], database=database)
            await wait_for_empty_outbox(mongodb_url, "courses", course["id"], database=database)
        print(
            f"\nkilled service: restart took {up - started:.1f}s; "
            f"events delivered {delivered - up:.1f}s after it was ready"
        )
        keyed = by_key(received)
        assert [e["event_id"] for e in keyed[enrollment["id"]]] == [pending[0]["event_id"]]
        assert keyed[enrollment["id"]][0]["user_id"] == learner["user"]["id"]
        assert [e["event_id"] for e in keyed[course["id"]]] == [e["event_id"] for e in course_outbox]
        assert len(received) == 3, received
    finally:
        dropper: MongoClient[dict[str, Any]]
        with MongoClient(mongodb_url) as dropper:
            dropper.drop_database(database)
