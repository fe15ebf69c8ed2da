"""A course's assessments and a learner's attempts cost the same whatever their number: no N+1.

Two queries a course page and a learner's history make, asked for courses with 2 and with 6 assessments
(each attempted once by the learner). The assessments service's store queries are read from its /metrics
before and after each request (a batch of lookups by id counts once, ADR 0014), and must not grow.
"""

from typing import Any

import pytest

from tests.e2e.conftest import E2EStack
from tests.e2e.test_assessments_flow import CREATE, QUESTIONS, SUBMIT, _answers
from tests.e2e.test_courses_catalog_queries import total

pytestmark = pytest.mark.e2e

ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
COURSE_ASSESSMENTS = """query($c: ID!) { course(id: $c) { assessments {
  id title questionCount questions { id choices { id } }
  viewerAttempts { id number result { percent passed revealed questions { outcome } } } } } }"""
ATTEMPTS = """query($u: ID!) { user(id: $u) { assessmentAttempts(first: 20) {
  edges { node { id assessment { title course { id } } result { percent revealed } } } } } }"""


def queries(stack: E2EStack) -> tuple[float, float]:
    metrics = stack.metrics("assessments")
    request = {"service": "assessments", "store": "mongodb", "origin": "request"}
    return (
        total(metrics, "coursegraph_store_queries_total", **request),
        total(metrics, "coursegraph_store_calls_total", **request),
    )


def cost_of(
    stack: E2EStack, query: str, variables: dict[str, Any], token: str
) -> tuple[dict[str, Any], float]:
    before, _ = queries(stack)
    body = stack.graphql(query, variables, token=token).json()
    after, _ = queries(stack)
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data, after - before


def course_with_attempts(stack: E2EStack, instructor: str, learner: str, size: int) -> str:
    course = stack.create_course(instructor, lessons=1)
    assert stack.graphql(ENROLL, {"c": course["id"]}, token=learner).json().get("errors") is None
    for index in range(size):
        created = stack.graphql(
            CREATE,
            {"course": course["id"], "input": {"title": f"Quiz {index}", "questions": QUESTIONS}},
            token=instructor,
        ).json()
        assessment = created["data"]["createAssessment"]["assessment"]
        answers = _answers(assessment["questions"], right=index % 2 == 0)
        submitted = stack.graphql(SUBMIT, {"a": assessment["id"], "answers": answers}, token=learner).json()
        assert submitted.get("errors") is None and not submitted["data"]["submitAnswers"]["errors"], submitted
    return str(course["id"])


@pytest.mark.timeout(300)
def test_assessments_and_attempts_cost_the_same_for_2_and_6(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    costs: dict[int, tuple[float, float]] = {}
    for size in (2, 6):
        learner = stack.sign_in()
        token = learner["access_token"]
        course_id = course_with_attempts(stack, instructor, token, size)

        page, page_cost = cost_of(stack, COURSE_ASSESSMENTS, {"c": course_id}, token)
        assessments = page["course"]["assessments"]
        assert [a["title"] for a in assessments] == [f"Quiz {i}" for i in range(size)], "oldest first"
        assert all(len(a["viewerAttempts"]) == 1 and a["questions"] for a in assessments)
        assert [a["viewerAttempts"][0]["result"]["passed"] for a in assessments] == [
            i % 2 == 0 for i in range(size)
        ]

        history, history_cost = cost_of(stack, ATTEMPTS, {"u": learner["user"]["id"]}, token)
        edges = history["user"]["assessmentAttempts"]["edges"]
        assert len(edges) == size and all(e["node"]["assessment"]["course"]["id"] == course_id for e in edges)

        # The course's list, its assessments in one batch, every learner's attempts in one batch.
        assert page_cost <= 3, f"{size} assessments: {page_cost} queries"
        costs[size] = (page_cost, history_cost)
        print(
            f"\n{size} assessments: {page_cost} queries for the course page, {history_cost} for the history"
        )
    assert costs[2] == costs[6], costs
