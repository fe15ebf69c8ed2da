"""A subgraph that is down or still starting (issue 16, ADR 0028): requests that need it answer the retryable
UNAVAILABLE through GraphQL and 503 with Retry-After through REST, in the envelope, never 500 INTERNAL;
what does not need it is answered; once it is back, the same requests succeed.

The assessments service runs in a process of its own (as in production), behind a router and a rest-compat
of their own; the rest of the stack is the session's."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from coursegraph.codes import UNAVAILABLE_RETRY_AFTER_SECONDS
from tests.e2e.conftest import E2EStack
from tests.support.router import Router, run_router
from tests.support.servers import free_port
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.e2e

MISSING = "0" * 24  # an assessment id no assessment has
BOTH = "query($id: ID!) { me { id } assessment(id: $id) { id } }"


@dataclass
class Split:
    assessments: ServiceProcess
    router: Router
    rest_url: str


@pytest.fixture(scope="module")
def split(stack: E2EStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Split]:
    logs = tmp_path_factory.mktemp("unavailable")
    env = stack.stack.env
    assessments_port, rest_port = free_port(), free_port()
    assessments = ServiceProcess(
        "assessments",
        {**env, "COURSEGRAPH_ASSESSMENTS_PORT": str(assessments_port)},
        f"http://127.0.0.1:{assessments_port}",
        logs / "assessments.log",
    )
    assessments.start()
    try:
        overrides = {
            "COURSEGRAPH_SUBGRAPH_URL_ASSESSMENTS": f"{assessments.base_url}/graphql",
            "COURSEGRAPH_ROUTER_RESPONSE_CACHE_TTL_SECONDS": "0",  # every answer is the subgraphs' own
        }
        with run_router(stack.stack, overrides, logs / "router.log") as router:
            rest_env = {
                "COURSEGRAPH_REST_COMPAT_PORT": str(rest_port),
                "COURSEGRAPH_ROUTER_URL": router.router_url,
            }
            rest = ServiceProcess(
                "rest-compat",
                {**env, **rest_env},
                f"http://127.0.0.1:{rest_port}",
                logs / "rest-compat.log",
            )
            rest.start()
            try:
                yield Split(assessments, router, rest.base_url)
            finally:
                rest.stop()
    finally:
        assessments.stop()


def ask(split: Split, token: str) -> tuple[httpx.Response, httpx.Response]:
    """The same question through GraphQL and REST: an assessment (and, in GraphQL, the caller)."""
    headers = {"authorization": f"Bearer {token}"}
    operation = {"query": BOTH, "variables": {"id": MISSING}}
    graph = httpx.post(split.router.router_url, json=operation, headers=headers, timeout=30)
    rest = httpx.get(f"{split.rest_url}/assessments/{MISSING}", headers=headers, timeout=30)
    return graph, rest


def assert_answered(graph: httpx.Response, rest: httpx.Response, me: str) -> None:
    assert graph.status_code == 200 and graph.json() == {"data": {"me": {"id": me}, "assessment": None}}
    assert rest.status_code == 404 and rest.json()["error"]["code"] == "NOT_FOUND", rest.text


def assert_unavailable(graph: httpx.Response, rest: httpx.Response, me: str) -> None:
    body: dict[str, Any] = graph.json()
    assert graph.status_code == 200 and body["data"] == {"me": {"id": me}, "assessment": None}, body
    (error,) = body["errors"]
    extensions = error["extensions"]
    assert error["path"] == ["assessment"] and extensions["code"] == "UNAVAILABLE", error
    assert extensions["retryAfter"] == UNAVAILABLE_RETRY_AFTER_SECONDS
    assert rest.status_code == 503, rest.text
    assert rest.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    envelope = rest.json()
    assert envelope["success"] is False and envelope["data"] is None and envelope["timestamp"]
    assert envelope["error"]["code"] == "UNAVAILABLE" and envelope["error"]["message"], envelope


@pytest.mark.timeout(300)  # three processes of its own start (and one again) on a busy machine
def test_a_stopped_subgraph_is_unavailable_then_answers_once_it_is_back(
    stack: E2EStack, split: Split
) -> None:
    signed_in = stack.sign_in(f"split-{uuid.uuid4().hex[:8]}@example.org")
    token, me = signed_in["access_token"], signed_in["user"]["id"]
    assert_answered(*ask(split, token), me)

    split.assessments.stop()
    assert_unavailable(*ask(split, token), me)
    # What does not need the stopped subgraph is answered as ever.
    headers = {"authorization": f"Bearer {token}"}
    profile = httpx.get(f"{split.rest_url}/users/{me}", headers=headers, timeout=30)
    assert profile.status_code == 200, profile.text

    # Starting: every answer is UNAVAILABLE until the service answers, then the real one; never a 500.
    split.assessments.launch()
    deadline = time.monotonic() + 60
    while True:
        graph, rest = ask(split, token)
        assert graph.status_code != 500 and rest.status_code != 500, (graph.text, rest.text)
        if rest.status_code == 404:
            break
        assert_unavailable(graph, rest, me)
        assert time.monotonic() < deadline, "the assessments service never came back"
        time.sleep(0.1)
    # The GraphQL question of that last pair went out first, and may have found the service still
    # starting (UNAVAILABLE, checked not 500 above); asked now, both answer.
    assert_answered(*ask(split, token), me)
