"""The gradebook (issue 17) through the router and REST, on the real stores and Kafka: weighted grades equal
a hand computation (best and latest policies, a missing attempt), a submitted attempt reaches the course
grade within 2 s, who sees what (instructor, teaching assistant, learner, another course's instructor),
bad policies change nothing, the CSV streams every learner with formula cells escaped, and a page costs
the same few store queries whatever its size.

The extension case (a Deadline document with a learner's own due time) is in
tests/integration/test_gradebook_service.py: the mutations that set deadlines are another part's."""

import csv
import io
import time
from typing import Any

import pytest

from tests.e2e.conftest import E2EStack
from tests.e2e.test_assessments_flow import CREATE, QUESTIONS, SUBMIT, _answers
from tests.e2e.test_courses_catalog_queries import total
from tests.e2e.test_courses_rest import envelope_error, ok_data

# The module's course waits for the courses consumer group, which a new stack starts at the beginning of
# assessment.events: on a Kafka shared by many stacks that can take minutes (in CI, a fresh Kafka, seconds).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
CELLS = "courseGrade learner { id name } cells { assessment { id title } score status attempts }"
GRADEBOOK = f"""query($c: ID!, $first: Int!, $after: String, $sort: GradebookSort!) {{
  course(id: $c) {{ gradebook(first: $first, after: $after, sort: $sort) {{
    assessments {{ id title scorePolicy weight }} totalCount
    edges {{ cursor node {{ {CELLS} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"""
VIEWER_GRADES = f"query($c: ID!) {{ course(id: $c) {{ viewerGrades {{ {CELLS} }} }} }}"
SET_POLICY = """mutation($c: ID!, $input: GradingPolicyInput!) {
  setGradingPolicy(courseId: $c, input: $input) {
    policy { assessments { id weight } } errors { code field message } } }"""
EXCUSE = """mutation($c: ID!, $u: ID!, $a: ID!, $e: Boolean!) {
  excuse(courseId: $c, userId: $u, assessmentId: $a, excused: $e) {
    grades { courseGrade cells { status } } errors { code field } } }"""


def graphql(stack: E2EStack, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.graphql(query, variables, token=token).json()
    return body


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


def create_assessment(stack: E2EStack, token: str, course_id: str, title: str, policy: str) -> dict[str, Any]:
    created = ok(
        graphql(
            stack,
            CREATE,
            {"course": course_id, "input": {"title": title, "questions": QUESTIONS, "scorePolicy": policy}},
            token,
        )
    )
    assert created["createAssessment"]["errors"] == []
    assessment: dict[str, Any] = created["createAssessment"]["assessment"]
    return assessment


def submit(stack: E2EStack, token: str, assessment: dict[str, Any], *, right: bool) -> None:
    answers = _answers(assessment["questions"], right=right)
    submitted = ok(graphql(stack, SUBMIT, {"a": assessment["id"], "answers": answers}, token))
    assert submitted["submitAnswers"]["errors"] == [], submitted


def gradebook(stack: E2EStack, token: str, course_id: str, **variables: Any) -> dict[str, Any]:
    asked = {"c": course_id, "first": 20, "after": None, "sort": "LEARNER", **variables}
    found: dict[str, Any] = ok(graphql(stack, GRADEBOOK, asked, token))["course"]["gradebook"]
    return found


def until(check: Any, within: float = 30, every: float = 0.1) -> Any:
    """Ask `check` until it answers something truthy; that answer."""
    deadline = time.monotonic() + within
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            assert answer, "gave up waiting"
            return answer
        time.sleep(every)


def grades_by_learner(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {edge["node"]["learner"]["id"]: edge["node"] for edge in page["edges"]}


@pytest.fixture(scope="module")
def course(stack: E2EStack) -> dict[str, Any]:
    """A course with a quiz (best attempt counts) and an exam (latest counts), and three learners:
    Ada took both twice, Bo the quiz only, Cy nothing (his name a spreadsheet formula)."""
    instructor = stack.sign_in_as("instructor", name="Grader")
    token = instructor["access_token"]
    created = stack.create_course(token, lessons=1, title="Gradebook course")
    quiz = create_assessment(stack, token, created["id"], "Quiz", "BEST")
    exam = create_assessment(stack, token, created["id"], "Exam", "LATEST")
    ada, bo = stack.sign_in(name="Ada"), stack.sign_in(name="Bo")
    cy = stack.sign_in(name='=HYPERLINK("http://evil.example","Cy")')
    for learner in (ada, bo, cy):
        ok(graphql(stack, ENROLL, {"c": created["id"]}, learner["access_token"]))
    # Ada: quiz 0 then 100 (best: 100); exam 100 then 0 (latest: 0). Bo: quiz 100.
    submit(stack, ada["access_token"], quiz, right=False)
    submit(stack, ada["access_token"], quiz, right=True)
    submit(stack, ada["access_token"], exam, right=True)
    submit(stack, ada["access_token"], exam, right=False)
    submit(stack, bo["access_token"], quiz, right=True)
    # The courses service learns the columns from assessment.events. A new stack's consumer group reads
    # the topic from its start, which on a shared Kafka holds every earlier stack's events: wait for it.
    until(lambda: len(gradebook(stack, token, created["id"])["assessments"]) == 2, within=300, every=0.5)
    return {
        "id": created["id"],
        "instructor": instructor,
        "quiz": quiz,
        "exam": exam,
        "ada": ada,
        "bo": bo,
        "cy": cy,
    }


def test_weighted_grades_equal_a_hand_computation(stack: E2EStack, course: dict[str, Any]) -> None:
    token = course["instructor"]["access_token"]
    quiz, exam = course["quiz"]["id"], course["exam"]["id"]
    policy = ok(
        graphql(
            stack,
            SET_POLICY,
            {"c": course["id"], "input": {"weights": [{"assessmentId": exam, "weight": 3}]}},
            token,
        )
    )["setGradingPolicy"]
    assert policy["errors"] == [] and policy["policy"]["assessments"] == [
        {"id": quiz, "weight": 1},  # not named: the default weight
        {"id": exam, "weight": 3},
    ]
    ada, bo, cy = (course[name]["user"]["id"] for name in ("ada", "bo", "cy"))

    def settled() -> dict[str, dict[str, Any]] | None:
        rows = grades_by_learner(gradebook(stack, token, course["id"]))
        return rows if rows[ada]["cells"][1]["attempts"] == 2 and rows[bo]["cells"][0]["attempts"] else None

    rows = until(settled)
    # Ada: (1 * 100 + 3 * 0) / 4 = 25. Bo: the exam is missing with no due time (not counted): 100.
    assert rows[ada]["courseGrade"] == 25
    assert [(c["score"], c["status"]) for c in rows[ada]["cells"]] == [(100, "GRADED"), (0, "GRADED")]
    assert rows[bo]["courseGrade"] == 100
    assert [(c["score"], c["status"]) for c in rows[bo]["cells"]] == [(100, "GRADED"), (None, "MISSING")]
    assert rows[cy]["courseGrade"] is None
    assert [c["status"] for c in rows[cy]["cells"]] == ["MISSING", "MISSING"]

    # Sorted by grade (descending), a page of one at a time; no grade comes last.
    order, after = [], None
    while True:
        page = gradebook(stack, token, course["id"], first=1, after=after, sort="GRADE_DESC")
        order += [edge["node"]["learner"]["id"] for edge in page["edges"]]
        assert page["totalCount"] == 3
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert order == [bo, ada, cy]

    # Excused, Ada's exam leaves her average: 100.
    excused = ok(graphql(stack, EXCUSE, {"c": course["id"], "u": ada, "a": exam, "e": True}, token))["excuse"]
    assert excused["errors"] == [] and excused["grades"]["courseGrade"] == 100
    assert excused["grades"]["cells"][1]["status"] == "EXCUSED"
    ok(graphql(stack, EXCUSE, {"c": course["id"], "u": ada, "a": exam, "e": False}, token))


def test_a_submitted_attempt_changes_the_course_grade_within_two_seconds(
    stack: E2EStack, course: dict[str, Any]
) -> None:
    bo = course["bo"]
    exam = course["exam"]
    before = ok(graphql(stack, VIEWER_GRADES, {"c": course["id"]}, bo["access_token"]))["course"][
        "viewerGrades"
    ]
    assert before["cells"][1]["status"] == "MISSING"
    submit(stack, bo["access_token"], exam, right=False)
    submitted = time.monotonic()

    def changed() -> dict[str, Any] | None:
        body = ok(graphql(stack, VIEWER_GRADES, {"c": course["id"]}, bo["access_token"]))
        grades: dict[str, Any] = body["course"]["viewerGrades"]
        return grades if grades["cells"][1]["status"] == "GRADED" else None

    after = until(changed, within=10, every=0.05)
    elapsed = time.monotonic() - submitted
    assert elapsed < 2, f"the grade changed after {elapsed:.2f} s"
    # Bo's exam: 0, weighed 3 (the policy, if the test above set it) or 1: his grade fell from 100.
    assert after["courseGrade"] < 100 and after["cells"][1]["score"] == 0


def test_who_sees_the_gradebook(stack: E2EStack, course: dict[str, Any]) -> None:
    course_id, ada = course["id"], course["ada"]
    # A learner: their own grades only, never the table (GraphQL, REST JSON, REST CSV).
    mine = ok(graphql(stack, VIEWER_GRADES, {"c": course_id}, ada["access_token"]))["course"]["viewerGrades"]
    assert mine["learner"]["id"] == ada["user"]["id"]
    refused = graphql(stack, GRADEBOOK, {"c": course_id, "first": 5, "sort": "LEARNER"}, ada["access_token"])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"]["course"]["gradebook"] is None
    for path in (f"/courses/{course_id}/gradebook", f"/courses/{course_id}/gradebook.csv"):
        assert envelope_error(stack.rest("GET", path, token=ada["access_token"])) == (403, "FORBIDDEN")
    # Anonymous: told to sign in.
    anonymous = stack.rest("GET", f"/courses/{course_id}/gradebook")
    assert envelope_error(anonymous) == (401, "UNAUTHENTICATED")
    # Another course's instructor: refused everything.
    stranger = stack.sign_in_as("instructor")["access_token"]
    for path in (f"/courses/{course_id}/gradebook", f"/courses/{course_id}/gradebook.csv"):
        assert envelope_error(stack.rest("GET", path, token=stranger)) == (403, "FORBIDDEN")
    weights = {"weights": [{"assessment_id": course["quiz"]["id"], "weight": 5}]}
    put = stack.rest("PUT", f"/courses/{course_id}/grading-policy", token=stranger, json=weights)
    assert envelope_error(put) == (403, "FORBIDDEN")
    # Not a learner of the course: no grades to see.
    assert ok(graphql(stack, VIEWER_GRADES, {"c": course_id}, stranger))["course"]["viewerGrades"] is None

    # A teaching assistant, made one by the course's instructor through the roster's endpoint.
    assistant = stack.sign_in(name="Assistant")
    role = stack.rest(
        "PUT",
        f"/courses/{course_id}/roster/{assistant['user']['id']}/role",
        token=course["instructor"]["access_token"],
        json={"role": "teaching_assistant"},
    )
    assert role.status_code == 200, role.text

    def sees() -> dict[str, Any] | None:
        body = graphql(
            stack, GRADEBOOK, {"c": course_id, "first": 5, "sort": "LEARNER"}, assistant["access_token"]
        )
        return None if body.get("errors") else body["data"]["course"]["gradebook"]

    assert len(until(sees)["edges"]) == 3
    table = ok_data(stack.rest("GET", f"/courses/{course_id}/gradebook", token=assistant["access_token"]))
    assert len(table["items"]) == 3
    # ... but cannot set the grading policy.
    put = stack.rest(
        "PUT", f"/courses/{course_id}/grading-policy", token=assistant["access_token"], json=weights
    )
    assert envelope_error(put) == (403, "FORBIDDEN")


def test_bad_policies_are_refused_and_change_nothing(stack: E2EStack, course: dict[str, Any]) -> None:
    token, course_id = course["instructor"]["access_token"], course["id"]
    until(lambda: len(gradebook(stack, token, course_id)["assessments"]) == 2)
    before = gradebook(stack, token, course_id)["assessments"]
    path = f"/courses/{course_id}/grading-policy"
    negative = {"weights": [{"assessment_id": course["quiz"]["id"], "weight": -1}]}
    unknown = {"weights": [{"assessment_id": "0" * 24, "weight": 2}]}
    assert envelope_error(stack.rest("PUT", path, token=token, json=negative)) == (400, "BAD_USER_INPUT")
    refused = stack.rest("PUT", path, token=token, json=unknown)
    assert envelope_error(refused) == (400, "BAD_USER_INPUT")
    assert "weights.0.assessment_id" in refused.json()["error"]["details"]["fields"]
    through_graph = ok(
        graphql(
            stack,
            SET_POLICY,
            {"c": course_id, "input": {"weights": [{"assessmentId": course["quiz"]["id"], "weight": -2}]}},
            token,
        )
    )["setGradingPolicy"]
    assert through_graph["policy"] is None
    assert [(e["code"], e["field"]) for e in through_graph["errors"]] == [
        ("OUT_OF_RANGE", "weights.0.weight")
    ]
    assert gradebook(stack, token, course_id)["assessments"] == before
    # A good one through REST answers the policy.
    good = {"weights": [{"assessment_id": course["exam"]["id"], "weight": 3}]}
    answered = ok_data(stack.rest("PUT", path, token=token, json=good))
    assert [a["weight"] for a in answered["assessments"]] == [1, 3]


def test_the_csv_has_every_learner_and_escapes_formulas(stack: E2EStack, course: dict[str, Any]) -> None:
    token, course_id = course["instructor"]["access_token"], course["id"]
    until(lambda: len(gradebook(stack, token, course_id)["assessments"]) == 2)
    response = stack.rest("GET", f"/courses/{course_id}/gradebook.csv", token=token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "learner_id",
        "learner_name",
        "course_grade",
        "Quiz (score)",
        "Quiz (status)",
        "Exam (score)",
        "Exam (status)",
    ]
    by_id = {row[0]: row for row in rows[1:]}
    assert set(by_id) == {course[name]["user"]["id"] for name in ("ada", "bo", "cy")}
    cy = by_id[course["cy"]["user"]["id"]]
    # The formula is text: a leading quote, as OWASP's CSV injection guidance says.
    assert cy[1] == """'=HYPERLINK("http://evil.example","Cy")"""
    assert cy[2:] == ["", "", "missing", "", "missing"]
    json_page = ok_data(stack.rest("GET", f"/courses/{course_id}/gradebook", token=token))
    grades = {item["learner_id"]: item["course_grade"] for item in json_page["items"]}
    for learner_id, row in by_id.items():
        assert (float(row[2]) if row[2] else None) == grades[learner_id]


def course_queries(stack: E2EStack) -> float:
    request = {"service": "courses", "store": "mongodb", "origin": "request"}
    return total(stack.metrics("courses"), "coursegraph_store_queries_total", **request)


def test_a_gradebook_page_costs_the_same_few_queries_whatever_its_size(
    stack: E2EStack, course: dict[str, Any]
) -> None:
    """No N+1: a page of 1 learner and a page of 3 cost the same store queries (roster, grading, then a
    batch each of enrollments, grade records and deadlines), in either order."""
    token, course_id = course["instructor"]["access_token"], course["id"]
    costs = {}
    for sort in ("LEARNER", "GRADE_DESC"):
        for first in (1, 3):
            gradebook(stack, token, course_id, first=first, sort=sort)  # warm: the roster is complete
            before = course_queries(stack)
            page = gradebook(stack, token, course_id, first=first, sort=sort)
            costs[(sort, first)] = course_queries(stack) - before
            assert len(page["edges"]) == first
    # totalCount (asked here) reads the roster and the enrollments once more.
    assert set(costs.values()) == {costs[("LEARNER", 1)]} and costs[("LEARNER", 1)] <= 7, costs
