"""What an anonymous caller learns of a user through the public catalog: not their role (issue 8,
finding 6; ADR 0005: profiles are for signed-in callers, the catalog shows instructors' names)."""

import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

CATALOG = """query($search: String!) { courses(first: 5, filter: {search: $search}) {
  edges { node { title instructor { name } } } } }"""
PROBES = {
    "role": "instructor { role }",
    "roles": "instructor { roles { role permissions } }",
}


def probe(field: str) -> str:
    return f"""query($search: String!) {{ courses(first: 5, filter: {{search: $search}}) {{
      edges {{ node {{ title {PROBES[field]} }} }} }} }}"""


@pytest.fixture(scope="module")
def course_title(stack: E2EStack) -> str:
    instructor = stack.sign_in_as("instructor", name="Public Name")
    return str(stack.create_course(instructor["access_token"], lessons=1)["title"])


def test_anyone_reads_the_instructors_name(stack: E2EStack, course_title: str) -> None:
    body = stack.graphql(CATALOG, {"search": course_title}).json()
    assert body.get("errors") is None, body
    assert [e["node"]["instructor"]["name"] for e in body["data"]["courses"]["edges"]] == ["Public Name"]


@pytest.mark.parametrize("field", sorted(PROBES))
def test_an_anonymous_caller_reads_no_more_of_a_profile(
    stack: E2EStack, course_title: str, field: str
) -> None:
    body = stack.graphql(probe(field), {"search": course_title}).json()
    codes = {error["extensions"]["code"] for error in body.get("errors") or []}
    assert codes == {"UNAUTHENTICATED"}, body
    assert "INSTRUCTOR" not in str(body.get("data")), "the role is not in what came back"

    signed_in = stack.sign_in()["access_token"]
    seen = stack.graphql(probe(field), {"search": course_title}, token=signed_in).json()
    assert seen.get("errors") is None, seen
