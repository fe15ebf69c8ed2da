"""The catalog through the router: create, publish, enroll, complete (details in the other courses tests)."""

import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id progress status } errors { code } } }"
COMPLETE = """mutation($c: ID!, $l: ID!) {
  completeLesson(courseId: $c, lessonId: $l) { enrollment { progress status completedAt } errors { code } }
}"""
CATALOG = """query($id: ID!) {
  course(id: $id) { title instructor { id name } enrollmentCount viewerEnrollment { progress }
                    modules { lessons { content } } }
}"""


def test_an_instructor_publishes_and_a_learner_completes(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor", name="Ines Instructor")
    course = stack.create_course(instructor["access_token"], lessons=2)
    assert course["status"] == "PUBLISHED" and course["lessonCount"] == 2
    learner = stack.sign_in()
    token = learner["access_token"]

    outline = stack.graphql(CATALOG, {"id": course["id"]}, token=token).json()["data"]["course"]
    assert outline["instructor"]["name"] == "Ines Instructor", "instructor resolved from users via the router"
    assert outline["viewerEnrollment"] is None
    assert all(lesson["content"] is None for m in outline["modules"] for lesson in m["lessons"])

    enrolled = stack.graphql(ENROLL, {"c": course["id"]}, token=token).json()["data"]["enroll"]
    assert enrolled["enrollment"]["progress"] == 0
    lessons = [lesson["id"] for m in course["modules"] for lesson in m["lessons"]]
    first = stack.graphql(COMPLETE, {"c": course["id"], "l": lessons[0]}, token=token).json()
    assert first["data"]["completeLesson"]["enrollment"]["progress"] == 50
    last = stack.graphql(COMPLETE, {"c": course["id"], "l": lessons[1]}, token=token).json()
    done = last["data"]["completeLesson"]["enrollment"]
    assert done["progress"] == 100 and done["status"] == "COMPLETED" and done["completedAt"]

    after = stack.graphql(CATALOG, {"id": course["id"]}, token=token).json()["data"]["course"]
    assert after["enrollmentCount"] == 1 and after["viewerEnrollment"]["progress"] == 100
    assert [lesson["content"] for m in after["modules"] for lesson in m["lessons"]] == [
        "Content 1",
        "Content 2",
    ]
