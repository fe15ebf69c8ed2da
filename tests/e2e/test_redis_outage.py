"""Redis stopped under a running stack (issue 15; ADR 0022, 0023, 0024): every request is still answered,
caches step aside so no edit is hidden, readiness stays up and says why; when Redis is back, the caches
and the shared limits are used again."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2EStack, StartStack
from tests.support.redis import OwnRedis

pytestmark = pytest.mark.e2e

UPDATE_COURSE = """mutation($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id title } errors { code message } }
}"""
CATALOG = "{ courses(first: 50) { edges { node { id title } } } }"


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("outage-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_stack(start_stack: StartStack, redis: OwnRedis) -> Iterator[E2EStack]:
    with start_stack("redis-outage", {"COURSEGRAPH_REDIS_URL": redis.url}) as running:
        yield running


def until(seconds: float, probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        time.sleep(0.05)


def readiness(stack: E2EStack) -> dict[str, dict[str, Any]]:
    """What the courses service, rest-compat and the router say, each answering 200."""
    answers = {
        "courses": httpx.get(stack.subgraph_urls["courses"].removesuffix("/graphql") + "/ready", timeout=10),
        "rest-compat": httpx.get(f"{stack.rest_url}/ready", timeout=10),
        "router": httpx.get(stack.router_url.removesuffix("/graphql") + "/readiness", timeout=10),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
    return {name: answer.json() for name, answer in answers.items()}


def redis_healthy(report: dict[str, dict[str, Any]]) -> tuple[bool, bool, bool]:
    return (
        report["courses"]["catalog_signal"]["healthy"],
        report["rest-compat"]["catalog_signal"]["healthy"],
        report["router"]["redis"]["up"],
    )


def titles(stack: E2EStack) -> tuple[dict[str, str], dict[str, str]]:
    """The anonymous catalog through the router and through REST: both cached when Redis is up."""
    graph = stack.graphql(CATALOG).json()["data"]["courses"]["edges"]
    rest = stack.rest("GET", "/courses?first=50")
    assert rest.status_code == 200, rest.text
    return (
        {edge["node"]["id"]: edge["node"]["title"] for edge in graph},
        {item["id"]: item["title"] for item in rest.json()["data"]["items"]},
    )


def rename(stack: E2EStack, token: str, course_id: str, title: str) -> None:
    renamed = stack.graphql(UPDATE_COURSE, {"id": course_id, "input": {"title": title}}, token=token).json()
    assert renamed.get("errors") is None and renamed["data"]["updateCourse"]["errors"] == [], renamed


def test_requests_are_answered_and_nothing_is_hidden_while_redis_is_down(
    outage_stack: E2EStack, redis: OwnRedis
) -> None:
    stack = outage_stack
    until(20, lambda: redis_healthy(readiness(stack)) == (True, True, True), "Redis in use at the start")
    instructor = stack.sign_in_as("instructor", name=f"Outage {uuid.uuid4().hex[:6]}")["access_token"]
    course = stack.create_course(instructor)
    until(5, lambda: all(t.get(course["id"]) == course["title"] for t in titles(stack)), "the new course")
    before = redis.cli("GET", "coursegraph:catalog:version")
    assert int(before) >= 1  # the creation was announced

    redis.stop()
    until(
        20,
        lambda: redis_healthy(readiness(stack)) == (False, False, False),
        "every part saying Redis is down",
    )
    report = readiness(stack)
    assert report["router"]["redis"]["reason"], report["router"]
    assert report["courses"]["catalog_signal"]["version"] is None  # the caches step aside

    # Writes go on; reads, which the caches no longer answer, show them at once.
    rename(stack, instructor, course["id"], "Renamed while Redis was down")
    graph, rest = titles(stack)
    assert graph[course["id"]] == rest[course["id"]] == "Renamed while Redis was down"
    # Signed-in calls are served too (the limits count locally meanwhile).
    me = stack.graphql("{ me { id } }", token=instructor).json()
    assert me.get("errors") is None and me["data"]["me"]["id"], me

    redis.start()  # empty: nothing was persisted
    until(30, lambda: redis_healthy(readiness(stack)) == (True, True, True), "every part back on Redis")
    # The counter comes back at least where the services last saw it: no cache entry is reused.
    assert int(redis.cli("GET", "coursegraph:catalog:version")) >= int(before)
    rename(stack, instructor, course["id"], "Renamed after Redis came back")
    until(
        1, lambda: all(t[course["id"]] == "Renamed after Redis came back" for t in titles(stack)), "the edit"
    )
    assert redis.cli("--scan", "--pattern", "coursegraph:response-cache:*"), "the router caches again"
