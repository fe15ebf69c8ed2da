"""The router's limits hold for what a client really asks (issue 8, findings 7, 8 and 10)."""

import pytest

from tests.e2e.conftest import E2EStack

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
