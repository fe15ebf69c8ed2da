"""Who may read an assessment and its questions (issue 8, findings 2 and 3).

A draft course is its managers' alone, and so are its assessments; a learner reads an assessment's
questions only once it has opened. Both through the router and through REST.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.test_assessments_security import World, mongo, ok, world

pytestmark = pytest.mark.e2e

__all__ = ["mongo", "world"]  # the fixtures, imported for this module's tests

READ = "query($id: ID!) { assessment(id: $id) { id title instructions questions { id prompt } } }"


def test_a_draft_courses_assessment_is_its_managers_alone(world: World) -> None:
    draft = world.stack.create_course(world.instructor["access_token"], lessons=1, publish=False)
    assessment = world.create(course=draft["id"], instructions="Not for outsiders")

    for who in (world.learner(enrolled=False), world.other_instructor):
        token = who["access_token"]
        assert ok(world.stack.graphql(READ, {"id": assessment["id"]}, token=token))["assessment"] is None
        response = world.stack.rest("GET", f"/assessments/{assessment['id']}", token=token)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND", response.text

    for who in (world.instructor, world.admin):
        seen = ok(world.stack.graphql(READ, {"id": assessment["id"]}, token=who["access_token"]))[
            "assessment"
        ]
        assert seen["instructions"] == "Not for outsiders" and seen["questions"], who["user"]["id"]


def test_questions_are_read_once_the_assessment_opens(world: World) -> None:
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    opened = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    not_yet = world.create(availableFrom=soon)
    open_now = world.create(availableFrom=opened)
    learner = world.learner()
    token = learner["access_token"]

    waiting = ok(world.stack.graphql(READ, {"id": not_yet["id"]}, token=token))["assessment"]
    assert waiting["title"] and waiting["questions"] is None, "the title is shown, the questions are not"
    rest = world.stack.rest("GET", f"/assessments/{not_yet['id']}", token=token)
    assert rest.status_code == 200 and not rest.json()["data"]["questions"], rest.text

    assert ok(world.stack.graphql(READ, {"id": open_now["id"]}, token=token))["assessment"]["questions"]
    manager = ok(world.stack.graphql(READ, {"id": not_yet["id"]}, token=world.instructor["access_token"]))
    assert manager["assessment"]["questions"], "its managers prepare it before it opens"
