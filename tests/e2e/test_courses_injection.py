"""MongoDB operator injection, through REST bodies, query strings, paths and GraphQL variables.

Every attempt is either rejected (400 BAD_USER_INPUT / extensions.code BAD_USER_INPUT) or inert (the text
is stored or matched literally), and nothing changes: the documents of the course under attack, and the
numbers of courses and enrollments of the attacking users, are the same before and after.
"""

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from pymongo.database import Database

from tests.e2e.conftest import E2EStack
from tests.e2e.test_courses_rest import (
    Document,
    count_courses,
    course_snapshot,
    courses_db,
    enrollment_snapshots,
    envelope_error,
    ok_data,
    outline,
    publish,
)

pytestmark = pytest.mark.e2e

__all__ = ["courses_db"]  # the fixture, imported for this module's tests

OPERATORS: list[Any] = [
    {"$gt": ""},
    {"$ne": None},
    {"$regex": ".*"},
    {"$where": "function() { return true; }"},
    {"$in": ["draft", "published", "archived"]},
    ["$gt", ""],
]


@dataclass
class Target:
    """An instructor's published course, a learner enrolled in it, and an attacker (another learner)."""

    stack: E2EStack
    db: Database[Document]
    instructor: dict[str, Any]
    learner: dict[str, Any]
    attacker: dict[str, Any]
    course: dict[str, Any]

    @property
    def course_id(self) -> str:
        return str(self.course["id"])

    def counts(self) -> tuple[int, ...]:
        users = (self.instructor, self.learner, self.attacker)
        return (
            *(count_courses(self.db, user["user"]["id"]) for user in users),
            *(self.db.enrollments.count_documents({"user_id": user["user"]["id"]}) for user in users),
        )

    def state(self) -> tuple[Any, ...]:
        return (
            course_snapshot(self.db, self.course_id),
            enrollment_snapshots(self.db, self.course_id),
            self.counts(),
        )

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.state()
        yield
        assert self.state() == before, "an injection attempt changed stored data"


@pytest.fixture(scope="module")
def target(stack: E2EStack, courses_db: Database[Document]) -> Target:
    instructor = stack.sign_in_as("instructor")
    learner, attacker = stack.sign_in(), stack.sign_in()
    course = stack.create_course(instructor["access_token"], lessons=2)
    enrolled = stack.rest("POST", f"/courses/{course['id']}/enroll", token=learner["access_token"])
    ok_data(enrolled, 201)
    return Target(stack, courses_db, instructor, learner, attacker, course)


def gql_code(response: Any) -> str | None:
    body = response.json()
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


# --- REST bodies ----------------------------------------------------------------------------------


def _bodies() -> list[Any]:
    bodies: list[Any] = []
    for operator in OPERATORS:
        bodies += [
            {"title": operator},
            {"title": "ok", "description": operator},
            {"title": "ok", "modules": operator},
            {"title": "ok", "modules": [{"title": operator}]},
            {"title": "ok", "modules": [{"title": "m", "id": operator}]},
            {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "media_url": operator}]}]},
            {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "id": operator}]}]},
        ]
    bodies += [
        {"title": "ok", "$where": "sleep(1000)"},
        {"title": "ok", "$set": {"instructor_id": "someone"}},
        {"title": "ok", "status.$": "published"},
        {"title": "ok", "modules.0.title": "dotted"},
        {"title": "ok", "instructor_id": {"$ne": None}},
        {"title": "ok", "modules": [{"title": "m", "$push": {"lessons": {"title": "x"}}}]},
        {"title": "ok", "modules": [{"title": "m", "lessons": [{"title": "l", "content.$": "x"}]}]},
        {"$or": [{"title": "a"}, {"title": "b"}]},
    ]
    return bodies


@pytest.mark.parametrize("body", _bodies(), ids=lambda body: str(body)[:60])
def test_operator_objects_and_dollar_keys_in_bodies_are_rejected(target: Target, body: Any) -> None:
    token = target.instructor["access_token"]
    with target.unchanged():
        response = target.stack.rest("POST", "/courses", token=token, json=body)
    assert envelope_error(response) == (400, "BAD_USER_INPUT"), response.text
    assert response.json()["error"]["details"]["fields"]


def test_operator_text_in_bodies_is_stored_literally(target: Target) -> None:
    title = f'{{"$gt": ""}} $where {uuid.uuid4().hex}'
    body = {
        "title": title,
        "description": "'; db.courses.drop(); // {$ne: null}",
        "modules": [
            {
                "title": "$set",
                "lessons": [{"title": "modules.0.title", "content": '{"$where": "1"}', "media_url": None}],
            }
        ],
    }
    before = count_courses(target.db, target.instructor["user"]["id"])
    response = target.stack.rest("POST", "/courses", token=target.instructor["access_token"], json=body)
    created = ok_data(response, 201)
    assert created["title"] == title and created["description"] == body["description"]
    stored = target.db.courses.find_one({"title": title})
    assert stored is not None and stored["description"] == body["description"]
    assert stored["modules"][0]["title"] == "$set"
    assert stored["modules"][0]["lessons"][0]["title"] == "modules.0.title"
    assert stored["modules"][0]["lessons"][0]["content"] == '{"$where": "1"}'
    assert count_courses(target.db, target.instructor["user"]["id"]) == before + 1


def test_enrolling_with_a_body_ignores_it(target: Target) -> None:
    """The enroll endpoint reads nobody's body: a forged user or course in it cannot redirect it."""
    course = target.stack.create_course(target.instructor["access_token"], lessons=1)
    forged = {"user_id": target.learner["user"]["id"], "course_id": {"$ne": None}, "$set": {"progress": 100}}
    response = target.stack.rest(
        "POST", f"/courses/{course['id']}/enroll", token=target.attacker["access_token"], json=forged
    )
    enrollment = ok_data(response, 201)
    assert enrollment["user_id"] == target.attacker["user"]["id"] and enrollment["course_id"] == course["id"]
    assert enrollment["progress"] == 0
    stored = list(target.db.enrollments.find({"course_id": course["id"]}))
    assert [(e["user_id"], e["progress"]) for e in stored] == [(target.attacker["user"]["id"], 0)]


# --- REST query strings and paths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "instructor_id[$ne]=x",
        "instructor_id[$ne]=",
        "status[$in]=draft&status[$in]=published",
        "status[$ne]=published",
        "search[$regex]=.*",
        "search[$where]=1",
        "first[$gt]=0",
        "after[$gt]=",
        "$where=1",
        "filter[status]=draft",
        "instructor_id=" + quote('{"$ne": null}'),
        "status=" + quote('{"$in": ["draft"]}'),
        "status=published.$",
        "first=" + quote('{"$gt": 0}'),
        "after=" + quote('{"$gt": ""}'),
    ],
)
def test_operators_in_query_strings_are_rejected(target: Target, query: str) -> None:
    with target.unchanged():
        response = target.stack.rest("GET", f"/courses?{query}", token=target.attacker["access_token"])
    assert envelope_error(response) == (400, "BAD_USER_INPUT"), response.text


def _literal_titles(stack: E2EStack, token: str, tag: str) -> dict[str, str]:
    """Published courses whose titles hold regex metacharacters; returns {title: id}."""
    titles = [f"{tag} a.*b", f"{tag} aXXb", f"^{tag} caret", f"{tag} (group)|x", f"{tag} $where"]
    titles.append(f"{tag} (a+)+$ {'a' * 40}!")  # what a backtracking regex engine chokes on
    ids = {}
    for title in titles:
        created = ok_data(
            stack.rest("POST", "/courses", token=token, json={"title": title, "modules": outline(1)}), 201
        )
        publish(stack, token, created["id"])
        ids[title] = created["id"]
    return ids


def test_search_text_is_matched_literally_in_rest(target: Target) -> None:
    tag = uuid.uuid4().hex
    instructor = target.stack.sign_in_as("instructor")
    ids = _literal_titles(target.stack, instructor["access_token"], tag)

    def search(text: str) -> set[str]:
        params = {"search": text, "instructor_id": instructor["user"]["id"], "first": 100}
        page = ok_data(
            target.stack.rest("GET", "/courses", token=target.attacker["access_token"], params=params)
        )
        return {item["id"] for item in page["items"]}

    with target.unchanged():
        assert search(".*") == {ids[f"{tag} a.*b"]}
        assert search("a.*b") == {ids[f"{tag} a.*b"]}
        assert search("^") == {ids[f"^{tag} caret"]}
        assert search("(group)|x") == {ids[f"{tag} (group)|x"]}
        assert search("$where") == {ids[f"{tag} $where"]}
        assert search("|") == {ids[f"{tag} (group)|x"]}
        assert search("[") == set()
        assert search("\\") == set()
        assert search(tag) == set(ids.values())
        # As a regex this backtracked for seconds (9.5 s for 16 repeats); as text it matches its one title.
        backtracking = f"{tag} (a+)+$ {'a' * 40}!"
        assert search("(a+)+$") == {ids[backtracking]}
        assert search("(a+)+$" * 16) == set()


@pytest.mark.parametrize(
    "path",
    [
        "/courses/" + quote('{"$gt": ""}', safe=""),
        "/courses/$where",
        "/courses/" + quote("5f1d7f3e9b1e8a3d4c2b1a0f.$", safe=""),
        "/courses/" + quote("5f1d7f3e9b1e8a3d4c2b1a0f'||'1'=='1", safe=""),
        "/courses/%24ne",
    ],
)
def test_operators_in_paths_are_rejected(target: Target, path: str) -> None:
    with target.unchanged():
        read = target.stack.rest("GET", path, token=target.attacker["access_token"])
        enroll = target.stack.rest("POST", f"{path}/enroll", token=target.attacker["access_token"])
    assert envelope_error(read) == (400, "BAD_USER_INPUT"), read.text
    assert envelope_error(enroll) == (400, "BAD_USER_INPUT"), enroll.text


# --- GraphQL variables ----------------------------------------------------------------------------

CATALOG = """query($f: CourseFilter, $after: String) {
  courses(first: 100, after: $after, filter: $f) { edges { node { id } } }
}"""
COURSE = "query($id: ID!) { course(id: $id) { id } }"
CREATE = (
    "mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { field } } }"
)
UPDATE = """mutation($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id title } errors { code field message } }
}"""
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
COMPLETE = (
    "mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) { enrollment { progress } } }"
)
PUBLISH = "mutation($id: ID!) { publishCourse(id: $id) { course { id } } }"


def _graphql_attempts(target_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(who, query, variables): `who` is the caller (the attacker, or the course's own instructor)."""
    attempts: list[tuple[str, str, dict[str, Any]]] = []
    for operator in OPERATORS:
        attempts += [
            ("attacker", CATALOG, {"f": {"search": operator}}),
            ("attacker", CATALOG, {"f": {"instructorId": operator}}),
            ("attacker", CATALOG, {"f": {"status": operator}}),
            ("attacker", CATALOG, {"f": operator}),
            ("attacker", CATALOG, {"after": operator}),
            ("attacker", COURSE, {"id": operator}),
            ("instructor", CREATE, {"input": {"title": operator}}),
            ("instructor", CREATE, {"input": {"title": "ok", "modules": [{"title": operator}]}}),
            ("instructor", UPDATE, {"id": target_id, "input": {"title": operator}}),
            ("instructor", UPDATE, {"id": operator, "input": {"title": "hijacked"}}),
            ("instructor", UPDATE, {"id": target_id, "input": {"modules": [{"title": "m", "id": operator}]}}),
            ("attacker", ENROLL, {"c": operator}),
            ("learner", COMPLETE, {"c": target_id, "l": operator}),
            ("learner", COMPLETE, {"c": operator, "l": "x"}),
            ("instructor", PUBLISH, {"id": operator}),
        ]
    attempts += [
        ("instructor", CREATE, {"input": {"title": "ok", "$where": "1"}}),
        ("instructor", CREATE, {"input": {"title": "ok", "instructor_id": "someone"}}),
        (
            "instructor",
            CREATE,
            {"input": {"title": "ok", "modules": [{"title": "m", "lessons.0.title": "x"}]}},
        ),
        ("instructor", UPDATE, {"id": target_id, "input": {"title": "ok", "$set": {"status": "draft"}}}),
        ("instructor", UPDATE, {"id": target_id, "input": {"status": "DRAFT"}}),
        ("attacker", CATALOG, {"f": {"search": "x", "$where": "1"}}),
        ("attacker", CATALOG, {"f": {"title": {"$regex": ".*"}}}),
        ("attacker", COURSE, {"id": "$where"}),
        ("attacker", COURSE, {"id": f"{target_id}.$"}),
        ("attacker", ENROLL, {"c": "$ne"}),
    ]
    return attempts


def test_operators_in_graphql_variables_are_rejected(target: Target) -> None:
    tokens = {
        "attacker": target.attacker["access_token"],
        "instructor": target.instructor["access_token"],
        "learner": target.learner["access_token"],
    }
    attempts = _graphql_attempts(target.course_id)
    with target.unchanged():
        for who, query, variables in attempts:
            response = target.stack.graphql(query, variables, token=tokens[who])
            assert gql_code(response) == "BAD_USER_INPUT", (variables, response.text)
            data = response.json().get("data")
            assert data is None or all(value is None for value in data.values()), response.text


def test_unknown_ids_given_as_text_are_inert(target: Target) -> None:
    """Operator-looking strings where an id of this course is expected: a user error or not found."""
    with target.unchanged():
        owner = target.instructor["access_token"]
        update = target.stack.graphql(
            UPDATE,
            {
                "id": target.course_id,
                "input": {"modules": [{"id": "$gt", "title": "m", "lessons": [{"id": "$ne", "title": "l"}]}]},
            },
            token=owner,
        ).json()
        assert update["data"]["updateCourse"]["course"] is None
        fields = {error["field"] for error in update["data"]["updateCourse"]["errors"]}
        assert fields == {"modules.0.id", "modules.0.lessons.0.id"}
        for lesson in ("$where", "{$ne: null}", ".*"):
            completed = target.stack.graphql(
                COMPLETE, {"c": target.course_id, "l": lesson}, token=target.learner["access_token"]
            )
            assert gql_code(completed) == "NOT_FOUND", completed.text


def test_search_text_is_matched_literally_in_graphql(target: Target) -> None:
    tag = uuid.uuid4().hex
    instructor = target.stack.sign_in_as("instructor")
    ids = _literal_titles(target.stack, instructor["access_token"], tag)

    def search(text: str) -> set[str]:
        variables = {"f": {"search": text, "instructorId": instructor["user"]["id"]}}
        response = target.stack.graphql(CATALOG, variables, token=target.attacker["access_token"]).json()
        assert not response.get("errors"), response
        return {edge["node"]["id"] for edge in response["data"]["courses"]["edges"]}

    with target.unchanged():
        assert search(".*") == {ids[f"{tag} a.*b"]}
        assert search("^") == {ids[f"^{tag} caret"]}
        assert search("$where") == {ids[f"{tag} $where"]}
        assert search(")|(") == set()
        assert search(tag.upper()) == set(ids.values())
        # An instructor id that is an operator as text is just an id nobody has.
        for text in ('{"$ne": null}', "$ne", ".*"):
            response = target.stack.graphql(
                CATALOG, {"f": {"instructorId": text}}, token=target.attacker["access_token"]
            ).json()
            assert response["data"]["courses"]["edges"] == [], response
