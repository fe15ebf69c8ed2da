"""The assessments subgraph called directly (its own port, not the router) is never more permissive than
the graph: a learner, a stranger, the instructor and an anonymous caller get the same assessments either
way (issue 16).

Through the router, a course the caller may not see is null, so its assessments are never asked for.
Called directly, `_entities` hands the subgraph any course id: the service itself must decide, as it
does for `assessment(id)`. Compared here for a draft course and for a published one the caller is not
enrolled in.
"""

from typing import Any

import httpx
import pytest

from tests.e2e.test_assessments_security import World, gql_code, mongo, ok, world

pytestmark = pytest.mark.e2e

__all__ = ["mongo", "world"]  # the fixtures, imported for this module's tests

COURSE = "query($c: ID!) { course(id: $c) { assessments { id title } } }"
COURSE_ENTITY = """query($r: [_Any!]!) {
  _entities(representations: $r) { ... on Course { assessments { id title } } } }"""
ASSESSMENT = "query($a: ID!) { assessment(id: $a) { id title questions { id } } }"
ASSESSMENT_ENTITY = """query($r: [_Any!]!) {
  _entities(representations: $r) { ... on Assessment { id title questions { id } } } }"""


def _direct(world: World, query: str, variables: dict[str, Any], token: str | None) -> httpx.Response:
    response: httpx.Response = world.stack.graphql(
        query, variables, token=token, url=world.stack.subgraph_urls["assessments"]
    )
    return response


def _ids(assessments: list[dict[str, Any]] | None) -> list[str]:
    return [a["id"] for a in assessments or []]


def _questions(assessment: dict[str, Any] | None) -> Any:
    """What the caller sees of an assessment, its question ids as a set (non-managers get them shuffled)."""
    if assessment is None:
        return None
    questions = assessment["questions"]
    return {**assessment, "questions": None if questions is None else {q["id"] for q in questions}}


@pytest.fixture(scope="module")
def callers(world: World) -> dict[str, str | None]:
    return {
        "learner": world.learner()["access_token"],
        "stranger": world.learner(enrolled=False)["access_token"],
        "instructor": world.instructor["access_token"],
        "other instructor": world.other_instructor["access_token"],
        "anonymous": None,
    }


# Every test below asks for both courses as every kind of caller.
EVERY_COURSE = pytest.mark.parametrize("course", ["draft", "published"])
EVERY_CALLER = pytest.mark.parametrize(
    "caller", ["learner", "stranger", "instructor", "other instructor", "anonymous"]
)


@pytest.fixture(scope="module")
def courses(world: World) -> dict[str, tuple[str, list[str]]]:
    """A draft course and a published one, each with two assessments: name -> (course id, their ids)."""
    draft = world.stack.create_course(world.instructor["access_token"], lessons=1, publish=False)
    made: dict[str, tuple[str, list[str]]] = {}
    for name, course_id in (("draft", draft["id"]), ("published", world.course_id)):
        made[name] = (course_id, [world.create(course=course_id)["id"] for _ in range(2)])
    return made


@EVERY_COURSE
@EVERY_CALLER
def test_a_courses_assessments_are_the_same_through_the_router_and_directly(
    world: World,
    callers: dict[str, str | None],
    courses: dict[str, tuple[str, list[str]]],
    caller: str,
    course: str,
) -> None:
    token = callers[caller]
    course_id, created = courses[course]

    through_router = ok(world.stack.graphql(COURSE, {"c": course_id}, token=token))["course"]
    routed = _ids(through_router and through_router["assessments"])
    representations = [{"__typename": "Course", "id": course_id}]
    (entity,) = ok(_direct(world, COURSE_ENTITY, {"r": representations}, token))["_entities"]
    direct = _ids(entity["assessments"])

    assert direct == routed, f"{caller} on the {course} course: router {routed}, subgraph {direct}"
    expected = created if course == "published" or caller == "instructor" else []
    assert [i for i in routed if i in created] == expected, "the rule itself (a draft is its managers')"


@EVERY_COURSE
@EVERY_CALLER
def test_an_assessment_is_the_same_through_the_router_and_directly(
    world: World,
    callers: dict[str, str | None],
    courses: dict[str, tuple[str, list[str]]],
    caller: str,
    course: str,
) -> None:
    token = callers[caller]
    assessment_id = courses[course][1][0]
    variables = {"a": assessment_id}

    routed, direct = (
        world.stack.graphql(ASSESSMENT, variables, token=token),
        _direct(world, ASSESSMENT, variables, token),
    )
    assert gql_code(direct) == gql_code(routed), (caller, routed.text, direct.text)
    if gql_code(routed) is None:
        assert _questions(ok(direct)["assessment"]) == _questions(ok(routed)["assessment"]), caller

    # The entity the router resolves for `assessment(id)`: no more than the caller sees of the course.
    (entity,) = ok(
        _direct(world, ASSESSMENT_ENTITY, {"r": [{"__typename": "Assessment", "id": assessment_id}]}, token)
    )["_entities"]
    through_course = ok(world.stack.graphql(COURSE, {"c": courses[course][0]}, token=token))["course"]
    listed = assessment_id in _ids(through_course and through_course["assessments"])
    assert (entity is not None) == listed, (caller, course, entity)
    if entity is not None and gql_code(routed) is None:
        assert _questions(entity) == _questions(ok(routed)["assessment"]), caller
