"""Two routers on one Redis enforce one budget per client and one subscription cap per user (issue 15,
item 2; ADR 0023), and keep serving on their own counters while Redis is down."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2EStack
from tests.support.graphql_ws import codes, first_message, open_socket, subscribe
from tests.support.redis import OwnRedis, running_redis
from tests.support.router import Router, run_router

pytestmark = pytest.mark.e2e

BUDGET = 20
CAP = 3
LEASE_SECONDS = 2
DECISIONS = 'coursegraph_router_limit_decisions_total{{decision="{}",limit="rate",store="{}"}}'
SUBSCRIBE = "subscription($c: ID!) { enrollmentProgress(courseId: $c) { progress } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[OwnRedis]:
    """Redis of this module's own: a test stops and restarts it."""
    with running_redis() as server:
        yield server


def router_env(redis_server: OwnRedis) -> dict[str, str]:
    return {
        "COURSEGRAPH_REDIS_URL": redis_server.url,
        "COURSEGRAPH_ROUTER_RATE_LIMIT": str(BUDGET),
        "COURSEGRAPH_ROUTER_MAX_SUBSCRIPTIONS": str(CAP),
        "COURSEGRAPH_ROUTER_SUBSCRIPTION_LEASE_SECONDS": str(LEASE_SECONDS),
        # The machine is shared and busy: a Redis answer later than the default 50 ms would be counted
        # locally, which these tests would read as a budget not shared.
        "COURSEGRAPH_ROUTER_REDIS_TIMEOUT_MS": "1000",
    }


@pytest.fixture(scope="module")
def routers(
    stack: E2EStack, redis_server: OwnRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Router, Router]]:
    """Routers A and B in front of the session stack's subgraphs, sharing this module's Redis. The stack's
    own router (no limit) is used for what the tests set up."""
    logs = tmp_path_factory.mktemp("routers")
    env = router_env(redis_server)
    with run_router(stack.stack, env, logs / "a.log") as a, run_router(stack.stack, env, logs / "b.log") as b:
        wait_for_redis(a, up=True)
        wait_for_redis(b, up=True)
        yield a, b


def wait_for_redis(router: Router, *, up: bool, timeout: float = 20) -> dict[str, Any]:
    """Until the router's readiness report says Redis is up (or down); returns the report."""
    deadline = time.monotonic() + timeout
    while True:
        report = router.readiness()
        if report["redis"]["up"] is up:
            return report
        assert time.monotonic() < deadline, f"Redis never became {'up' if up else 'down'}: {report}"
        time.sleep(0.2)


def client() -> dict[str, str]:
    """A client address of its own (the routers trust loopback proxies, so they believe it)."""
    suffix = uuid.uuid4().hex
    return {"x-forwarded-for": f"2001:db8::{suffix[:4]}:{suffix[4:8]}:{suffix[8:12]}"}


def spend(stack: E2EStack, routers: tuple[Router, ...], headers: dict[str, str], requests: int) -> list[int]:
    """`requests` requests of one client, spread over `routers` in turn; their status codes."""
    return [
        stack.graphql("{ __typename }", url=routers[n % len(routers)].router_url, headers=headers).status_code
        for n in range(requests)
    ]


def test_one_budget_over_two_routers(stack: E2EStack, routers: tuple[Router, Router]) -> None:
    a, b = routers
    headers = client()
    statuses = spend(stack, routers, headers, 2 * BUDGET)
    assert statuses.count(200) == BUDGET and statuses.count(429) == BUDGET, statuses
    # Answered as a single router answers: 429, RATE_LIMITED, Retry-After and RateLimit-*.
    refused = stack.graphql("{ __typename }", url=b.router_url, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED", refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60, refused.headers
    assert refused.headers["ratelimit-limit"] == str(BUDGET), refused.headers
    assert refused.headers["ratelimit-remaining"] == "0", refused.headers
    # Both routers counted in Redis, neither locally.
    for router in routers:
        metrics = router.metrics()
        assert metrics[DECISIONS.format("allowed", "redis")] > 0
        assert not any('store="local"' in name and value > 0 for name, value in metrics.items()), metrics
        assert metrics["coursegraph_router_redis_up"] == 1
    # Another client is not affected.
    assert stack.graphql("{ __typename }", url=a.router_url, headers=client()).status_code == 200


async def test_websocket_operations_take_from_the_same_shared_budget(
    stack: E2EStack, routers: tuple[Router, Router]
) -> None:
    a, b = routers
    headers = client()
    assert spend(stack, (a,), headers, BUDGET // 2) == [200] * (BUDGET // 2)
    socket = await open_socket(b.router_url, additional_headers=headers)
    try:
        answers = []
        for n in range(BUDGET - BUDGET // 2 + 1):
            await subscribe(socket, f"q{n}", "{ __typename }", {})
            answers.append(await first_message(socket, f"q{n}"))
        assert all(a["type"] == "next" and a["payload"].get("data") for a in answers[:-1]), answers
        assert codes(answers[-1]) == ["RATE_LIMITED"], answers[-1]
    finally:
        await socket.close()
    assert stack.graphql("{ __typename }", url=a.router_url, headers=headers).status_code == 429


async def test_a_users_subscriptions_are_capped_across_routers(
    stack: E2EStack, routers: tuple[Router, Router], redis_server: OwnRedis, tmp_path: Path
) -> None:
    a, b = routers
    course = stack.create_course(stack.sign_in_as("instructor")["access_token"], lessons=1)
    token = stack.sign_in()["access_token"]
    assert stack.graphql(ENROLL, {"c": course["id"]}, token=token).json().get("errors") is None
    variables = {"c": course["id"]}

    on_a = await open_socket(a.router_url, token, additional_headers=client())
    on_b = await open_socket(b.router_url, token, additional_headers=client())
    try:
        for n in range(CAP):
            await subscribe(on_a, f"a{n}", SUBSCRIBE, variables)
            opened = await first_message(on_a, f"a{n}")
            assert opened["type"] == "next" and opened["payload"]["data"], opened
        await subscribe(on_b, "b0", SUBSCRIBE, variables)
        assert codes(await first_message(on_b, "b0")) == ["RATE_LIMITED"]
        (user_key,) = redis_server.cli("--scan", "--pattern", "coursegraph:subscriptions:*").split()
        assert redis_server.cli("ZCARD", user_key) == str(CAP)

        # Closing one on A frees a slot on B.
        await on_a.send(json.dumps({"id": "a0", "type": "complete"}))
        await asyncio.sleep(0.5)
        assert redis_server.cli("ZCARD", user_key) == str(CAP - 1)
        await subscribe(on_b, "b1", SUBSCRIBE, variables)
        assert (await first_message(on_b, "b1"))["type"] == "next"
    finally:
        await on_a.close()
        await on_b.close()

    # A router that dies with subscriptions open: they stop counting once their lease ends.
    with run_router(stack.stack, router_env(redis_server), tmp_path / "c.log") as c:
        wait_for_redis(c, up=True)
        on_c = await open_socket(c.router_url, token, additional_headers=client())
        for n in range(CAP):
            await subscribe(on_c, f"c{n}", SUBSCRIBE, variables)
            assert (await first_message(on_c, f"c{n}"))["type"] == "next"
        # Leases are renewed while the router lives: after two of them, the cap still holds.
        await asyncio.sleep(2 * LEASE_SECONDS)
        socket = await open_socket(a.router_url, token, additional_headers=client())
        await subscribe(socket, "a-full", SUBSCRIBE, variables)
        assert codes(await first_message(socket, "a-full")) == ["RATE_LIMITED"]
        c.kill()
    await asyncio.sleep(LEASE_SECONDS + 0.5)
    try:
        await subscribe(socket, "a-freed", SUBSCRIBE, variables)
        assert (await first_message(socket, "a-freed"))["type"] == "next"
    finally:
        await socket.close()


def test_redis_down_the_routers_serve_on_their_own_counters_and_say_so(
    stack: E2EStack, routers: tuple[Router, Router], redis_server: OwnRedis
) -> None:
    a, b = routers
    redis_server.stop()
    try:
        for router in routers:
            report = wait_for_redis(router, up=False)
            assert report["status"] == "ready", report  # not a reason to take it out of service
            assert report["limits"] == "this router only (local counters)", report
            assert report["redis"]["reason"], report  # why
            assert router.metrics()["coursegraph_router_redis_up"] == 0

        # Still answered: each router allows the whole budget on its own (fail-open, ADR 0023).
        headers = client()
        assert spend(stack, (a,), headers, BUDGET) == [200] * BUDGET
        assert stack.graphql("{ __typename }", url=a.router_url, headers=headers).status_code == 429
        assert spend(stack, (b,), headers, 1) == [200]
        local = a.metrics()
        assert local[DECISIONS.format("allowed", "local")] >= BUDGET
        assert local[DECISIONS.format("refused", "local")] >= 1
        # Authenticated operations too (the stack's own router signs in; A verifies the token).
        token = stack.sign_in()["access_token"]
        me = stack.graphql("{ me { id } }", token=token, url=a.router_url, headers=client())
        assert me.status_code == 200 and me.json()["data"]["me"]["id"], me.text
    finally:
        redis_server.start()

    # Redis is back: the shared budget applies again.
    for router in routers:
        report = wait_for_redis(router, up=True)
        assert report["limits"] == "shared (redis)", report
    headers = client()
    statuses = spend(stack, routers, headers, 2 * BUDGET)
    assert statuses.count(200) == BUDGET and statuses.count(429) == BUDGET, statuses
    assert httpx.get(f"{a.base_url}/healthcheck", timeout=5).status_code == 200
