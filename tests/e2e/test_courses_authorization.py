"""Who may do what with courses: one table, every kind of caller by every operation, GraphQL and REST.

Each cell is the outcome the caller must get. Allowed writes run on a fresh course (so every cell starts
from the same state); refused writes run on the shared courses and prove, by reading MongoDB directly, that
nothing changed: the course document and its enrollments are identical before and after.
"""

# The table below is laid out as a table (one row per operation, one column per caller).
# ruff: noqa: E501

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.e2e.conftest import E2EStack
from tests.e2e.test_courses_rest import (
    Document,
    course_snapshot,
    courses_db,
    enrollment_snapshots,
    envelope_error,
    ok_data,
)

pytestmark = pytest.mark.e2e

__all__ = ["courses_db"]  # the fixture, imported for this module's tests

CALLERS = ("learner", "owner", "other_instructor", "admin", "anonymous")

# GraphQL outcomes (an error code from the fixed set is the refusal's `extensions.code`).
OK = "OK"
HIDDEN = "HIDDEN"  # course(id) answers null: for this caller the course does not exist
CONTENT = "CONTENT"  # the outline with lesson content and media
OUTLINE = "OUTLINE"  # the outline only: content and media null
SEES_PUBLISHED = "SEES_PUBLISHED"  # a list holds the published courses only
SEES_ALL = "SEES_ALL"  # a list holds every course (drafts and archived too)
UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT = "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT"

Expected = str | int
COURSE = "id title status"
ENROLLMENT = "id progress status completedLessonIds user { id } course { id }"
OUTLINE_FIELDS = "modules { lessons { id title content mediaUrl } }"


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    user_id: str | None


@dataclass
class World:
    """Courses of one instructor (the owner), in every state, with enrollments; and the five callers."""

    stack: E2EStack
    db: Database[Document]
    token: str  # in every shared course's title, so a search finds exactly them
    callers: dict[str, Caller]
    peer: Caller  # a learner whose enrollments others try to read
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, course) -> id

    @property
    def owner(self) -> Caller:
        return self.callers["owner"]

    def ids(self, *names: str) -> set[str]:
        return {self.courses[name]["id"] for name in names}

    def visible(self, expected: Expected) -> set[str]:
        if expected == SEES_PUBLISHED:
            return self.ids("published", "published_unenrolled")
        assert expected == SEES_ALL
        return set(self.ids(*self.courses))

    def new_course(self, state: str, *, title: str | None = None, lessons: int = 2) -> dict[str, Any]:
        """A course of the owner in `state` (draft, published or archived), with content and media."""
        modules = [
            {
                "title": "Module 1",
                "lessons": [
                    {
                        "title": f"Lesson {i + 1}",
                        "content": f"Content {i + 1}",
                        "mediaUrl": f"https://cdn.example.org/{i + 1}.mp4",
                    }
                    for i in range(lessons)
                ],
            }
        ]
        state = state.removesuffix("_unenrolled")
        title = title or f"authz fresh {uuid.uuid4().hex}"
        created = self.gql(
            self.owner,
            f"""mutation($input: CreateCourseInput!) {{
              createCourse(input: $input) {{ course {{ {COURSE} {OUTLINE_FIELDS} }} errors {{ message }} }}
            }}""",
            {"input": {"title": title, "modules": modules}},
        )
        course: dict[str, Any] = created["createCourse"]["course"]
        assert course is not None, created
        if state in ("published", "archived"):
            self.gql(self.owner, PUBLISH, {"id": course["id"]})
        if state == "archived":
            self.archive(course["id"])
        return course

    def archive(self, course_id: str) -> None:
        archived = self.gql(self.owner, ARCHIVE, {"id": course_id})
        assert archived["archiveCourse"]["course"]["status"] == "ARCHIVED", archived

    def enroll(self, caller: Caller, course_id: str) -> str:
        enrolled = self.gql(caller, ENROLL, {"c": course_id})["enroll"]["enrollment"]
        self.enrollments[(caller.name, course_id)] = enrolled["id"]
        return str(enrolled["id"])

    def gql(self, caller: Caller, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Data of a request that must succeed."""
        body = self.stack.graphql(query, variables, token=caller.token).json()
        assert not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    def lesson(self, name: str) -> str:
        return str(self.courses[name]["modules"][0]["lessons"][0]["id"])

    @contextlib.contextmanager
    def unchanged(self, *course_ids: str) -> Iterator[None]:
        """Assert that the block changes neither the courses nor their enrollments."""
        before = [(course_snapshot(self.db, c), enrollment_snapshots(self.db, c)) for c in course_ids]
        yield
        after = [(course_snapshot(self.db, c), enrollment_snapshots(self.db, c)) for c in course_ids]
        assert after == before, "a refused operation changed stored data"


PUBLISH = f"mutation($id: ID!) {{ publishCourse(id: $id) {{ course {{ {COURSE} }} errors {{ code }} }} }}"
ARCHIVE = f"mutation($id: ID!) {{ archiveCourse(id: $id) {{ course {{ {COURSE} }} errors {{ code }} }} }}"
ENROLL = f"mutation($c: ID!) {{ enroll(courseId: $c) {{ enrollment {{ {ENROLLMENT} }} errors {{ code }} }} }}"
UPDATE = f"""mutation($id: ID!, $input: UpdateCourseInput!) {{
  updateCourse(id: $id, input: $input) {{ course {{ {COURSE} }} errors {{ code field }} }}
}}"""
CREATE = f"""mutation($input: CreateCourseInput!) {{
  createCourse(input: $input) {{ course {{ {COURSE} }} errors {{ code field }} }}
}}"""
COMPLETE = f"""mutation($c: ID!, $l: ID!) {{
  completeLesson(courseId: $c, lessonId: $l) {{ enrollment {{ {ENROLLMENT} }} errors {{ code }} }}
}}"""
CATALOG = "query($f: CourseFilter) { courses(first: 100, filter: $f) { edges { node { id } } totalCount } }"
COURSE_BY_ID = f"query($id: ID!) {{ course(id: $id) {{ {COURSE} {OUTLINE_FIELDS} }} }}"
USER_ENROLLMENTS = """query($id: ID!) {
  user(id: $id) { id enrollments(first: 100) { totalCount edges { node { id user { id } course { id } } } } }
}"""
MY_ENROLLMENTS = (
    "query { me { id enrollments(first: 100) { edges { node { id user { id } course { id } } } } } }"
)
TEACHING = "query($id: ID!) { user(id: $id) { coursesTeaching(first: 100) { edges { node { id } } } } }"


@pytest.fixture(scope="module")
def world(stack: E2EStack, courses_db: Database[Document]) -> World:
    def caller(name: str, tokens: dict[str, Any] | None) -> Caller:
        if tokens is None:
            return Caller(name, None, None)
        return Caller(name, tokens["access_token"], tokens["user"]["id"])

    callers = {
        "learner": caller("learner", stack.sign_in(name="Lena Learner")),
        "owner": caller("owner", stack.sign_in_as("instructor", name="Olga Owner")),
        "other_instructor": caller("other_instructor", stack.sign_in_as("instructor")),
        "admin": caller("admin", stack.sign_in_admin()),
        "anonymous": caller("anonymous", None),
    }
    world = World(stack, courses_db, uuid.uuid4().hex, callers, caller("peer", stack.sign_in(name="Peer")))
    learner = callers["learner"]
    for name in ("draft", "published", "published_unenrolled", "archived", "archived_unenrolled"):
        # Archived ones are archived below, after their learner enrolls.
        state = "draft" if name == "draft" else "published"
        world.courses[name] = world.new_course(state, title=f"authz {world.token} {name}")
    world.enroll(learner, world.courses["published"]["id"])
    world.enroll(world.peer, world.courses["published"]["id"])
    world.enroll(learner, world.courses["archived"]["id"])  # before it closes: enrolled learners keep it
    world.archive(world.courses["archived"]["id"])
    world.archive(world.courses["archived_unenrolled"]["id"])
    return world


def graphql(world: World, caller: Caller, query: str, variables: dict[str, Any]) -> tuple[Any, str | None]:
    """(data, first error's extensions.code or None)."""
    body = world.stack.graphql(query, variables, token=caller.token).json()
    errors = body.get("errors") or []
    for error in errors:
        assert "Traceback" not in str(error) and error["extensions"]["code"], body
    return body.get("data"), errors[0]["extensions"]["code"] if errors else None


def assert_outline(lessons: list[dict[str, Any]], expected: Expected, *, media: str = "mediaUrl") -> None:
    assert lessons and all(lesson["title"] for lesson in lessons)
    if expected == CONTENT:
        assert [lesson["content"] for lesson in lessons] == [f"Content {i + 1}" for i in range(len(lessons))]
        assert all(lesson[media].startswith("https://cdn.example.org/") for lesson in lessons)
    else:
        assert expected == OUTLINE
        assert all(lesson["content"] is None and lesson[media] is None for lesson in lessons)


# --- GraphQL operations ---------------------------------------------------------------------------

Check = Callable[[World, Caller, Expected], None]


def gql_catalog(world: World, caller: Caller, expected: Expected) -> None:
    data, code = graphql(world, caller, CATALOG, {"f": {"search": world.token}})
    assert code is None
    connection = data["courses"]
    assert {edge["node"]["id"] for edge in connection["edges"]} == world.visible(expected)
    assert connection["totalCount"] == len(connection["edges"])


def gql_course(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        data, code = graphql(world, caller, COURSE_BY_ID, {"id": world.courses[name]["id"]})
        assert code is None, "course(id) refuses with null, never an error that would confirm the id"
        if expected == HIDDEN:
            assert data["course"] is None
        else:
            assert expected == OK and data["course"]["id"] == world.courses[name]["id"]

    return check


def gql_create(world: World, caller: Caller, expected: Expected) -> None:
    title = f"authz create {uuid.uuid4().hex}"
    data, code = graphql(world, caller, CREATE, {"input": {"title": title}})
    if expected == OK:
        assert code is None and data["createCourse"]["errors"] == []
        assert data["createCourse"]["course"]["status"] == "DRAFT"
        stored = world.db.courses.find_one({"title": title})
        assert stored is not None and stored["instructor_id"] == caller.user_id
    else:
        assert code == expected and data is None
    assert world.db.courses.count_documents({"title": title}) == (1 if expected == OK else 0)


def gql_write(name: str, operation: str) -> Check:
    """updateCourse, publishCourse or archiveCourse on the course in state `name`."""
    queries = {"updateCourse": UPDATE, "publishCourse": PUBLISH, "archiveCourse": ARCHIVE}
    result_status = {"publishCourse": "PUBLISHED", "archiveCourse": "ARCHIVED"}

    def check(world: World, caller: Caller, expected: Expected) -> None:
        new_title = f"authz renamed {uuid.uuid4().hex}"
        variables: dict[str, Any] = {"input": {"title": new_title}} if operation == "updateCourse" else {}
        if expected == OK:
            course_id = world.new_course(name)["id"]
            data, code = graphql(world, caller, queries[operation], {"id": course_id, **variables})
            assert code is None and data[operation]["errors"] == [], data
            stored = course_snapshot(world.db, course_id)
            assert stored is not None
            if operation == "updateCourse":
                assert data[operation]["course"]["title"] == stored["title"] == new_title
            else:
                assert data[operation]["course"]["status"] == result_status[operation]
                assert stored["status"] == result_status[operation].lower()
            return
        course_id = world.courses[name]["id"]
        with world.unchanged(course_id):
            data, code = graphql(world, caller, queries[operation], {"id": course_id, **variables})
        assert code == expected and data is None

    return check


def gql_enroll(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        if expected == OK:
            course_id = world.new_course(name)["id"]
            data, code = graphql(world, caller, ENROLL, {"c": course_id})
            assert code is None
            enrollment = data["enroll"]["enrollment"]
            assert enrollment["user"]["id"] == caller.user_id and enrollment["course"]["id"] == course_id
            assert world.db.enrollments.count_documents({"course_id": course_id}) == 1
            return
        course_id = world.courses[name]["id"]
        with world.unchanged(course_id):
            data, code = graphql(world, caller, ENROLL, {"c": course_id})
        assert code == expected and data is None

    return check


def gql_complete(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        if expected == OK:
            course = world.new_course(name)
            enrollment_id = world.enroll(caller, course["id"])
            lesson = course["modules"][0]["lessons"][0]["id"]
            data, code = graphql(world, caller, COMPLETE, {"c": course["id"], "l": lesson})
            assert code is None
            assert data["completeLesson"]["enrollment"]["completedLessonIds"] == [lesson]
            assert data["completeLesson"]["enrollment"]["progress"] == 50
            stored = world.db.enrollments.find_one({"_id": ObjectId(enrollment_id)})
            assert stored is not None and stored["completed_lessons"] == [lesson]
            return
        course_id = world.courses[name]["id"]
        with world.unchanged(course_id):
            data, code = graphql(world, caller, COMPLETE, {"c": course_id, "l": world.lesson(name)})
        assert code == expected and data is None

    return check


def gql_content(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        data, code = graphql(world, caller, COURSE_BY_ID, {"id": world.courses[name]["id"]})
        assert code is None
        assert_outline([lesson for m in data["course"]["modules"] for lesson in m["lessons"]], expected)

    return check


def gql_peer_enrollments(world: World, caller: Caller, expected: Expected) -> None:
    data, code = graphql(world, caller, USER_ENROLLMENTS, {"id": world.peer.user_id})
    if expected == OK:
        assert code is None
        edges = data["user"]["enrollments"]["edges"]
        assert [edge["node"]["id"] for edge in edges] == [
            world.enrollments[("peer", world.courses["published"]["id"])]
        ]
        assert edges[0]["node"]["user"]["id"] == world.peer.user_id
    elif expected == UNAUTHENTICATED:
        assert code == expected and data["user"] is None
    else:
        assert code == expected and data["user"]["enrollments"] is None, "the field is refused, not the user"


def gql_own_enrollments(world: World, caller: Caller, expected: Expected) -> None:
    data, code = graphql(world, caller, MY_ENROLLMENTS, {})
    if expected != OK:
        assert code == expected and data is None
        return
    assert code is None
    nodes = [edge["node"] for edge in data["me"]["enrollments"]["edges"]]
    assert all(node["user"]["id"] == caller.user_id for node in nodes)
    if caller.name == "learner":
        assert world.ids("published", "archived") <= {node["course"]["id"] for node in nodes}


def gql_teaching(world: World, caller: Caller, expected: Expected) -> None:
    data, code = graphql(world, caller, TEACHING, {"id": world.owner.user_id})
    if expected == UNAUTHENTICATED:
        assert code == expected and data["user"] is None
        return
    assert code is None
    listed = {edge["node"]["id"] for edge in data["user"]["coursesTeaching"]["edges"]}
    assert listed & world.visible(SEES_ALL) == world.visible(expected)


# --- REST operations ------------------------------------------------------------------------------


def rest_catalog(world: World, caller: Caller, expected: Expected) -> None:
    params = {"search": world.token, "first": 100}
    page = ok_data(world.stack.rest("GET", "/courses", token=caller.token, params=params))
    assert {item["id"] for item in page["items"]} == world.visible(expected)
    assert page["total_count"] == len(page["items"])


def rest_create(world: World, caller: Caller, expected: Expected) -> None:
    title = f"authz rest create {uuid.uuid4().hex}"
    response = world.stack.rest("POST", "/courses", token=caller.token, json={"title": title})
    if expected == 201:
        assert ok_data(response, 201)["instructor_id"] == caller.user_id
    else:
        assert envelope_error(response)[0] == expected
    assert world.db.courses.count_documents({"title": title}) == (1 if expected == 201 else 0)


def rest_enroll(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        if expected == 201:
            course_id = world.new_course(name)["id"]
            response = world.stack.rest("POST", f"/courses/{course_id}/enroll", token=caller.token)
            enrollment = ok_data(response, 201)
            assert enrollment["user_id"] == caller.user_id and enrollment["course_id"] == course_id
            assert world.db.enrollments.count_documents({"course_id": course_id}) == 1
            return
        course_id = world.courses[name]["id"]
        with world.unchanged(course_id):
            response = world.stack.rest("POST", f"/courses/{course_id}/enroll", token=caller.token)
        assert envelope_error(response)[0] == expected

    return check


def rest_course(name: str) -> Check:
    def check(world: World, caller: Caller, expected: Expected) -> None:
        response = world.stack.rest("GET", f"/courses/{world.courses[name]['id']}", token=caller.token)
        if expected in (CONTENT, OUTLINE):
            course = ok_data(response)
            assert_outline(
                [lesson for m in course["modules"] for lesson in m["lessons"]], expected, media="media_url"
            )
        elif expected == 200:
            assert ok_data(response)["id"] == world.courses[name]["id"]
        else:
            assert envelope_error(response)[0] == expected

    return check


# --- the table ------------------------------------------------------------------------------------
# fmt: off
TABLE: list[tuple[str, Check, tuple[Expected, Expected, Expected, Expected, Expected]]] = [
    # operation                              check                                   learner          owner     other_instructor  admin     anonymous
    ("graphql courses (catalog)",            gql_catalog,                             (SEES_PUBLISHED, SEES_ALL, SEES_PUBLISHED,  SEES_ALL, SEES_PUBLISHED)),
    ("graphql course(id) draft",             gql_course("draft"),                     (HIDDEN,         OK,       HIDDEN,          OK,       HIDDEN)),
    ("graphql course(id) published",         gql_course("published"),                 (OK,             OK,       OK,              OK,       OK)),
    ("graphql course(id) archived",          gql_course("archived_unenrolled"),       (OK,             OK,       OK,              OK,       OK)),
    ("graphql createCourse",                 gql_create,                              (FORBIDDEN,      OK,       OK,              OK,       UNAUTHENTICATED)),
    ("graphql updateCourse draft",           gql_write("draft", "updateCourse"),      (NOT_FOUND,      OK,       NOT_FOUND,       OK,       UNAUTHENTICATED)),
    ("graphql updateCourse published",       gql_write("published", "updateCourse"),  (FORBIDDEN,      OK,       FORBIDDEN,       OK,       UNAUTHENTICATED)),
    ("graphql updateCourse archived",        gql_write("archived", "updateCourse"),   (FORBIDDEN,      CONFLICT, FORBIDDEN,       CONFLICT, UNAUTHENTICATED)),
    ("graphql publishCourse draft",          gql_write("draft", "publishCourse"),     (NOT_FOUND,      OK,       NOT_FOUND,       OK,       UNAUTHENTICATED)),
    ("graphql publishCourse archived",       gql_write("archived", "publishCourse"),  (FORBIDDEN,      CONFLICT, FORBIDDEN,       CONFLICT, UNAUTHENTICATED)),
    ("graphql archiveCourse published",      gql_write("published", "archiveCourse"), (FORBIDDEN,      OK,       FORBIDDEN,       OK,       UNAUTHENTICATED)),
    ("graphql archiveCourse draft",          gql_write("draft", "archiveCourse"),     (NOT_FOUND,      OK,       NOT_FOUND,       OK,       UNAUTHENTICATED)),
    ("graphql enroll published",             gql_enroll("published_unenrolled"),      (OK,             CONFLICT, OK,              OK,       UNAUTHENTICATED)),
    ("graphql enroll draft",                 gql_enroll("draft"),                     (NOT_FOUND,      CONFLICT, NOT_FOUND,       CONFLICT, UNAUTHENTICATED)),
    ("graphql enroll archived",              gql_enroll("archived_unenrolled"),       (CONFLICT,       CONFLICT, CONFLICT,        CONFLICT, UNAUTHENTICATED)),
    ("graphql completeLesson published",     gql_complete("published"),               (OK,             FORBIDDEN, FORBIDDEN,      FORBIDDEN, UNAUTHENTICATED)),
    ("graphql completeLesson draft",         gql_complete("draft"),                   (NOT_FOUND,      FORBIDDEN, NOT_FOUND,      FORBIDDEN, UNAUTHENTICATED)),
    ("graphql lesson content, learner enrolled",     gql_content("published"),        (CONTENT,        CONTENT,  OUTLINE,         CONTENT,  OUTLINE)),
    ("graphql lesson content, learner not enrolled", gql_content("published_unenrolled"), (OUTLINE,    CONTENT,  OUTLINE,         CONTENT,  OUTLINE)),
    ("graphql lesson content, archived, enrolled",   gql_content("archived"),         (CONTENT,        CONTENT,  OUTLINE,         CONTENT,  OUTLINE)),
    ("graphql User.enrollments of another user",     gql_peer_enrollments,            (FORBIDDEN,      FORBIDDEN, FORBIDDEN,      OK,       UNAUTHENTICATED)),
    ("graphql me.enrollments (own)",         gql_own_enrollments,                     (OK,             OK,       OK,              OK,       UNAUTHENTICATED)),
    ("graphql User.coursesTeaching",         gql_teaching,                            (SEES_PUBLISHED, SEES_ALL, SEES_PUBLISHED,  SEES_ALL, UNAUTHENTICATED)),
    ("REST GET /courses",                    rest_catalog,                            (SEES_PUBLISHED, SEES_ALL, SEES_PUBLISHED,  SEES_ALL, SEES_PUBLISHED)),
    ("REST POST /courses",                   rest_create,                             (403,            201,      201,             201,      401)),
    ("REST POST /courses/:id/enroll published", rest_enroll("published_unenrolled"),  (201,            409,      201,             201,      401)),
    ("REST POST /courses/:id/enroll draft",  rest_enroll("draft"),                    (404,            409,      404,             409,      401)),
    ("REST POST /courses/:id/enroll archived", rest_enroll("archived_unenrolled"),    (409,            409,      409,             409,      401)),
    ("REST GET /courses/:id draft",          rest_course("draft"),                    (404,            200,      404,             200,      404)),
    ("REST GET /courses/:id published",      rest_course("published"),                (200,            200,      200,             200,      200)),
    ("REST GET /courses/:id archived",       rest_course("archived_unenrolled"),      (200,            200,      200,             200,      200)),
    ("REST GET /courses/:id lesson content", rest_course("published"),                (CONTENT,        CONTENT,  OUTLINE,         CONTENT,  OUTLINE)),
]
# fmt: on

CASES = [
    pytest.param(check, caller, expected, id=f"{operation} | {caller}")
    for operation, check, cells in TABLE
    for caller, expected in zip(CALLERS, cells, strict=True)
]


@pytest.mark.parametrize(("check", "caller", "expected"), CASES)
def test_authorization(world: World, check: Check, caller: str, expected: Expected) -> None:
    check(world, world.callers[caller], expected)


def test_the_table_covers_every_operation() -> None:
    operations = {operation for operation, _, _ in TABLE}
    for name in (
        "courses",
        "course(id) draft",
        "course(id) published",
        "course(id) archived",
        "createCourse",
        "updateCourse",
        "publishCourse",
        "archiveCourse",
        "enroll",
        "completeLesson",
        "lesson content",
        "User.enrollments of another user",
        "User.coursesTeaching",
        "REST GET /courses",
        "REST POST /courses",
        "REST POST /courses/:id/enroll",
        "REST GET /courses/:id",
    ):
        assert any(name in operation for operation in operations), name
    assert len(CASES) == len(TABLE) * len(CALLERS)
