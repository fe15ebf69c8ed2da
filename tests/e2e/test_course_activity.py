"""courseActivity through the router (issue 18): an instructor hears what a learner does in their course
within a second over graphql-ws, whichever courses replica made the write; everyone else is refused over
graphql-ws and SSE; a stream ends when its token expires (enrollmentProgress's too)."""

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import ClientConnection

from tests.e2e.conftest import E2EStack, SecondReplica
from tests.e2e.test_assessments_flow import _answers, _create_final_exam
from tests.e2e.test_replicas import titles
from tests.support.graphql_ws import codes, first_message, open_socket, subscribe

pytestmark = pytest.mark.e2e

ACTIVITY = """subscription($c: ID!) { courseActivity(courseId: $c) {
  id kind occurredAt courseId learner { id name } lessonId progress assessmentId score passed missed
} }"""
PROGRESS = "subscription($c: ID!) { enrollmentProgress(courseId: $c) { progress } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } errors { code } } }"
COMPLETE = (
    "mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) { enrollment { progress } } }"
)
SUBMIT = """mutation($a: ID!, $answers: [AnswerInput!]!) {
  submitAnswers(assessmentId: $a, answers: $answers) { attempt { id } errors { code } }
}"""
SET_ROLE = """mutation($c: ID!, $u: ID!, $role: CourseRole! = TEACHING_ASSISTANT) {
  setCourseRole(courseId: $c, userId: $u, role: $role) { role errors { code } }
}"""
UNKNOWN_COURSE = "64b0000000000000000000ff"


def graphql(stack: E2EStack, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.graphql(query, variables, token=token).json()
    assert not body.get("errors"), body
    return body


async def watch(router_url: str, token: str | None, course_id: str) -> ClientConnection:
    socket = await open_socket(router_url, token)
    await subscribe(socket, "activity", ACTIVITY, {"c": course_id})
    return socket


async def hear(
    socket: ClientConnection, write: Callable[[], Any], kinds: list[str]
) -> dict[str, tuple[dict[str, Any], float]]:
    """Makes the write (in a thread: the socket keeps being read) and waits for these activities; each
    with the seconds from sending the write to its arrival."""
    sent = time.monotonic()
    writing = asyncio.create_task(asyncio.to_thread(write))
    heard: dict[str, tuple[dict[str, Any], float]] = {}
    while len(heard) < len(kinds):
        message = await first_message(socket, "activity")
        assert message["type"] == "next" and "errors" not in message["payload"], message
        activity = message["payload"]["data"]["courseActivity"]
        heard[activity["kind"]] = (activity, time.monotonic() - sent)
    await writing
    assert sorted(heard) == sorted(kinds), heard
    return heard


async def test_an_instructor_hears_a_learners_steps_within_a_second(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2)
    exam = _create_final_exam(stack, instructor, course["id"])
    learner = stack.sign_in(name="Active Learner")
    token, learner_id = learner["access_token"], learner["user"]["id"]
    c = course["id"]
    lessons = [lesson["id"] for m in course["modules"] for lesson in m["lessons"]]

    socket = await watch(stack.router_url, instructor, c)
    try:
        await asyncio.sleep(0.3)  # the subscription reaches the subgraph before the first write
        latencies: list[float] = []
        enrolled = await hear(socket, lambda: graphql(stack, ENROLL, {"c": c}, token), ["ENROLLED"])
        activity, seconds = enrolled["ENROLLED"]
        assert activity["learner"] == {"id": learner_id, "name": "Active Learner"}
        assert (activity["courseId"], activity["missed"]) == (c, 0) and activity["occurredAt"]
        latencies.append(seconds)

        for n, lesson in enumerate(lessons, start=1):
            done = await hear(
                socket,
                functools.partial(graphql, stack, COMPLETE, {"c": c, "l": lesson}, token),
                ["LESSON_COMPLETED", "PROGRESS_UPDATED"],
            )
            assert done["LESSON_COMPLETED"][0]["lessonId"] == lesson
            assert done["PROGRESS_UPDATED"][0]["progress"] == 50 * n
            latencies += [seconds for _, seconds in done.values()]

        answers = _answers(exam["questions"], right=True)
        submitted = await hear(
            socket,
            lambda: graphql(stack, SUBMIT, {"a": exam["id"], "answers": answers}, token),
            # Passing the required exam after every lesson completes the course too.
            ["ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED", "COURSE_COMPLETED"],
        )
        result = submitted["ASSESSMENT_COMPLETED"][0]
        assert (result["assessmentId"], result["score"], result["passed"]) == (exam["id"], 100, True)
        assert submitted["ASSESSMENT_SUBMITTED"][0]["score"] is None
        latencies += [submitted[kind][1] for kind in ("ASSESSMENT_SUBMITTED", "ASSESSMENT_COMPLETED")]
        assert max(latencies) < 1.0, (latencies, submitted["COURSE_COMPLETED"][1])
    finally:
        await socket.close()


async def test_a_teaching_assistant_and_an_admin_hear_it_too(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=1)
    assistant = stack.sign_in()
    graphql(stack, SET_ROLE, {"c": course["id"], "u": assistant["user"]["id"]}, instructor)
    admin = stack.sign_in_admin()["access_token"]
    sockets = [await watch(stack.router_url, t, course["id"]) for t in (assistant["access_token"], admin)]
    try:
        await asyncio.sleep(0.3)
        learner = stack.sign_in()["access_token"]
        await asyncio.to_thread(graphql, stack, ENROLL, {"c": course["id"]}, learner)
        for socket in sockets:
            message = await first_message(socket, "activity")
            assert message["payload"]["data"]["courseActivity"]["kind"] == "ENROLLED", message
    finally:
        for socket in sockets:
            await socket.close()


async def test_a_teaching_assistant_taken_off_the_course_stops_hearing_it(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=1)
    c = course["id"]
    assistant = stack.sign_in()
    graphql(stack, SET_ROLE, {"c": c, "u": assistant["user"]["id"]}, instructor)
    socket = await watch(stack.router_url, assistant["access_token"], c)
    try:
        await asyncio.sleep(0.3)
        first = stack.sign_in()["access_token"]
        await hear(socket, lambda: graphql(stack, ENROLL, {"c": c}, first), ["ENROLLED"])

        graphql(stack, SET_ROLE, {"c": c, "u": assistant["user"]["id"], "role": "LEARNER"}, instructor)
        # Once the courses replica knows (a new subscription is refused), the open one is refused too, at
        # its next activity: it hears nothing more of the course.
        deadline = time.monotonic() + 10
        while await ws_codes(stack.router_url, assistant["access_token"], c) != ["FORBIDDEN"]:
            assert time.monotonic() < deadline, "the role change never reached the courses replica"
            await asyncio.sleep(0.2)
        second = stack.sign_in()["access_token"]
        await asyncio.to_thread(graphql, stack, ENROLL, {"c": c}, second)
        ended = await first_message(socket, "activity")
        assert codes(ended) == ["FORBIDDEN"], ended
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"id": "activity", "type": "complete"}
    finally:
        await socket.close()


async def sse_codes(router_url: str, token: str | None, query: str, course_id: str) -> list[str]:
    headers = {"accept": "text/event-stream", **({"authorization": f"Bearer {token}"} if token else {})}
    body = {"query": query, "variables": {"c": course_id}}
    events: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", router_url, json=body, headers=headers) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:") and line[5:].strip():
                events.append(json.loads(line[5:]))
    return [error["extensions"]["code"] for event in events for error in event.get("errors", [])]


async def ws_codes(router_url: str, token: str | None, course_id: str) -> list[str]:
    socket = await watch(router_url, token, course_id)
    try:
        return codes(await first_message(socket, "activity"))
    finally:
        await socket.close()


async def test_everyone_else_is_refused_over_graphql_ws_and_sse(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=1)
    enrolled = stack.sign_in()["access_token"]
    graphql(stack, ENROLL, {"c": course["id"]}, enrolled)
    refusals = {
        "anonymous": (None, course["id"], "UNAUTHENTICATED"),
        "an enrolled learner": (enrolled, course["id"], "FORBIDDEN"),
        "a learner not enrolled": (stack.sign_in()["access_token"], course["id"], "FORBIDDEN"),
        "another course's instructor": (
            stack.sign_in_as("instructor")["access_token"],
            course["id"],
            "FORBIDDEN",
        ),
        "an unknown course": (instructor, UNKNOWN_COURSE, "NOT_FOUND"),
        "not a course id": (instructor, "nope", "BAD_USER_INPUT"),
    }
    for who, (token, course_id, code) in refusals.items():
        assert await ws_codes(stack.router_url, token, course_id) == [code], who
        assert await sse_codes(stack.router_url, token, ACTIVITY, course_id) == [code], who


def token_expiring_in(stack: E2EStack, seconds: int, *, like: str) -> str:
    """A token like `like` (same user and role) that expires in `seconds`, signed with the stack's key."""
    claims = jwt.decode(like, options={"verify_signature": False})
    kid = jwt.get_unverified_header(like)["kid"]
    now = int(time.time())
    claims |= {"iat": now, "exp": now + seconds, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, stack.signing_key_path.read_bytes(), algorithm="RS256", headers={"kid": kid})


async def test_an_expired_token_ends_the_stream(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2)
    short = token_expiring_in(stack, 3, like=instructor)
    expires = jwt.decode(short, options={"verify_signature": False})["exp"]
    socket = await watch(stack.router_url, short, course["id"])
    try:
        await asyncio.sleep(0.3)
        learner = stack.sign_in()["access_token"]
        await hear(socket, lambda: graphql(stack, ENROLL, {"c": course["id"]}, learner), ["ENROLLED"])
        ended = await first_message(socket, "activity")  # nothing happens in the course: the token ends it
        # The courses subgraph's refusal; the router also repeats the previous activity with it, whose
        # learner the users subgraph now refuses too (the same id: nothing new).
        errors = ended["payload"]["errors"]
        assert {e["extensions"]["code"] for e in errors} == {"UNAUTHENTICATED"}, ended
        by_courses = [e["path"] for e in errors if e["extensions"]["serviceName"] == "courses"]
        assert by_courses == [["courseActivity"]], ended
        assert time.time() - expires < 2.0
        done = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert done == {"id": "activity", "type": "complete"}, done
    finally:
        await socket.close()

    # enrollmentProgress ends the same way (over SSE here; the learner enrolled above).
    short = token_expiring_in(stack, 3, like=learner)
    started = time.monotonic()
    assert await sse_codes(stack.router_url, short, PROGRESS, course["id"]) == ["UNAUTHENTICATED"]
    assert 1.5 < time.monotonic() - started < 6


async def test_a_write_through_one_replica_reaches_a_subscriber_of_the_other(
    stack: E2EStack, second: SecondReplica
) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2)
    learner = stack.sign_in()["access_token"]
    c, lesson = course["id"], course["modules"][0]["lessons"][0]["id"]
    # Replica 2 follows course.events (a replica just started is given its partitions first).
    deadline = time.monotonic() + 20
    while c not in await asyncio.to_thread(titles, second.router.router_url):
        assert time.monotonic() < deadline, "replica 2 never heard of the new course"
        await asyncio.sleep(0.1)
    # Router B sends every courses operation to replica 2; the writes go through router A (replica 1).
    socket = await watch(second.router.router_url, instructor, c)
    try:
        await asyncio.sleep(0.3)
        enrolled = await hear(socket, lambda: graphql(stack, ENROLL, {"c": c}, learner), ["ENROLLED"])
        done = await hear(
            socket,
            lambda: graphql(stack, COMPLETE, {"c": c, "l": lesson}, learner),
            ["LESSON_COMPLETED", "PROGRESS_UPDATED"],
        )
        seconds = [s for _, s in (*enrolled.values(), *done.values())]
        assert max(seconds) < 1.0, seconds
    finally:
        await socket.close()
