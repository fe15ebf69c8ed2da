"""The router's limits hold for what a client really asks (issue 8, findings 7, 8 and 10)."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import E2EStack, StartStack
from tests.support import graphql_ws
from tests.support.graphql_ws import codes, first_message, subscribe
from tests.support.redis import running_redis

pytestmark = pytest.mark.e2e

# Every course of a page, and every course its instructor teaches: first x inner first courses.
NESTED_PAGES = """query($first: Int!, $inner: Int!) {
  courses(first: $first) { edges { node { id instructor {
    coursesTeaching(first: $inner) { edges { node { id title } } } } } } } }"""


def test_demand_control_counts_a_page_as_its_first(stack: E2EStack) -> None:
    """100 x 100 courses is 10,000 objects: over the router's cost limit (5,000 by default). Counted as
    10 x 10 (the assumed size of any list) it passed."""
    token = stack.sign_in()["access_token"]
    refused = stack.graphql(NESTED_PAGES, {"first": 100, "inner": 100}, token=token)
    body = refused.json()
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert "cost" in body["errors"][0]["message"].lower(), body

    small = stack.graphql(NESTED_PAGES, {"first": 10, "inner": 10}, token=token).json()
    assert small.get("errors") is None and "courses" in small["data"], small
    # A single page of 100 is what pages allow; demand control lets it through.
    page = stack.graphql("{ courses(first: 100) { edges { node { id title } } } }", token=token).json()
    assert page.get("errors") is None, page


LIMIT = 5


@pytest.fixture(scope="module")
def limited(start_stack: StartStack) -> Iterator[E2EStack]:
    """A stack whose router allows each client LIMIT requests a minute (by address, the default), counted
    in a Redis of its own: no other stack's requests from the same addresses share its windows."""
    with (
        running_redis() as redis,
        start_stack(
            "limited", {"COURSEGRAPH_ROUTER_RATE_LIMIT": str(LIMIT), "COURSEGRAPH_REDIS_URL": redis.url}
        ) as running,
    ):
        yield running


def test_rest_clients_are_limited_each_on_their_own(limited: E2EStack) -> None:
    """rest-compat forwards who called it, and the router trusts it (a loopback proxy): one client
    over its limit is refused while another, through the same rest-compat, is not. Before, every REST
    client shared rest-compat's one budget. (An unknown course: an answer rest-compat never keeps, so every
    request reaches the router. Anonymous public reads its cache answers cost the graph nothing and are
    not counted: ADR 0024.)"""
    first = {"x-forwarded-for": "198.51.100.10"}
    unknown = f"/courses/{'0' * 24}"
    for _ in range(LIMIT):
        assert limited.rest("GET", unknown, headers=first).status_code == 404
    refused = limited.rest("GET", unknown, headers=first)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "RATE_LIMITED", refused.text
    assert int(refused.headers["retry-after"]) >= 1, refused.headers
    # The same client through the graph directly: the same budget, spent.
    direct = limited.graphql("{ courses(first: 1) { totalCount } }", headers=first)
    assert direct.status_code == 429, direct.text

    other = limited.rest("GET", unknown, headers={"x-forwarded-for": "198.51.100.11"})
    assert other.status_code == 404, other.text
    # What a client writes before the hop a trusted proxy added is not believed.
    spoofed = limited.rest("GET", unknown, headers={"x-forwarded-for": "203.0.113.1, 198.51.100.10"})
    assert spoofed.status_code == 429, spoofed.text


# --- WebSocket (graphql-transport-ws) -------------------------------------------------------------------


async def open_socket(stack: E2EStack, token: str | None = None, **options: Any) -> ClientConnection:
    return await graphql_ws.open_socket(str(stack.router_url), token, **options)


async def test_websocket_operations_count_against_the_clients_budget(limited: E2EStack) -> None:
    """620 operations on one socket used to be all answered: each now counts like an HTTP request."""
    socket = await open_socket(limited)
    try:
        answers = []
        for n in range(LIMIT + 1):
            await subscribe(socket, f"q{n}", "{ __typename }", {})
            answers.append(await first_message(socket, f"q{n}"))
        assert all(a["type"] == "next" and a["payload"].get("data") for a in answers[:LIMIT]), answers
        assert codes(answers[LIMIT]) == ["RATE_LIMITED"], answers[LIMIT]
        # The same client over HTTP: the same budget, spent.
        assert limited.graphql("{ __typename }").status_code == 429
    finally:
        await socket.close()


async def test_a_websocket_message_over_the_body_cap_closes_the_socket(stack: E2EStack) -> None:
    """ws defaults to 100 MiB messages; the router's HTTP cap (8 MiB) holds for sockets too: a 9 MiB
    message closes the socket with 1009 (message too big), unparsed and unanswered."""
    socket = await open_socket(stack, max_size=None)
    padding = "#" + "x" * (9 * 1024 * 1024)
    await subscribe(socket, "big", "{ __typename }" + padding, {})
    with pytest.raises(ConnectionClosed) as closed:
        await first_message(socket, "big")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value


SUBSCRIBE = "subscription($c: ID!) { enrollmentProgress(courseId: $c) { progress } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"


async def test_a_user_holds_at_most_ten_subscriptions_at_once(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    learner = stack.sign_in()
    token = learner["access_token"]
    assert stack.graphql(ENROLL, {"c": course["id"]}, token=token).json().get("errors") is None

    # Across two sockets: the cap is the user's, not the socket's.
    sockets = [await open_socket(stack, token), await open_socket(stack, token)]
    try:
        for n in range(10):
            socket = sockets[n % 2]
            await subscribe(socket, f"s{n}", SUBSCRIBE, {"c": course["id"]})
            opened = await first_message(socket, f"s{n}")
            assert opened["type"] == "next" and opened["payload"]["data"], opened
        await subscribe(sockets[0], "s10", SUBSCRIBE, {"c": course["id"]})
        assert codes(await first_message(sockets[0], "s10")) == ["RATE_LIMITED"]
        # Another user is not affected; closing one subscription makes room for another.
        other = stack.sign_in()
        assert (
            stack.graphql(ENROLL, {"c": course["id"]}, token=other["access_token"]).json().get("errors")
            is None
        )
        others = await open_socket(stack, other["access_token"])
        sockets.append(others)
        await subscribe(others, "o1", SUBSCRIBE, {"c": course["id"]})
        assert (await first_message(others, "o1"))["type"] == "next"
        await sockets[0].send(json.dumps({"id": "s0", "type": "complete"}))
        await asyncio.sleep(0.5)
        await subscribe(sockets[0], "s11", SUBSCRIBE, {"c": course["id"]})
        assert (await first_message(sockets[0], "s11"))["type"] == "next"
    finally:
        for socket in sockets:
            await socket.close()
