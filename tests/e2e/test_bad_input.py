"""Bad input gets a clear error, never INTERNAL, and changes nothing (issue 8, findings 11 to 14).

Found by outside probes against `make dev`: cursors that are not ours, lone UTF-16 surrogates in text
(valid JSON, but no string can be stored or sent as UTF-8 with one), and an assessment whose reveal
policy the REST layer did not know.
"""

import base64
import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2EStack
from tests.e2e.test_assessments_security import World, mongo, world

pytestmark = pytest.mark.e2e

__all__ = ["mongo", "world"]  # the fixtures, imported for this module's tests

CATALOG = """query($after: String, $search: String) {
  courses(first: 5, after: $after, filter: {search: $search}) { edges { cursor } } }"""
ATTEMPTS = """query($u: ID!, $after: String) {
  user(id: $u) { assessmentAttempts(first: 5, after: $after) { edges { cursor } } } }"""
UPDATE_USER = """mutation($id: ID!, $name: String!) {
  updateUser(id: $id, input: {name: $name}) { user { name } errors { code field } } }"""
CREATE_COURSE = """mutation($title: String!, $description: String!) {
  createCourse(input: {title: $title, description: $description}) { course { id } errors { code field } } }"""


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


NOT_OUR_CURSORS = [
    "not base64 !",
    b64(["2026-01-01T00:00:00+00:00", "not-an-object-id"]),
    b64(["not a date", "0" * 24]),
    b64({"a": 1}),
    b64(9 * 10**20),
    b64([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    base64.urlsafe_b64encode(b"[" * 100_000).decode()[:150],
    base64.urlsafe_b64encode(b"attempts:" + str(2**63).encode()).decode(),
    base64.urlsafe_b64encode(b"attempts:" + str(10**20).encode()).decode(),
    "A" * 10_000,
]


def error_code(response: Any) -> str | None:
    errors = response.json().get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS)
def test_a_catalog_cursor_not_of_ours_is_bad_input(stack: E2EStack, cursor: str) -> None:
    assert error_code(stack.graphql(CATALOG, {"after": cursor})) == "BAD_USER_INPUT"
    response = stack.rest("GET", "/courses", params={"after": cursor})
    assert response.status_code == 400 and response.json()["error"]["code"] == "BAD_USER_INPUT", response.text


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS)
def test_an_attempt_list_cursor_not_of_ours_is_bad_input(stack: E2EStack, cursor: str) -> None:
    learner = stack.sign_in()
    variables = {"u": learner["user"]["id"], "after": cursor}
    response = stack.graphql(ATTEMPTS, variables, token=learner["access_token"])
    assert error_code(response) == "BAD_USER_INPUT", response.text


def raw_graphql(stack: E2EStack, query: str, variables: dict[str, str], token: str | None) -> Any:
    """A GraphQL request whose JSON carries `\\ud800` as an escape (httpx cannot encode the string)."""
    body = json.dumps({"query": query, "variables": variables}).replace("LONE", "\\ud800")
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(stack.router_url, content=body, headers=headers, timeout=30)


def test_lone_surrogates_are_refused_as_input_and_nothing_is_stored(stack: E2EStack) -> None:
    # Sent as JSON escapes: the body is valid JSON, the strings are not valid Unicode text.
    assert error_code(raw_graphql(stack, CATALOG, {"search": "aLONE"}, None)) == "BAD_USER_INPUT"

    # Refused before any field runs, by the kernel's one boundary (ADR 0029): nothing is stored.
    learner = stack.sign_in()
    renamed = raw_graphql(
        stack, UPDATE_USER, {"id": learner["user"]["id"], "name": "xLONE"}, learner["access_token"]
    )
    assert error_code(renamed) == "BAD_USER_INPUT", renamed.text
    assert renamed.json()["errors"][0]["extensions"]["details"] == {"reason": "NOT_TEXT"}, renamed.text
    me = stack.graphql("{ me { name } }", token=learner["access_token"]).json()
    assert me["data"]["me"]["name"] == learner["user"]["name"], me

    instructor = stack.sign_in_as("instructor")["access_token"]
    for title, description in (("tLONE", ""), ("fine", "dLONE")):
        created = raw_graphql(stack, CREATE_COURSE, {"title": title, "description": description}, instructor)
        assert error_code(created) == "BAD_USER_INPUT", created.text
        assert created.json()["data"] is None, created.text

    body = '{"title": "ok", "description": "\\ud800"}'
    headers = {"content-type": "application/json"}
    response = stack.rest("POST", "/courses", token=instructor, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BAD_USER_INPUT", response.text


def test_rest_reads_an_assessment_revealed_after_the_last_attempt(world: World) -> None:
    assessment = world.create(revealPolicy="AFTER_LAST_ATTEMPT", maxAttempts=2)
    learner = world.learner()
    response = world.stack.rest("GET", f"/assessments/{assessment['id']}", token=learner["access_token"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["reveal_policy"] == "after_last_attempt"


def test_a_numeric_answer_no_float_holds_exactly_is_bad_input_and_records_nothing(world: World) -> None:
    """Finding 15 (schemathesis): the router writes the double -5.185064366658146e16 as the integer
    -51850643666581460, which graphql-core refuses as a Float. That refusal was masked as INTERNAL (500)."""
    assessment = world.create()
    (numeric,) = [q["id"] for q in assessment["questions"] if q["type"] == "NUMERIC"]
    learner = world.learner()
    answers = [{"question_id": numeric, "number": -5.185064366658146e16}]
    response = world.stack.rest(
        "POST",
        f"/assessments/{assessment['id']}/submit",
        token=learner["access_token"],
        json={"answers": answers},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BAD_USER_INPUT", response.text
    assert world.attempts_of(learner, assessment["id"]) == 0


SIGN_IN_WITH_GITHUB = """mutation($code: String!, $uri: String!) {
  signInWithGithub(input: {code: $code, redirectUri: $uri}) { accessToken } }"""


@pytest.mark.parametrize(
    ("code", "uri"),
    [("w\u0081", "https://app.example.org/callback"), ("abc", "https://app.example.org/caf\u00e9")],
)
def test_a_non_ascii_authorization_code_or_redirect_uri_is_bad_input(
    stack: E2EStack, code: str, uri: str
) -> None:
    """OAuth codes are visible ASCII (RFC 6749) and URIs ASCII (RFC 3986); the provider client failed on
    others, which read as "GitHub is unavailable" (500)."""
    response = stack.graphql(SIGN_IN_WITH_GITHUB, {"code": code, "uri": uri})
    assert error_code(response) == "BAD_USER_INPUT", response.text
