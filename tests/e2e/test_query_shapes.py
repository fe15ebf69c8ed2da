"""Every document-store command of the everyday operations is answered from an index (ADR 0014).

A stack of its own logs the shape of every command its services send (`COURSEGRAPH_STORE_SHAPES_LOG`:
collection, filter fields and operators, sort; never values). The test runs the everyday operations
through REST and the router, then reads the log:

- on the default store (FerretDB v1, which answers only a lone `_id` equality from an index), every
  command a request sends finds its document by `_id` alone;
- on MongoDB, every filtered query the services send at all, requests and background work alike, is
  served by `_id` or by an index the models declare; the few that are not are listed below, with why.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from beanie import Document

from subgraphs.assessments import models as assessments_models
from subgraphs.courses import models as courses_models
from subgraphs.media import models as media_models
from tests.e2e.conftest import E2EStack, StartStack
from tests.e2e.test_assessments_flow import CREATE, QUESTIONS, _answers

pytestmark = pytest.mark.e2e

# Every document model of the document-store services, found in their models modules (a new one cannot
# be forgotten here).
MODELS: list[type[Document]] = [
    model
    for module in (assessments_models, courses_models, media_models)
    for model in vars(module).values()
    if isinstance(model, type) and issubclass(model, Document) and model is not Document
]
# What reads a whole collection on purpose, and why that is fine (never during a request).
WHOLE_COLLECTION_READS = {
    ("courses", "find"): "the catalog read model's load, at start and every 15 minutes (ADR 0015)",
}
# Background filters with no index, and why that is fine.
UNINDEXED_BACKGROUND = {
    ("processed_events", "delete"): "the daily removal of old processed-event marks",
}
POINT_READ_COMMANDS = {"find", "update", "delete", "findAndModify"}

CATALOG = """query($search: String) { courses(first: 20, filter: {search: $search}) { totalCount
  edges { node { id title instructor { name } enrollmentCount modules { lessons { title } } } } } }"""
COURSE_PAGE = """query($id: ID!) { course(id: $id) {
  title enrollmentCount modules { title lessons { title content mediaUrl } }
  viewerEnrollment { progress } assessments { id title questionCount questions { id } } } }"""
ME = """{ me { enrollments(first: 20) { totalCount edges { node { progress course { title } } } }
  coursesTeaching(first: 20) { totalCount edges { node { id title status enrollmentCount } } } } }"""
USER_ATTEMPTS = """query($u: ID!) { user(id: $u) { assessmentAttempts(first: 5) {
  edges { node { id assessment { title } result { percent revealed } } } } } }"""
UPDATE = """mutation($id: ID!) { updateCourse(id: $id, input: {title: "Renamed"}) { errors { code } } }"""
COMPLETE = "mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) { errors { code } } }"
COMPLETE_WITH_STATE = """mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) {
  enrollment { progress completedLessonIds } errors { code } } }"""
START = "mutation($a: ID!) { startAttempt(assessmentId: $a) { attempt { id } errors { code } } }"
SAVE = """mutation($t: ID!, $answers: [AnswerInput!]!) {
  saveAnswers(attemptId: $t, answers: $answers) { errors { code } } }"""
SUBMIT = "mutation($t: ID!) { submitAssessment(attemptId: $t) { attempt { status } errors { code } } }"
RESULT = "query($a: ID!) { assessmentResult(id: $a) { percent passed revealed } }"
CERTIFICATE = "query($c: ID!) { course(id: $c) { viewerEnrollment { certificate { code } } } }"
VERIFY = "query($code: String!) { verifyCertificate(code: $code) { code course { title } } }"


def ok(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


def declared_indexes() -> dict[str, list[list[str]]]:
    """Each collection's indexes as lists of fields, `_id` first."""
    indexes: dict[str, list[list[str]]] = {}
    for model in MODELS:
        name = str(model.Settings.name)
        declared = getattr(model.Settings, "indexes", [])
        indexes[name] = [
            ["_id"],
            *[[field for field, _ in index.document["key"].items()] for index in declared],
        ]
    return indexes


def is_point_read(shape: dict[str, Any]) -> bool:
    """By `_id`: one id, or a batch of ids (`$in`, which the project's FerretDB build also answers from
    the `_id` index, ADR 0014)."""
    return list(shape) == ["_id"] and (isinstance(shape["_id"], str) or shape["_id"] == {"$in": "array"})


def served_by_an_index(shape: dict[str, Any], sort: list[str], indexes: list[list[str]]) -> bool:
    """Whether a MongoDB index answers the filter: its equalities are the index's first fields and the
    sort (in order) follows them; with no equality, a range or keyset condition on the index's first
    field. Other conditions are checked on the documents the index found."""
    fields = [field for field in shape if not field.startswith("$")]
    equalities = {field for field in fields if isinstance(shape[field], str)}
    ranges = {field for field in fields if isinstance(shape[field], dict)}
    for branch in shape.get("$or", []):
        ranges |= set(branch) - equalities
    for index in indexes:
        head, rest = index[: len(equalities)], index[len(equalities) :]
        if set(head) != equalities or rest[: len(sort)] != sort:
            continue
        if equalities or sort or (rest and rest[0] in ranges):
            return True
    return False


@pytest.fixture(scope="module")
def logged(
    start_stack: StartStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[E2EStack, Path]]:
    log = tmp_path_factory.mktemp("shapes") / "store-shapes.jsonl"
    env = {"COURSEGRAPH_STORE_SHAPES_LOG": str(log), "COURSEGRAPH_ROUTER_RATE_LIMIT": "0"}
    with start_stack("shapes-stack", env) as running:
        yield running, log


def run_everyday_operations(stack: E2EStack) -> dict[str, str]:
    """What learners and instructors do all day, through REST and the router; returns ids for more."""
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2)
    created = ok(stack.graphql(CREATE, {"course": course["id"], "input": {
        "title": "Quiz", "passingScore": 50, "requiredForCompletion": True, "questions": QUESTIONS,
    }}, token=instructor))["createAssessment"]  # fmt: skip
    assessment = created["assessment"]
    ok(stack.graphql(UPDATE, {"id": course["id"]}, token=instructor))
    learner = stack.sign_in()
    token = learner["access_token"]

    for caller in (None, token):
        assert stack.rest("GET", "/courses?first=20", token=caller).status_code == 200
        ok(stack.graphql(CATALOG, {"search": None}, token=caller))
        ok(stack.graphql(CATALOG, {"search": "(a+)+$" * 16}, token=caller))
        assert stack.rest("GET", f"/courses/{course['id']}", token=caller).status_code == 200
    assert stack.rest("POST", f"/courses/{course['id']}/enroll", token=token).status_code == 201
    assert stack.rest("GET", f"/courses/{course['id']}", token=token).status_code == 200
    ok(stack.graphql(COURSE_PAGE, {"id": course["id"]}, token=token))
    for module in course["modules"]:
        for lesson in module["lessons"]:
            ok(stack.graphql(COMPLETE, {"c": course["id"], "l": lesson["id"]}, token=token))

    attempt = ok(stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    answers = _answers(assessment["questions"], right=True)
    ok(stack.graphql(SAVE, {"t": attempt["id"], "answers": answers}, token=token))
    ok(stack.graphql(SUBMIT, {"t": attempt["id"]}, token=token))
    ok(stack.graphql(RESULT, {"a": assessment["id"]}, token=token))
    assert stack.rest("GET", f"/assessments/{assessment['id']}", token=token).status_code == 200
    assert stack.rest("GET", f"/assessments/{assessment['id']}/result", token=token).status_code == 200
    ok(stack.graphql(ME, token=token))
    ok(stack.graphql(COURSE_PAGE, {"id": course["id"]}, token=instructor))
    ok(stack.graphql(ME, token=instructor))
    return {"course": course["id"], "user": learner["user"]["id"], "learner": token, "instructor": instructor}


def read_log(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


@pytest.mark.timeout(300)
def test_every_query_is_answered_from_an_index(logged: tuple[E2EStack, Path]) -> None:
    stack, log = logged
    ids = run_everyday_operations(stack)
    everyday = read_log(log)
    # The certificate the last completion issued (asynchronously: the assessment's pass comes by Kafka),
    # and the attempt history an instructor looks at: filtered queries, checked against MongoDB's indexes.
    code = None
    # Up to 30 s: the stack's new consumer group reads assessment.events from the start, and a Kafka that
    # served other stacks before holds their events too.
    for _ in range(300):
        certificate = ok(stack.graphql(CERTIFICATE, {"c": ids["course"]}, token=ids["learner"]))
        if (found := certificate["course"]["viewerEnrollment"]["certificate"]) is not None:
            code = found["code"]
            break
        time.sleep(0.1)
    assert code is not None, "the certificate is issued"
    ok(stack.graphql(VERIFY, {"code": code}))
    for caller in ("learner", "instructor"):
        ok(stack.graphql(USER_ATTEMPTS, {"u": ids["user"]}, token=ids[caller]))
    records = read_log(log)

    indexes = declared_indexes()
    request = [r for r in everyday if r["origin"] == "request" and r["command"] in POINT_READ_COMMANDS]
    assert {r["service"] for r in request} == {"courses", "assessments"}, "both services were exercised"
    assert {r["collection"] for r in request} >= {
        "courses",
        "enrollments",
        "learners",
        "attempts",
        "assessments",
    }
    not_by_id = [r for r in request if not all(is_point_read(f) for f in r["filters"])]
    assert not_by_id == [], f"every command of the everyday operations finds its document by _id: {not_by_id}"
    assert not [r for r in everyday if r["origin"] == "request" and r["command"] in ("aggregate", "count")]

    unserved = []
    for record in records:
        collection, command = record["collection"], record["command"]
        if command not in POINT_READ_COMMANDS | {"count", "aggregate", "distinct"}:
            continue  # inserts, index creation and the like
        for shape in record["filters"]:
            if not shape and (collection, command) in WHOLE_COLLECTION_READS:
                continue
            if (collection, command) in UNINDEXED_BACKGROUND and record["origin"] == "background":
                continue
            if not served_by_an_index(shape, record["sort"], indexes.get(collection, [["_id"]])):
                unserved.append((record["origin"], collection, command, shape, record["sort"]))
    assert unserved == [], f"every filtered query has a declared MongoDB index: {unserved}"
    kinds = {
        (r["collection"], r["command"]) for r in records if any(not is_point_read(f) for f in r["filters"])
    }
    assert ("attempts", "find") in kinds, "the attempt history's filtered query was checked too"


def test_the_checks_can_fail() -> None:
    """The two rules refuse what FerretDB and MongoDB would answer by reading every document."""
    indexes = declared_indexes()
    assert not is_point_read({"_id": "ObjectId", "version": "int"})
    assert not is_point_read({"user_id": "str"})
    assert not served_by_an_index({"user_id": "str", "course_id": "str"}, [], indexes["courses"])
    assert not served_by_an_index({"status": "str"}, ["created_at"], indexes["courses"])
    assert served_by_an_index({"user_id": "str", "course_id": "str"}, [], indexes["enrollments"])
    assert served_by_an_index(
        {
            "user_id": "str",
            "$or": [
                {"started_at": {"$lt": "datetime"}},
                {"started_at": "datetime", "_id": {"$lt": "ObjectId"}},
            ],
        },
        ["started_at", "_id"],
        indexes["attempts"],
    )
    assert not served_by_an_index({"processed_at": {"$lt": "datetime"}}, [], indexes["courses"])


def round_trips(records: list[dict[str, Any]]) -> int:
    """How many times MongoDB would be asked: the commands of one batch (FerretDB's lookups of a batch, or
    its read, check and write of one guarded update) are one question."""
    return len({record["batch"] for record in records if record["batch"] is not None}) + sum(
        1 for record in records if record["batch"] is None
    )


def reads_lesson_bodies(record: dict[str, Any]) -> bool:
    """Whether a command reads courses' lesson bodies: a find of the whole document, or of a projection
    naming `modules` (the log keeps the projection's fields, not their 0 or 1: the only projection that
    names the bodies is the one leaving them out)."""
    if record["collection"] != "courses" or record["command"] != "find":
        return False
    projection = record["projection"]
    return not projection or ("modules" in projection and "modules.lessons.content" not in projection)


def test_enrolling_and_completing_a_lesson_ask_the_store_little(logged: tuple[E2EStack, Path]) -> None:
    """Issue 16: enroll in at most 3 round trips (as MongoDB is asked), with no lesson body read;
    completeLesson reads the enrollment once and answers what it wrote, without reading it again, and takes
    the course from the catalog read model (issue 15: no course document is read)."""
    stack, log = logged
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2)
    token = stack.sign_in()["access_token"]

    start = len(read_log(log))
    enrolled = stack.rest("POST", f"/courses/{course['id']}/enroll", token=token)
    assert enrolled.status_code == 201, enrolled.text
    enroll = [r for r in read_log(log)[start:] if r["origin"] == "request" and r["service"] == "courses"]
    assert 1 <= round_trips(enroll) <= 3, enroll
    assert not [r for r in enroll if reads_lesson_bodies(r)], enroll

    lesson = course["modules"][0]["lessons"][0]["id"]
    start = len(read_log(log))
    done = ok(stack.graphql(COMPLETE_WITH_STATE, {"c": course["id"], "l": lesson}, token=token))
    assert done["completeLesson"]["enrollment"]["progress"] == 50.0
    complete = [r for r in read_log(log)[start:] if r["origin"] == "request" and r["service"] == "courses"]
    assert not [r for r in complete if r["collection"] == "courses"], complete
    on_enrollments = [r["command"] for r in complete if r["collection"] == "enrollments"]
    last_write = max(i for i, command in enumerate(on_enrollments) if command == "update")
    assert "find" not in on_enrollments[last_write + 1 :], f"what was written is not read again: {complete}"
    assert round_trips(complete) <= 2, complete  # the enrollment, the write (the course is in the catalog)
