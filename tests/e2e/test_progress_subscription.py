"""Progress updates as a subscription through the router (GraphQL over SSE), fed by course.events."""

import json
import queue
import threading
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

SUBSCRIBE = "subscription($c: ID!) { enrollmentProgress(courseId: $c) { progress status completedAt } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
COMPLETE = (
    "mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) { enrollment { progress } } }"
)


def _listen(stack: E2EStack, token: str, course_id: str, into: "queue.Queue[dict[str, Any]]") -> None:
    headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
    body = {"query": SUBSCRIBE, "variables": {"c": course_id}}
    with httpx.stream("POST", stack.router_url, json=body, headers=headers, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data:") and line[5:].strip():
                into.put(json.loads(line[5:]))


def test_a_learner_follows_their_progress_to_completion(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=2)
    learner = stack.sign_in()
    token = learner["access_token"]
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)

    updates: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=_listen, args=(stack, token, course["id"], updates), daemon=True).start()
    first = updates.get(timeout=30)
    assert first.get("data"), first
    assert first["data"]["enrollmentProgress"] == {"progress": 0, "status": "ACTIVE", "completedAt": None}

    lessons = [lesson["id"] for m in course["modules"] for lesson in m["lessons"]]
    seen = []
    for lesson in lessons:
        stack.graphql(COMPLETE, {"c": course["id"], "l": lesson}, token=token)
        seen.append(updates.get(timeout=30)["data"]["enrollmentProgress"])
    assert [update["progress"] for update in seen] == [50, 100]
    assert seen[-1]["status"] == "COMPLETED" and seen[-1]["completedAt"]


def test_subscribing_needs_a_token_and_an_enrollment(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    outsider = stack.sign_in()
    for token in (None, outsider["access_token"]):
        headers = {"accept": "text/event-stream"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = {"query": SUBSCRIBE, "variables": {"c": course["id"]}}
        with httpx.stream("POST", stack.router_url, json=body, headers=headers, timeout=30) as response:
            events = [
                json.loads(line[5:])
                for line in response.iter_lines()
                if line.startswith("data:") and line[5:].strip()
            ]
        codes = [error["extensions"]["code"] for event in events for error in event.get("errors", [])]
        assert codes == ["UNAUTHENTICATED" if token is None else "FORBIDDEN"], events
