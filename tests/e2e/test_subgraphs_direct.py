"""Each subgraph called directly is never more permissive than the graph (issue 16, item 3).

A subgraph's port answers whoever reaches it, with the same bearer token the router forwards (every
subgraph verifies it again: coursegraph/security.py). So for each subgraph, a representative set of
operations is asked as each of four callers (the course's learner, a stranger who is signed in but not
enrolled, the course's instructor, and nobody): once through the router, once on the subgraph's own port.
Root fields are asked with the same document both ways. A field of an entity that another subgraph
extends is asked through a root the graph reaches it by, and directly through `_entities`, the federation
entry point the router itself uses. Both answers must be the same: the same data and the same error
codes (nothing shown is nothing, however it is spelled: a parent the router hid, an empty list). A
person's private fields are reached the way anyone can reach that person: as the instructor of a
published course (whose learner and a stranger are others to them).

Assessments, attempts and media are entities no other subgraph refers to: the router never asks for them
by `_entities`, so that door is open to direct callers only. What it shows is compared with what the graph
shows the same caller by its own way to them (a root field, or a list); their error codes are not (one is
refused by id, the other not listed).
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2EStack
from tests.e2e.test_assessments_flow import ENROLL, SUBMIT, _answers, _create_final_exam
from tests.e2e.test_media import create_upload
from tests.support.stack import SUBGRAPHS

pytestmark = pytest.mark.e2e

CALLERS = ("learner", "stranger", "instructor", "anonymous")


@dataclass
class World:
    """The instructor's published course with its learner and an assessment, their draft course with an
    assessment of its own, and their pending upload; the instructor is also enrolled in another
    instructor's course and attempted its assessment (their enrollments, attempts and emails are the
    private fields the others ask for)."""

    stack: E2EStack
    tokens: dict[str, str | None]
    learner_id: str
    instructor_id: str
    published: dict[str, Any]
    draft: dict[str, Any]
    published_assessment: str
    draft_assessment: str
    attempt: str
    media: str


def _data(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture(scope="module")
def world(stack: E2EStack) -> World:
    instructor = stack.sign_in_as("instructor", name="Direct Instructor")
    colleague = stack.sign_in_as("instructor", name="Direct Colleague")
    learner = stack.sign_in(name="Direct Learner")
    stranger = stack.sign_in(name="Direct Stranger")
    teacher = instructor["access_token"]
    published = stack.create_course(teacher, lessons=2, title=f"Direct {uuid.uuid4().hex[:6]}")
    draft = stack.create_course(teacher, lessons=1, title=f"Draft {uuid.uuid4().hex[:6]}", publish=False)
    published_assessment = _create_final_exam(stack, teacher, published["id"])
    draft_assessment = _create_final_exam(stack, teacher, draft["id"])
    media = create_upload(stack, teacher, "direct.png", "image/png", 1024)["media"]["id"]
    _data(stack.graphql(ENROLL, {"c": published["id"]}, token=learner["access_token"]))

    other = stack.create_course(colleague["access_token"], lessons=1, title=f"Other {uuid.uuid4().hex[:6]}")
    exam = _create_final_exam(stack, colleague["access_token"], other["id"])
    _data(stack.graphql(ENROLL, {"c": other["id"]}, token=teacher))
    answers = _answers(exam["questions"], right=False)
    submitted = _data(stack.graphql(SUBMIT, {"a": exam["id"], "answers": answers}, token=teacher))
    attempt = submitted["submitAnswers"]["attempt"]
    assert attempt is not None, submitted

    # The instructor's four emails (welcome, role changed, enrollment, result) are in their history before
    # anyone compares it: a history still growing would differ between two calls for the wrong reason.
    history = "{ me { notifications(first: 10) { edges { node { type } } } } }"
    deadline = time.monotonic() + 60
    while len(emails := _data(stack.graphql(history, token=teacher))["me"]["notifications"]["edges"]) < 4:
        assert time.monotonic() < deadline, f"the instructor's emails so far: {emails}"
        time.sleep(0.3)

    return World(
        stack=stack,
        tokens={
            "learner": learner["access_token"],
            "stranger": stranger["access_token"],
            "instructor": teacher,
            "anonymous": None,
        },
        learner_id=learner["user"]["id"],
        instructor_id=instructor["user"]["id"],
        published=published,
        draft=draft,
        published_assessment=published_assessment["id"],
        draft_assessment=draft_assessment["id"],
        attempt=attempt["id"],
        media=media,
    )


# --- the questions ---------------------------------------------------------------------------------------

Extract = Callable[[World, Any], Any]


def at(*path: str | int) -> Extract:
    """The value at `path` in a response's data; None where a step is null (an error nulled it)."""

    def extract(_: World, data: Any) -> Any:
        for step in path:
            if data is None:
                return None
            data = data[step]
        return data

    return extract


def listed(identifier: Callable[[World], str], *path: str) -> Extract:
    """The node with this id in the connection at `path`; None when it is not listed (or the list is
    refused)."""

    def extract(world: World, data: Any) -> Any:
        edges = (at(*path)(world, data) or {}).get("edges", [])
        return next((e["node"] for e in edges if e["node"]["id"] == identifier(world)), None)

    return extract


WHOLE: Extract = at()  # the whole answer (a root field asked the same way both times)


@dataclass(frozen=True)
class Case:
    """One question asked through the router and of `subgraph` directly, by every caller."""

    name: str
    subgraph: str
    router: str  # the document sent to the router
    variables: Callable[[World], dict[str, Any]]  # for both documents (each ignores what it does not declare)
    direct: str | None = None  # the document sent to the subgraph; None: the router's
    router_answer: Extract = WHOLE
    direct_answer: Extract = WHOLE
    compare_codes: bool = True
    # Who sees something through the router (None: nobody here): the question has two sides to compare.
    seen_by: str | None = "instructor"


def entity(typename: str, selection: str) -> str:
    """A document asking `_entities` (the subgraph's federation entry point) for `selection`."""
    return (
        f"query($r: [_Any!]!) {{ _entities(representations: $r) {{ ... on {typename} {{ {selection} }} }} }}"
    )


def instructor_field(name: str, subgraph: str, selection: str) -> Case:
    """A field another subgraph adds to the instructor's User, reached as the published course's."""
    return Case(
        f"{subgraph}: the instructor's {name} (User entity)",
        subgraph,
        f"query($id: ID!) {{ course(id: $id) {{ instructor {{ {selection} }} }} }}",
        lambda w: {"id": w.published["id"], "r": [{"__typename": "User", "id": w.instructor_id}]},
        direct=entity("User", selection),
        router_answer=at("course", "instructor", name),
        direct_answer=at("_entities", 0, name),
    )


ATTEMPTS = "assessmentAttempts(first: 10) { edges { node { id number status result { score passed } } } }"

CASES = [
    # users: who sees what of a person
    Case(
        "users: user(id) with its private fields",
        "users",
        "query($id: ID!) { user(id: $id) { id name email provider role roles { role permissions } } }",
        lambda w: {"id": w.learner_id},
        seen_by="learner",
    ),
    Case("users: me", "users", "{ me { id name email provider role } }", lambda w: {}),
    Case(
        "users: a course's instructor (User entity)",
        "users",
        "query($id: ID!) { course(id: $id) { instructor { id name email provider role } } }",
        lambda w: {"id": w.published["id"], "r": [{"__typename": "User", "id": w.instructor_id}]},
        direct=entity("User", "id name email provider role"),
        router_answer=at("course", "instructor"),
        direct_answer=at("_entities", 0),
    ),
    Case(
        "users: updateUser making the learner an admin",
        "users",
        """mutation($id: ID!) { updateUser(id: $id, input: {role: ADMIN}) {
             user { id role } errors { code field } } }""",
        lambda w: {"id": w.learner_id},
        seen_by=None,
    ),
    # courses: drafts, lesson bodies, enrollments of others
    Case(
        "courses: course(id) of a draft",
        "courses",
        "query($id: ID!) { course(id: $id) { id title status } }",
        lambda w: {"id": w.draft["id"]},
    ),
    Case(
        "courses: a draft (Course entity)",
        "courses",
        "query($id: ID!) { course(id: $id) { id title status modules { lessons { title content } } } }",
        lambda w: {"id": w.draft["id"], "r": [{"__typename": "Course", "id": w.draft["id"]}]},
        direct=entity("Course", "id title status modules { lessons { title content } }"),
        router_answer=at("course"),
        direct_answer=at("_entities", 0),
    ),
    Case(
        "courses: lesson bodies and the viewer's enrollment (Course entity)",
        "courses",
        """query($id: ID!) { course(id: $id) { id status
             viewerEnrollment { status progress } modules { lessons { title content } } } }""",
        lambda w: {"id": w.published["id"], "r": [{"__typename": "Course", "id": w.published["id"]}]},
        direct=entity(
            "Course", "id status viewerEnrollment { status progress } modules { lessons { title content } }"
        ),
        router_answer=at("course"),
        direct_answer=at("_entities", 0),
        seen_by="learner",
    ),
    Case(
        "courses: the catalog of one instructor",
        "courses",
        """query($id: ID!) { courses(first: 50, filter: {instructorId: $id}) {
             totalCount edges { node { id status } } } }""",
        lambda w: {"id": w.instructor_id},
    ),
    instructor_field(
        "enrollments",
        "courses",
        "enrollments(first: 10) { totalCount edges { node { progress status course { id } } } }",
    ),
    Case(
        "courses: updateCourse of a draft (to its own title)",
        "courses",
        """mutation($id: ID!, $title: String!) { updateCourse(id: $id, input: {title: $title}) {
             course { id title } errors { code field } } }""",
        lambda w: {"id": w.draft["id"], "title": w.draft["title"]},
    ),
    # assessments: a draft course's assessments, questions, attempts
    Case(
        "assessments: assessment(id) of a draft course",
        "assessments",
        "query($id: ID!) { assessment(id: $id) { id title instructions questions { id prompt } } }",
        lambda w: {"id": w.draft_assessment},
    ),
    Case(
        "assessments: assessment(id) of a published course",
        "assessments",
        "query($id: ID!) { assessment(id: $id) { id title questions { id prompt } } }",
        lambda w: {"id": w.published_assessment},
        seen_by="learner",
    ),
    Case(
        "assessments: Course.assessments of a draft course",
        "assessments",
        "query($id: ID!) { course(id: $id) { assessments { id title questions { id } } } }",
        lambda w: {"id": w.draft["id"], "r": [{"__typename": "Course", "id": w.draft["id"]}]},
        direct=entity("Course", "assessments { id title questions { id } }"),
        router_answer=at("course", "assessments"),
        direct_answer=at("_entities", 0, "assessments"),
    ),
    Case(
        "assessments: Course.assessments of a published course",
        "assessments",
        "query($id: ID!) { course(id: $id) { assessments { id title questions { id } } } }",
        lambda w: {"id": w.published["id"], "r": [{"__typename": "Course", "id": w.published["id"]}]},
        direct=entity("Course", "assessments { id title questions { id } }"),
        router_answer=at("course", "assessments"),
        direct_answer=at("_entities", 0, "assessments"),
        seen_by="learner",
    ),
    instructor_field("assessmentAttempts", "assessments", ATTEMPTS),
    Case(
        "assessments: a draft course's assessment (Assessment entity)",
        "assessments",
        "query($id: ID!) { assessment(id: $id) { id title questions { id } } }",
        lambda w: {"id": w.draft_assessment, "r": [{"__typename": "Assessment", "id": w.draft_assessment}]},
        direct=entity("Assessment", "id title questions { id }"),
        router_answer=at("assessment"),
        direct_answer=at("_entities", 0),
        compare_codes=False,
    ),
    Case(
        "assessments: the instructor's attempt (Attempt entity)",
        "assessments",
        f"query($id: ID!) {{ course(id: $id) {{ instructor {{ {ATTEMPTS} }} }} }}",
        lambda w: {"id": w.published["id"], "r": [{"__typename": "Attempt", "id": w.attempt}]},
        direct=entity("Attempt", "id number status result { score passed }"),
        router_answer=listed(lambda w: w.attempt, "course", "instructor", "assessmentAttempts"),
        direct_answer=at("_entities", 0),
        compare_codes=False,
    ),
    Case(
        "assessments: updateAssessment of a draft course's (to its own title)",
        "assessments",
        """mutation($id: ID!) { updateAssessment(id: $id, input: {title: "Final exam"}) {
             assessment { id title } errors { code field } } }""",
        lambda w: {"id": w.draft_assessment},
    ),
    # media: someone else's upload
    Case(
        "media: media(id) of the instructor's upload",
        "media",
        "query($id: ID!) { media(id: $id) { id status filename size owner { id } } }",
        lambda w: {"id": w.media},
    ),
    Case(
        "media: mediaUrl of a pending upload",
        "media",
        "query($id: ID!) { mediaUrl(id: $id) { url } }",
        lambda w: {"id": w.media},
        seen_by=None,
    ),
    Case(
        "media: the instructor's upload (Media entity)",
        "media",
        "query($id: ID!) { media(id: $id) { id status filename size } }",
        lambda w: {"id": w.media, "r": [{"__typename": "Media", "id": w.media}]},
        direct=entity("Media", "id status filename size"),
        router_answer=at("media"),
        direct_answer=at("_entities", 0),
        compare_codes=False,
    ),
    Case(
        "media: completeUpload of a file never uploaded",
        "media",
        "mutation($id: ID!) { completeUpload(id: $id) { media { id status } errors { code field } } }",
        lambda w: {"id": w.media},
        seen_by=None,
    ),
    # notifications: a learner's history and preferences
    instructor_field(
        "notifications", "notifications", "notifications(first: 10) { edges { node { type recipient } } }"
    ),
    instructor_field(
        "notificationPreferences", "notifications", "notificationPreferences { category subscribed }"
    ),
    Case(
        "notifications: updateNotificationPreferences of the learner (to what they are)",
        "notifications",
        """mutation($id: ID!) { updateNotificationPreferences(userId: $id,
             preferences: [{category: COURSES, subscribed: true}]) {
             preferences { category subscribed } errors { code field } } }""",
        lambda w: {"id": w.learner_id},
        seen_by="learner",
    ),
    # auth: nothing of its own depends on the caller; a refused refresh is refused the same way
    Case(
        "auth: authProviders",
        "auth",
        "{ authProviders { googleClientId githubClientId devSignIn } }",
        lambda w: {},
        seen_by="anonymous",
    ),
    Case(
        "auth: refreshToken with an unknown token",
        "auth",
        'mutation { refreshToken(refreshToken: "not-a-token") { accessToken } }',
        lambda w: {},
        seen_by=None,
    ),
]


def codes(body: dict[str, Any]) -> list[str]:
    return sorted(str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or [])


def shown(answer: Any) -> Any:
    """Nothing is nothing, however it is spelled: the router's null parent (a draft course it hid) and a
    subgraph's empty list for that course show the caller the same."""
    return None if answer in (None, [], {}) else answer


def test_every_subgraph_is_asked() -> None:
    assert {case.subgraph for case in CASES} == set(SUBGRAPHS)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_subgraph_called_directly_answers_as_the_graph_does(world: World, case: Case) -> None:
    variables, url = case.variables(world), world.stack.subgraph_urls[case.subgraph]
    differences = []
    for caller in CALLERS:
        token = world.tokens[caller]
        through = world.stack.graphql(case.router, variables, token=token).json()
        direct = world.stack.graphql(case.direct or case.router, variables, token=token, url=url).json()
        graph = (
            shown(case.router_answer(world, through.get("data"))),
            codes(through) if case.compare_codes else [],
        )
        alone = (
            shown(case.direct_answer(world, direct.get("data"))),
            codes(direct) if case.compare_codes else [],
        )
        if graph != alone:
            differences.append(f"{caller}: through the router {graph}, directly {alone}")
        if caller == case.seen_by:
            assert graph[0] is not None, f"{case.name}: {caller} sees nothing: {through}"
    assert differences == [], f"{case.name}: " + "; ".join(differences)
