"""The catalog through the router costs the same whatever its size: no N+1 across the federation.

One query lists N courses, each with its instructor (resolved by the users subgraph), its enrollment count
and its outline. The courses service's MongoDB queries, the users service's SQL statements and its
batched User loads are read from their /metrics before and after the request, for two values of N.

A batch of lookups by id is one query: MongoDB gets one `$in`, FerretDB one lookup per id (the only read
it answers from an index, ADR 0014), so on FerretDB the commands of a batch grow with the batch while the
queries do not.
"""

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

CATALOG = """query($search: String!) {
  courses(first: 20, filter: {search: $search}) {
    totalCount
    edges { node { title instructor { name } enrollmentCount modules { lessons { title } } } }
  }
}"""
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } errors { code } } }"

SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The sum of every series of `name` whose labels include `labels`."""
    summed = 0.0
    for series, value in metrics.items():
        match = SERIES.match(series)
        if match is None or match["name"] != name:
            continue
        have = dict(LABEL.findall(match["labels"] or ""))
        if all(have.get(key) == wanted for key, wanted in labels.items()):
            summed += value
    return summed


def by_operation(metrics: dict[str, float], **labels: str) -> dict[str, float]:
    """Store queries per operation (find, aggregate, SELECT, ...) for the given labels."""
    counts: dict[str, float] = {}
    for series, value in metrics.items():
        match = SERIES.match(series)
        if match is None or match["name"] != "coursegraph_store_queries_total":
            continue
        have = dict(LABEL.findall(match["labels"] or ""))
        if all(have.get(key) == wanted for key, wanted in labels.items()):
            counts[have["operation"]] = counts.get(have["operation"], 0) + value
    return counts


@dataclass(frozen=True)
class Cost:
    mongodb_queries: float  # courses service, while serving requests (a batch of lookups counts once)
    mongodb_commands: float  # the same, as commands on the wire
    mongodb_by_operation: dict[str, float]  # queries
    sql_statements: float  # users service, while serving requests
    user_batches: float  # batched User entity loads in the users service

    def minus(self, before: "Cost") -> "Cost":
        operations = {
            op: count - before.mongodb_by_operation.get(op, 0)
            for op, count in self.mongodb_by_operation.items()
            if count != before.mongodb_by_operation.get(op, 0)
        }
        return Cost(
            mongodb_queries=self.mongodb_queries - before.mongodb_queries,
            mongodb_commands=self.mongodb_commands - before.mongodb_commands,
            mongodb_by_operation=operations,
            sql_statements=self.sql_statements - before.sql_statements,
            user_batches=self.user_batches - before.user_batches,
        )


def read_cost(stack: E2EStack) -> Cost:
    courses, users = stack.metrics("courses"), stack.metrics("users")
    request_mongodb = {"service": "courses", "store": "mongodb", "origin": "request"}
    return Cost(
        mongodb_queries=total(courses, "coursegraph_store_queries_total", **request_mongodb),
        mongodb_commands=total(courses, "coursegraph_store_calls_total", **request_mongodb),
        mongodb_by_operation=by_operation(courses, **request_mongodb),
        sql_statements=total(users, "coursegraph_store_calls_total", service="users", origin="request"),
        user_batches=total(users, "coursegraph_entity_batches_total", service="users", entity="User"),
    )


def build_catalog(stack: E2EStack, size: int, learner_token: str) -> tuple[str, dict[str, str]]:
    """`size` published courses by `size` different instructors, findable by one token; the learner
    enrolls in every other one. Returns the token and each course title's instructor name."""
    token = f"catalog{uuid.uuid4().hex[:10]}"
    instructors: dict[str, str] = {}
    for index in range(size):
        name = f"Instructor {index} {token[-6:]}"
        instructor = stack.sign_in_as("instructor", name=name)
        title = f"{token} course {index}"
        course = stack.create_course(instructor["access_token"], title=title, lessons=3)
        instructors[title] = name
        if index % 2 == 0:
            body = stack.graphql(ENROLL, {"c": course["id"]}, token=learner_token).json()
            assert body.get("errors") is None, body
    return token, instructors


def query_catalog(stack: E2EStack, token: str, learner_token: str) -> tuple[list[dict[str, Any]], Cost]:
    before = read_cost(stack)
    body = stack.graphql(CATALOG, {"search": token}, token=learner_token).json()
    after = read_cost(stack)
    assert body.get("errors") is None, body
    connection = body["data"]["courses"]
    nodes: list[dict[str, Any]] = [edge["node"] for edge in connection["edges"]]
    assert connection["totalCount"] == len(nodes)
    return nodes, after.minus(before)


@pytest.mark.timeout(300)
def test_the_catalog_costs_the_same_for_3_and_12_courses(stack: E2EStack) -> None:
    learner_token = stack.sign_in()["access_token"]
    costs: dict[int, Cost] = {}
    for size in (3, 12):
        token, instructors = build_catalog(stack, size, learner_token)
        nodes, cost = query_catalog(stack, token, learner_token)

        assert len(nodes) == size
        assert {node["title"]: node["instructor"]["name"] for node in nodes} == instructors
        for node in nodes:
            index = int(node["title"].rsplit(" ", 1)[1])
            assert node["enrollmentCount"] == (1 if index % 2 == 0 else 0), node
            assert [lesson["title"] for m in node["modules"] for lesson in m["lessons"]] == [
                "Lesson 1",
                "Lesson 2",
                "Lesson 3",
            ]
        assert cost.user_batches == 1, f"N={size}: every instructor in one users batch, not {cost}"
        # The learner's list of courses, then their enrollments on the page in one batch; the courses
        # themselves come from the catalog read model (ADR 0015).
        assert cost.mongodb_queries <= 2, f"N={size}: {cost}"
        assert cost.mongodb_commands <= 1 + size, f"N={size}: one lookup per enrollment at most: {cost}"
        assert cost.sql_statements <= 3, f"N={size}: {cost}"
        costs[size] = cost
        print(f"\nN={size}: {cost}")

    small, large = costs[3], costs[12]
    assert large.mongodb_queries == small.mongodb_queries, costs
    assert large.mongodb_by_operation == small.mongodb_by_operation, costs
    assert large.sql_statements == small.sql_statements, costs


ENROLLMENTS_PAGE = "enrollments(first: 5) { totalCount edges { node { id } } }"


def users_enrollments(ids: list[str]) -> str:
    fields = " ".join(
        f'u{i}: user(id: "{user_id}") {{ {ENROLLMENTS_PAGE} }}' for i, user_id in enumerate(ids)
    )
    return "{ " + fields + " }"


@pytest.mark.timeout(300)
def test_several_users_enrollments_cost_the_same_for_2_and_5_users(stack: E2EStack) -> None:
    """An admin's view of several learners' enrollments: their lists, then their enrollments, in one
    batch each (a page of a user's enrollments is loaded per request, not per user)."""
    admin = stack.sign_in_admin()["access_token"]
    instructor = stack.sign_in_as("instructor")["access_token"]
    courses = [stack.create_course(instructor, lessons=1)["id"] for _ in range(2)]
    learners = []
    for _ in range(5):
        learner = stack.sign_in()
        for course_id in courses:
            body = stack.graphql(ENROLL, {"c": course_id}, token=learner["access_token"]).json()
            assert body.get("errors") is None, body
        learners.append(learner["user"]["id"])
    costs = {}
    for size in (2, 5):
        before = read_cost(stack)
        body = stack.graphql(users_enrollments(learners[:size]), token=admin).json()
        after = read_cost(stack)
        assert body.get("errors") is None, body
        pages = [body["data"][f"u{index}"]["enrollments"] for index in range(size)]
        assert all(page["totalCount"] == 2 and len(page["edges"]) == 2 for page in pages)
        costs[size] = after.minus(before).mongodb_queries
    assert costs[2] == costs[5] == 2, costs
