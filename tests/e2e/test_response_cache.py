"""The router's shared response cache (issue 15, item 3; ADR 0024): anonymous public reads are answered from
Redis without reaching the courses subgraph, a catalog change signal makes the next request a miss, nothing
personal is ever served from it, and without Redis every request is answered by the subgraphs.

The router under test reaches the courses subgraph through a counting proxy: what it counts is what reached
the subgraph. The catalog change signal is sent by hand here (`INCR` + `PUBLISH`, as the contract says the
courses service sends it), on a Redis of this module's own."""

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from coursegraph_cli.launcher import ROUTER_DIR
from tests.e2e.conftest import E2EStack
from tests.support.redis import OwnRedis, running_redis
from tests.support.router import Router, run_router
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.e2e

CATALOG = """query Catalog($first: Int!) {
  courses(first: $first) { totalCount edges { node { id title status instructor { id name } } } } }"""
COURSE = "query($id: ID!) { course(id: $id) { id title viewerEnrollment { id } } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"


@dataclass
class CountingProxy:
    """Forwards every request to the courses subgraph and counts them."""

    target: str
    url: str = ""  # where the router reaches it
    requests: int = 0
    signed_in: int = 0
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))

    async def forward(self, request: Request) -> Response:
        self.requests += 1
        self.signed_in += "authorization" in request.headers
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = await self.client.request(
            request.method, self.target, content=await request.body(), headers=headers
        )
        return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))


@pytest.fixture(scope="module")
def redis_server() -> Iterator[OwnRedis]:
    """Redis of this module's own: a test stops and restarts it."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(stack: E2EStack) -> Iterator[CountingProxy]:
    counting = CountingProxy(stack.subgraph_urls["courses"])
    app = Starlette(
        routes=[
            Route("/health", lambda _: PlainTextResponse("ok")),
            Route("/graphql", counting.forward, methods=["POST"]),
        ]
    )
    with serve_in_thread(app) as base:
        counting.url = f"{base}/graphql"
        yield counting


@pytest.fixture(scope="module")
def router(
    stack: E2EStack, redis_server: OwnRedis, proxy: CountingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Router]:
    env = {
        "COURSEGRAPH_REDIS_URL": redis_server.url,
        "COURSEGRAPH_SUBGRAPH_URL_COURSES": proxy.url,
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
        "COURSEGRAPH_ROUTER_RESPONSE_CACHE_TTL_SECONDS": "60",
        "COURSEGRAPH_ROUTER_REDIS_TIMEOUT_MS": "1000",  # a busy machine: no false "Redis down"
    }
    with run_router(stack.stack, env, tmp_path_factory.mktemp("cached") / "router.log") as running:
        wait_for_cache(running, subscribed=True)
        yield running


def wait_for_cache(router: Router, *, subscribed: bool, version: int | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        cache = router.readiness()["responseCache"]
        if cache["subscribed"] is subscribed and (version is None or cache["catalogVersion"] == version):
            return dict(cache)
        assert time.monotonic() < deadline, cache
        time.sleep(0.1)


def stored(redis_server: OwnRedis) -> int:
    """Answers in the cache (the store is not awaited by the request that writes it)."""
    return len(redis_server.cli("--scan", "--pattern", "coursegraph:response-cache:*").split())


def ask(
    stack: E2EStack, router: Router, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    answer = stack.graphql(query, variables, token=token, url=router.router_url)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ask_twice_anonymously(
    stack: E2EStack,
    router: Router,
    proxy: CountingProxy,
    redis_server: OwnRedis,
    query: str,
    variables: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The first answer (a miss, then cached), the second, and how many subgraph requests the second made."""
    before_store = stored(redis_server)
    first = ask(stack, router, query, variables)
    deadline = time.monotonic() + 5
    while stored(redis_server) == before_store and time.monotonic() < deadline:
        time.sleep(0.05)
    before = proxy.requests
    second = ask(stack, router, query, variables)
    return first, second, proxy.requests - before


def signal_catalog_change(redis_server: OwnRedis) -> int:
    """What the courses service does after a change (the contract's signal): INCR, then PUBLISH."""
    version = int(redis_server.cli("INCR", "coursegraph:catalog:version"))
    redis_server.cli("PUBLISH", "coursegraph:catalog", str(version))
    return version


def test_an_anonymous_catalog_page_is_served_from_the_cache(
    stack: E2EStack, router: Router, proxy: CountingProxy, redis_server: OwnRedis
) -> None:
    instructor = stack.sign_in_as("instructor")
    stack.create_course(instructor["access_token"])
    first, second, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, {"first": 7})
    assert first.get("errors") is None and first["data"]["courses"]["edges"], first
    assert second == first
    assert reached == 0, "the second identical request reached the courses subgraph"
    assert router.metrics()['coursegraph_router_response_cache_total{event="hit"}'] >= 1
    # Another page is another answer.
    before = proxy.requests
    other = ask(stack, router, CATALOG, {"first": 6})
    assert proxy.requests > before and len(other["data"]["courses"]["edges"]) <= 6


def test_a_catalog_change_makes_the_next_request_a_miss(
    stack: E2EStack, router: Router, proxy: CountingProxy, redis_server: OwnRedis
) -> None:
    variables = {"first": 8}
    cached, _, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, variables)
    assert reached == 0
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], title="Fresh from the signal")

    wait_for_cache(router, subscribed=True, version=signal_catalog_change(redis_server))
    before = proxy.requests
    fresh = ask(stack, router, CATALOG, variables)
    assert proxy.requests > before, "a request after the catalog changed was answered from the cache"
    assert fresh["data"]["courses"]["edges"][0]["node"]["id"] == course["id"], fresh
    assert fresh["data"]["courses"]["totalCount"] == cached["data"]["courses"]["totalCount"] + 1


def test_nothing_personal_is_served_from_the_cache(
    stack: E2EStack, router: Router, proxy: CountingProxy, redis_server: OwnRedis
) -> None:
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"])
    enrolled, other = stack.sign_in()["access_token"], stack.sign_in()["access_token"]
    enrollment = stack.graphql(ENROLL, {"c": course["id"]}, token=enrolled).json()
    enrollment_id = enrollment["data"]["enroll"]["enrollment"]["id"]

    # The anonymous answer is cached...
    variables = {"id": course["id"]}
    anonymous, again, reached = ask_twice_anonymously(stack, router, proxy, redis_server, COURSE, variables)
    assert anonymous["data"]["course"]["viewerEnrollment"] is None and again == anonymous and reached == 0
    # ...and never given to a signed-in user; each gets their own answer, every time from the subgraph.
    for token, expected in [
        (enrolled, {"id": enrollment_id}),
        (other, None),
        (enrolled, {"id": enrollment_id}),
    ]:
        before = proxy.signed_in
        answer = ask(stack, router, COURSE, variables, token)
        assert answer["data"]["course"]["viewerEnrollment"] == expected, answer
        assert proxy.signed_in > before

    # The catalog: an instructor sees their draft, although the anonymous page without it is cached.
    draft = stack.create_course(instructor["access_token"], publish=False)
    public, _, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, {"first": 9})
    assert reached == 0 and draft["id"] not in [e["node"]["id"] for e in public["data"]["courses"]["edges"]]
    own = ask(stack, router, CATALOG, {"first": 9}, instructor["access_token"])
    assert own["data"]["courses"]["edges"][0]["node"]["id"] == draft["id"], own


def test_routers_in_front_of_other_subgraphs_never_share_answers(
    stack: E2EStack,
    router: Router,
    proxy: CountingProxy,
    redis_server: OwnRedis,
    tmp_path: Path,
) -> None:
    """Another deployment (or test stack) on the same Redis: the cache key covers the subgraphs called."""
    variables = {"first": 4}
    mine, _, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, variables)
    assert reached == 0
    env = {"COURSEGRAPH_REDIS_URL": redis_server.url, "COURSEGRAPH_ROUTER_REDIS_TIMEOUT_MS": "1000"}
    with run_router(stack.stack, env, tmp_path / "elsewhere.log") as elsewhere:
        wait_for_cache(elsewhere, subscribed=True)
        entries = stored(redis_server)
        assert ask(stack, elsewhere, CATALOG, variables) == mine  # the same data, answered by the subgraphs
        assert 'coursegraph_router_response_cache_total{event="hit"}' not in elsewhere.metrics()
        deadline = time.monotonic() + 5
        while stored(redis_server) == entries:
            assert time.monotonic() < deadline, "the other router stored no answer of its own"
            time.sleep(0.05)


def test_errors_are_never_cached(stack: E2EStack, router: Router, proxy: CountingProxy) -> None:
    for _ in range(2):
        before = proxy.requests
        refused = stack.graphql("{ courses(first: 0) { totalCount } }", url=router.router_url).json()
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused
        assert proxy.requests > before, "an error was answered from the cache"


def test_the_cached_router_passes_the_graphql_over_http_audit(router: Router) -> None:
    run = subprocess.run(
        ["node", str(ROUTER_DIR / "audit.mjs"), router.router_url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 errors, 0 warnings, 0 notices" in run.stdout, run.stdout


def test_redis_down_every_request_is_answered_by_the_subgraphs(
    stack: E2EStack, router: Router, proxy: CountingProxy, redis_server: OwnRedis, tmp_path: Path
) -> None:
    variables = {"first": 5}
    cached, _, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, variables)
    assert reached == 0
    redis_server.stop()
    try:
        assert wait_for_cache(router, subscribed=False)["catalogVersion"] is None
        for _ in range(2):
            before = proxy.requests
            assert ask(stack, router, CATALOG, variables) == cached
            assert proxy.requests > before, "answered from a cache while Redis is down"
        assert router.metrics()['coursegraph_router_response_cache_total{event="bypass"}'] >= 2
    finally:
        redis_server.start()
    wait_for_cache(router, subscribed=True)
    _, _, reached = ask_twice_anonymously(stack, router, proxy, redis_server, CATALOG, variables)
    assert reached == 0
