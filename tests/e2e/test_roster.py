"""Rosters (issue 17) end to end, through the router and REST on the real stores and Kafka: a class of 500
imported from CSV, imported again, unenrolled and back, a teaching assistant, and everyone else refused."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import E2EStack, unique_email
from tests.support.kafka import collect_events

pytestmark = pytest.mark.e2e

Document = dict[str, Any]

ENROLLMENT = "id status progress completedLessonIds user { id } course { id }"
ENROLL_USER = f"""
mutation($courseId: ID!, $userId: ID!) {{
  enrollUser(courseId: $courseId, userId: $userId) {{ enrollment {{ {ENROLLMENT} }} errors {{ code }} }}
}}"""
UNENROLL_USER = f"""
mutation($courseId: ID!, $userId: ID!) {{
  unenrollUser(courseId: $courseId, userId: $userId) {{ enrollment {{ {ENROLLMENT} }} errors {{ code }} }}
}}"""
SET_ROLE = """
mutation($courseId: ID!, $userId: ID!, $role: CourseRole!) {
  setCourseRole(courseId: $courseId, userId: $userId, role: $role) { role errors { code field } }
}"""
ENROLL_USERS = """
mutation($courseId: ID!, $users: [String!]!) {
  enrollUsers(courseId: $courseId, users: $users) {
    results { entry outcome reason } enrolled alreadyEnrolled errors { code field }
  }
}"""
ROSTER = """
query($id: ID!, $first: Int!) {
  course(id: $id) {
    enrollmentCount viewerRole
    roster(first: $first) { totalCount edges { node { role user { id } enrollment { status } } } }
  }
}"""
VIEWER = """
query($id: ID!) {
  course(id: $id) { viewerRole viewerEnrollment { status } modules { lessons { id content } } }
}"""
UPDATE_COURSE = """
mutation($id: ID!) { updateCourse(id: $id, input: {title: "Taken over"}) { errors { code } } }"""
PUBLISH = "mutation($id: ID!) { publishCourse(id: $id) { errors { code } } }"
ARCHIVE = "mutation($id: ID!) { archiveCourse(id: $id) { errors { code } } }"
COMPLETE_LESSON = """
mutation($courseId: ID!, $lessonId: ID!) { completeLesson(courseId: $courseId, lessonId: $lessonId) {
  enrollment { progress } errors { code } } }"""
MY_ENROLLMENTS = """
query($id: ID!) { user(id: $id) { enrollments { totalCount edges { node { course { id } } } } } }"""
ENROLL = "mutation($courseId: ID!) { enroll(courseId: $courseId) { enrollment { status progress } } }"


@pytest.fixture(scope="module")
def courses_db(mongodb_url: str, stack: E2EStack) -> Iterator[Database[Document]]:
    client: MongoClient[Document] = MongoClient(mongodb_url, serverSelectionTimeoutMS=5000)
    yield client[stack.courses_database]
    client.close()


def data_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


def graph_code(response: httpx.Response) -> str:
    """The error code of a refused GraphQL request."""
    body = response.json()
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


def rest_error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["success"] is False and body["data"] is None, body
    return response.status_code, body["error"]["code"]


def course_state(db: Database[Document], course_id: str) -> tuple[Any, ...]:
    """What a refused roster operation must leave as it was."""
    course = db["courses"].find_one({"_id": ObjectId(course_id)})
    assert course is not None
    statuses = sorted(
        (e["user_id"], e["status"])
        for e in db["enrollments"].find({"course_id": course_id}, {"user_id": 1, "status": 1})
    )
    return course["enrollment_count"], course.get("teaching_assistants", []), course["title"], statuses


async def create_users(db: AsyncEngine, count: int) -> list[tuple[str, str]]:
    """`count` users written straight to the users store (signing 500 people in would only be slow):
    (id, email) each."""
    now = datetime.now(UTC)
    users = [(str(uuid.uuid4()), unique_email("class")) for _ in range(count)]
    async with db.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO users (id, email, name, provider, provider_id, role, created_at, updated_at) "
                "VALUES (:id, :email, :name, 'dev', :pid, 'learner', :now, :now)"
            ),
            [
                {"id": uuid.UUID(i), "pid": i, "email": e, "name": f"Learner {e[:12]}", "now": now}
                for i, e in users
            ],
        )
    return users


def chunked(body: bytes, size: int = 997) -> Iterator[bytes]:
    """The body in pieces that split rows: sent chunked, as a large upload arrives."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def import_csv(stack: E2EStack, course_id: str, token: str, body: bytes, **kwargs: Any) -> httpx.Response:
    headers = {"content-type": "text/csv", **kwargs.pop("headers", {})}
    path = f"/courses/{course_id}/roster/import"
    response: httpx.Response = stack.rest("POST", path, token=token, headers=headers, content=body, **kwargs)
    return response


@pytest.fixture(scope="module")
def instructor(stack: E2EStack) -> dict[str, Any]:
    return stack.sign_in_as("instructor")


async def test_a_class_of_500_from_csv_with_10_bad_rows_then_the_same_file_again(
    stack: E2EStack, db: AsyncEngine, courses_db: Database[Document], instructor: dict[str, Any]
) -> None:
    token = instructor["access_token"]
    course = stack.create_course(token)
    # Five of the class sign in themselves (to open the course below); the rest are written to the store.
    signed_in = [stack.sign_in() for _ in range(5)]
    class_ = [(s["user"]["id"], s["user"]["email"]) for s in signed_in] + await create_users(db, 495)
    lines = ["Email"]  # a header row
    # Every fifth by id, one in upper case: all name a user.
    for n, (user_id, email) in enumerate(class_):
        lines.append(user_id if n % 5 == 0 else email.upper() if n == 7 else email)
    bad = {
        "no-at-sign.example.org": "invalid",
        "two@@example.org": "invalid",
        "not an email@example.org": "invalid",
        str(uuid.UUID(int=7)): "unknown_user",
        "nobody-" + uuid.uuid4().hex + "@example.org": "unknown_user",
        "ghost-" + uuid.uuid4().hex + "@example.org": "unknown_user",
        "x" * 600 + "@example.org": "invalid",  # longer than a row may be
        instructor["user"]["email"]: "invalid",  # the course's own instructor
        "12345": "invalid",
        "@example.org": "invalid",
    }
    bad_lines: dict[int, str] = {}
    for offset, (entry, outcome) in enumerate(bad.items()):
        at = 3 + offset * 50  # spread over the file, across chunks
        lines.insert(at - 1, entry)
        bad_lines[at] = outcome
    lines.insert(100, "")  # a blank line is not a row
    bad_lines = {line + (line > 100): outcome for line, outcome in bad_lines.items()}
    body = ("\r\n".join(lines) + "\r\n").encode()

    started = time.monotonic()
    response = stack.rest(
        "POST",
        f"/courses/{course['id']}/roster/import",
        token=token,
        headers={"content-type": "text/csv; charset=utf-8"},
        content=chunked(body),
    )
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert took < 30, f"500 enrolled in {took:.1f} s"
    assert (report["rows"], report["enrolled"], report["already_enrolled"]) == (510, 500, 0), report
    assert {p["line"]: p["outcome"] for p in report["problems"]} == bad_lines, report["problems"]
    assert all(p["reason"] for p in report["problems"])
    assert (report["unknown_users"], report["invalid"]) == (3, 7)

    # The 500 are enrolled, counted once, and on the roster.
    assert courses_db["enrollments"].count_documents({"course_id": course["id"], "status": "active"}) == 500
    roster = data_of(stack.graphql(ROSTER, {"id": course["id"], "first": 100}, token=token))["course"]
    assert (roster["enrollmentCount"], roster["roster"]["totalCount"]) == (500, 500)
    listed: set[str] = set()
    after = None
    while True:
        page = stack.rest(
            "GET",
            f"/courses/{course['id']}/roster",
            token=token,
            params={"first": 100, **({"after": after} if after else {})},
        )
        assert page.status_code == 200, page.text
        listed |= {entry["user_id"] for entry in page.json()["data"]["items"]}
        if not page.json()["data"]["page_info"]["has_next_page"]:
            break
        after = page.json()["data"]["page_info"]["end_cursor"]
    assert listed == {user_id for user_id, _ in class_}
    # A sample of them opens the course and reads its lessons.
    for learner in signed_in:
        opened = stack.rest("GET", f"/courses/{course['id']}", token=learner["access_token"])
        assert opened.status_code == 200
        assert all(lesson["content"] for m in opened.json()["data"]["modules"] for lesson in m["lessons"])
        viewer = data_of(stack.graphql(VIEWER, {"id": course["id"]}, token=learner["access_token"]))["course"]
        assert (viewer["viewerRole"], viewer["viewerEnrollment"]["status"]) == ("LEARNER", "ACTIVE")

    # The same file again changes nothing.
    before = course_state(courses_db, course["id"])
    again = import_csv(stack, course["id"], token, body)
    assert again.status_code == 200, again.text
    second = again.json()["data"]
    assert (second["enrolled"], second["already_enrolled"]) == (0, 500)
    assert {p["line"]: p["outcome"] for p in second["problems"]} == bad_lines
    assert course_state(courses_db, course["id"]) == before


async def test_unenrolling_keeps_the_history_and_enrolling_again_brings_it_back(
    stack: E2EStack, courses_db: Database[Document], instructor: dict[str, Any], kafka_bootstrap: str
) -> None:
    token = instructor["access_token"]
    course = stack.create_course(token)
    course_id, lesson = course["id"], course["modules"][0]["lessons"][0]["id"]
    learner = stack.sign_in()
    user_id, learner_token = learner["user"]["id"], learner["access_token"]

    enrolled = data_of(stack.graphql(ENROLL_USER, {"courseId": course_id, "userId": user_id}, token=token))
    assert enrolled["enrollUser"]["enrollment"]["status"] == "ACTIVE"
    twice = stack.graphql(ENROLL_USER, {"courseId": course_id, "userId": user_id}, token=token)
    assert graph_code(twice) == "CONFLICT"
    data_of(stack.graphql(COMPLETE_LESSON, {"courseId": course_id, "lessonId": lesson}, token=learner_token))

    removed = stack.rest("DELETE", f"/courses/{course_id}/roster/{user_id}", token=token)
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["status"] == "removed"
    assert removed.json()["data"]["completed_lesson_ids"] == [lesson]  # the history stays
    # Removing again changes nothing; the count went down once.
    assert stack.rest("DELETE", f"/courses/{course_id}/roster/{user_id}", token=token).status_code == 200
    state = courses_db["courses"].find_one({"_id": ObjectId(course_id)})
    assert state is not None and state["enrollment_count"] == 0
    # The removed learner sees no lessons, has no enrollment and no role, and cannot make progress.
    viewer = data_of(stack.graphql(VIEWER, {"id": course_id}, token=learner_token))["course"]
    assert viewer["viewerEnrollment"] is None and viewer["viewerRole"] is None
    assert all(lesson["content"] is None for m in viewer["modules"] for lesson in m["lessons"])
    refused = stack.graphql(COMPLETE_LESSON, {"courseId": course_id, "lessonId": lesson}, token=learner_token)
    assert graph_code(refused) == "FORBIDDEN"
    roster = data_of(stack.graphql(ROSTER, {"id": course_id, "first": 10}, token=token))["course"]["roster"]
    assert roster["edges"] == []
    mine = data_of(stack.graphql(MY_ENROLLMENTS, {"id": user_id}, token=learner_token))["user"]["enrollments"]
    assert mine == {"totalCount": 0, "edges": []}  # the learner's list drops the course

    # Enrolling again (themself) brings the enrollment back, progress and all.
    back = data_of(stack.graphql(ENROLL, {"courseId": course_id}, token=learner_token))["enroll"][
        "enrollment"
    ]
    assert back["status"] == "ACTIVE" and back["progress"] > 0
    state = courses_db["courses"].find_one({"_id": ObjectId(course_id)})
    assert state is not None and state["enrollment_count"] == 1

    def ours(event: dict[str, Any]) -> bool:
        return event.get("course_id") == course_id and event["event_type"] in (
            "COURSE_ENROLLED",
            "ENROLLMENT_REMOVED",
        )

    received = await collect_events(kafka_bootstrap, "course.events", ours, expect=3, within=90, settle=2.0)
    assert [event["event_type"] for _, event in received] == [
        "COURSE_ENROLLED",
        "ENROLLMENT_REMOVED",
        "COURSE_ENROLLED",
    ]


async def test_a_teaching_assistant_sees_the_roster_and_cannot_edit_the_course(
    stack: E2EStack, courses_db: Database[Document], instructor: dict[str, Any], kafka_bootstrap: str
) -> None:
    token = instructor["access_token"]
    course = stack.create_course(token)
    course_id = course["id"]
    ta = stack.sign_in()
    learner = stack.sign_in()
    data_of(stack.graphql(ENROLL_USER, {"courseId": course_id, "userId": learner["user"]["id"]}, token=token))

    made = stack.rest(
        "PUT",
        f"/courses/{course_id}/roster/{ta['user']['id']}/role",
        token=token,
        json={"role": "teaching_assistant"},
    )
    assert made.status_code == 200, made.text
    assert made.json()["data"]["role"] == "teaching_assistant"
    ta_token = ta["access_token"]
    seen = data_of(stack.graphql(ROSTER, {"id": course_id, "first": 10}, token=ta_token))["course"]
    assert seen["viewerRole"] == "TEACHING_ASSISTANT"
    assert [e["node"]["user"]["id"] for e in seen["roster"]["edges"]] == [learner["user"]["id"]]
    assert stack.rest("GET", f"/courses/{course_id}/roster", token=ta_token).status_code == 200

    before = course_state(courses_db, course_id)
    for query in (UPDATE_COURSE, PUBLISH, ARCHIVE):
        assert graph_code(stack.graphql(query, {"id": course_id}, token=ta_token)) == "FORBIDDEN"
    refused = stack.graphql(ENROLL_USER, {"courseId": course_id, "userId": ta["user"]["id"]}, token=ta_token)
    assert graph_code(refused) == "FORBIDDEN"
    assert course_state(courses_db, course_id) == before

    # A learner again: the roster is closed to them.
    data_of(
        stack.graphql(
            SET_ROLE, {"courseId": course_id, "userId": ta["user"]["id"], "role": "LEARNER"}, token=token
        )
    )
    assert rest_error(stack.rest("GET", f"/courses/{course_id}/roster", token=ta_token)) == (403, "FORBIDDEN")

    def ours(event: dict[str, Any]) -> bool:
        return bool(event.get("course_id") == course_id and event["event_type"] == "COURSE_ROLE_CHANGED")

    received = await collect_events(kafka_bootstrap, "course.events", ours, expect=2, within=90, settle=1.0)
    assert [event["metadata"]["role"] for _, event in received] == ["TEACHING_ASSISTANT", "LEARNER"]


def test_a_learner_and_another_courses_instructor_are_refused_every_roster_operation(
    stack: E2EStack, courses_db: Database[Document], instructor: dict[str, Any]
) -> None:
    course = stack.create_course(instructor["access_token"])
    course_id = course["id"]
    learner = stack.sign_in()
    data_of(
        stack.graphql(
            ENROLL_USER,
            {"courseId": course_id, "userId": learner["user"]["id"]},
            token=instructor["access_token"],
        )
    )
    other = stack.sign_in_as("instructor")
    stack.create_course(other["access_token"])
    target = learner["user"]["id"]
    before = course_state(courses_db, course_id)
    for caller in (learner, other):
        caller_token = caller["access_token"]
        graph_calls: list[tuple[str, dict[str, Any]]] = [
            (ROSTER, {"id": course_id, "first": 10}),
            (ENROLL_USER, {"courseId": course_id, "userId": caller["user"]["id"]}),
            (UNENROLL_USER, {"courseId": course_id, "userId": target}),
            (SET_ROLE, {"courseId": course_id, "userId": caller["user"]["id"], "role": "TEACHING_ASSISTANT"}),
            (ENROLL_USERS, {"courseId": course_id, "users": [caller["user"]["email"]]}),
        ]
        for query, variables in graph_calls:
            assert graph_code(stack.graphql(query, variables, token=caller_token)) == "FORBIDDEN", query
        rest_calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/courses/{course_id}/roster", {}),
            ("POST", f"/courses/{course_id}/roster", {"json": {"user_id": caller["user"]["id"]}}),
            ("DELETE", f"/courses/{course_id}/roster/{target}", {}),
            (
                "PUT",
                f"/courses/{course_id}/roster/{caller['user']['id']}/role",
                {"json": {"role": "teaching_assistant"}},
            ),
            (
                "POST",
                f"/courses/{course_id}/roster/import",
                {"content": caller["user"]["email"].encode(), "headers": {"content-type": "text/csv"}},
            ),
            (
                "POST",
                f"/courses/{course_id}/roster/import",
                {"content": b"", "headers": {"content-type": "text/csv"}},
            ),
        ]
        for method, path, kwargs in rest_calls:
            assert rest_error(stack.rest(method, path, token=caller_token, **kwargs)) == (403, "FORBIDDEN"), (
                path
            )
    # Signed out: not even asked.
    assert rest_error(stack.rest("GET", f"/courses/{course_id}/roster"))[0] == 401
    assert course_state(courses_db, course_id) == before


def test_bad_input_gets_a_clear_error_and_changes_nothing(
    stack: E2EStack, courses_db: Database[Document], instructor: dict[str, Any]
) -> None:
    token = instructor["access_token"]
    course_id = stack.create_course(token)["id"]
    learner = stack.sign_in()
    before = course_state(courses_db, course_id)
    path = f"/courses/{course_id}/roster/import"

    not_csv = stack.rest("POST", path, token=token, json={"users": [learner["user"]["email"]]})
    assert rest_error(not_csv) == (400, "BAD_USER_INPUT")
    assert "text/csv" in not_csv.json()["error"]["message"]
    for empty in (b"", b"email\r\n", b"\r\n\r\n"):
        refused = import_csv(stack, course_id, token, empty)
        assert rest_error(refused) == (400, "BAD_USER_INPUT"), empty
        assert refused.json()["error"]["message"] == "The CSV has no rows."
    binary = import_csv(
        stack, course_id, token, b"\xff\xfe\x00\x01" * 50 + b"\n" + learner["user"]["email"].encode()
    )
    assert rest_error(binary) == (400, "BAD_USER_INPUT")
    # A row too long to be one is reported by its line, and the file goes on.
    long_row = import_csv(stack, course_id, token, b"a" * 5000 + b"\n" + b"b" * 3000 + b"@example.org\n")
    assert long_row.status_code == 200, long_row.text
    assert [(p["line"], p["outcome"]) for p in long_row.json()["data"]["problems"]] == [
        (1, "invalid"),
        (2, "invalid"),
    ]

    bad_role = stack.rest(
        "PUT",
        f"/courses/{course_id}/roster/{learner['user']['id']}/role",
        token=token,
        json={"role": "owner"},
    )
    assert rest_error(bad_role) == (400, "BAD_USER_INPUT")
    assert "role" in bad_role.json()["error"]["details"]["fields"]
    graph_role = stack.graphql(
        SET_ROLE, {"courseId": course_id, "userId": learner["user"]["id"], "role": "OWNER"}, token=token
    )
    assert graph_code(graph_role) == "BAD_USER_INPUT"
    not_a_user = stack.rest("POST", f"/courses/{course_id}/roster", token=token, json={"user_id": "nobody"})
    assert rest_error(not_a_user) == (400, "BAD_USER_INPUT")
    unknown = stack.rest(
        "POST", f"/courses/{course_id}/roster", token=token, json={"user_id": str(uuid.uuid4())}
    )
    assert rest_error(unknown) == (404, "NOT_FOUND")
    too_many = data_of(
        stack.graphql(ENROLL_USERS, {"courseId": course_id, "users": ["a@example.org"] * 501}, token=token)
    )["enrollUsers"]
    assert too_many["errors"] == [{"code": "TOO_MANY", "field": "users"}] and too_many["results"] == []
    own = stack.graphql(
        SET_ROLE,
        {"courseId": course_id, "userId": instructor["user"]["id"], "role": "TEACHING_ASSISTANT"},
        token=token,
    )
    assert graph_code(own) == "CONFLICT"
    assert course_state(courses_db, course_id) == before
