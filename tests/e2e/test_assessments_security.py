"""Assessments as an attacker sees them, through the router, the assessments subgraph and REST.

No key leaks: before the reveal policy allows, a learner gets no answer key by any path (aliases,
fragments, `__typename`, the courses and users entities, attempts, mutation payloads, `_entities`, REST).
Only the course's instructor and admins author; only enrolled learners attempt; attempts are seen only by
their learner, the course's instructor and admins. Bad input is refused and records nothing.

Every assessment carries canaries (feedback texts, an accepted answer, a numeric answer) that must never
appear in a learner's response before reveal, and every key-bearing field must be answered with null.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

Document = dict[str, Any]

# --- GraphQL documents ----------------------------------------------------------------------------------

KEY = """correctOptionIds correctBool acceptedAnswers caseSensitive numericAnswer tolerance correctOrder
  pairs { leftId rightId } feedback optionFeedback { id text }"""
QUESTION = f"id type prompt choices {{ id text }} matchPrompts {{ id text }} key {{ {KEY} }}"
RESULT = f"""attemptId attemptNumber score passed revealed
  questions {{ questionId outcome feedback correctAnswer {{ {KEY} }} }}"""
ATTEMPT = f"id number status questions {{ {QUESTION} }} result {{ {RESULT} }}"
# In `_entities`, next to `Assessment.questions` (nullable), `Attempt.questions` needs its own name.
ATTEMPT_ENTITY = f"id number status attemptQuestions: questions {{ {QUESTION} }} result {{ {RESULT} }}"

CREATE = f"""
mutation($course: ID!, $input: AssessmentInput!) {{
  createAssessment(courseId: $course, input: $input) {{
    assessment {{ id revealPolicy questions {{ {QUESTION} }} }}
    errors {{ code field message }}
  }}
}}"""
UPDATE = """
mutation($id: ID!, $input: AssessmentInput!) {
  updateAssessment(id: $id, input: $input) {
    assessment { id title revealPolicy availableUntil }
    errors { code field message }
  }
}"""
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } errors { code message } } }"
START = f"""
mutation($a: ID!) {{
  startAttempt(assessmentId: $a) {{ attempt {{ {ATTEMPT} }} errors {{ code field }} }}
}}"""
SAVE = f"""
mutation($t: ID!, $answers: [AnswerInput!]!) {{
  saveAnswers(attemptId: $t, answers: $answers) {{ attempt {{ {ATTEMPT} }} errors {{ code field }} }}
}}"""
SUBMIT = f"""
mutation($a: ID!, $answers: [AnswerInput!]!) {{
  submitAnswers(assessmentId: $a, answers: $answers) {{ attempt {{ {ATTEMPT} }} errors {{ code field }} }}
}}"""
RESULT_QUERY = f"query($a: ID!) {{ assessmentResult(id: $a) {{ {RESULT} }} }}"
USER_ATTEMPTS = """
query($u: ID!) { user(id: $u) { id assessmentAttempts { edges { node { id assessment { id } } } } } }"""

# Answered by the assessments subgraph itself (not through the router): the federation entry point.
ENTITIES = f"""
query($r: [_Any!]!) {{
  _entities(representations: $r) {{
    __typename
    ... on Assessment {{ id questions {{ {QUESTION} }} viewerAttempts {{ {ATTEMPT} }} }}
    ... on Course {{ id assessments {{ id questions {{ {QUESTION} }} }} }}
    ... on Attempt {{ {ATTEMPT_ENTITY} }}
    ... on User {{ id assessmentAttempts {{ edges {{ node {{ {ATTEMPT} }} }} }} }}
  }}
}}"""

# --- an assessment full of secrets ----------------------------------------------------------------------

CANARY = "kx7q"
CANARIES = (f"FEEDBACK-{CANARY}", f"ACCEPTED-{CANARY}", "271828.1828")
ORDER_KEY = ["item-d", "item-c", "item-b", "item-a"]  # the answer; its ids sort the other way round
LEFT_IDS = ["left-1", "left-2", "left-3", "left-4"]


def questions_input() -> list[dict[str, Any]]:
    """Every question type, with feedback and keys a learner must not see before reveal."""
    return [
        {
            "type": "SINGLE_CHOICE",
            "prompt": "Capital of Burkina Faso?",
            "feedback": f"Question FEEDBACK-{CANARY}",
            "options": [
                {"id": "opt-bamako", "text": "Bamako"},
                {
                    "id": "opt-ouaga",
                    "text": "Ouagadougou",
                    "correct": True,
                    "feedback": f"Option FEEDBACK-{CANARY}",
                },
                {"id": "opt-niamey", "text": "Niamey"},
            ],
        },
        {
            "type": "MULTIPLE_CHOICE",
            "prompt": "Which are prime?",
            "options": [
                {"id": "p2", "text": "2", "correct": True},
                {"id": "p3", "text": "3", "correct": True},
                {"id": "p9", "text": "9"},
            ],
        },
        {"type": "TRUE_FALSE", "prompt": "Water boils at 100 °C at sea level.", "correctBool": True},
        {"type": "SHORT_TEXT", "prompt": "The password?", "acceptedAnswers": [f"ACCEPTED-{CANARY}"]},
        {"type": "NUMERIC", "prompt": "e times 100000?", "numericAnswer": 271828.1828, "tolerance": 0.01},
        {
            "type": "ORDERING",
            "prompt": "Smallest first.",
            "options": [{"id": item, "text": str(n)} for n, item in enumerate(ORDER_KEY, start=1)],
        },
        {
            "type": "MATCHING",
            "prompt": "Match the capitals.",
            "pairs": [
                {"id": left, "prompt": country, "match": city}
                for left, (country, city) in zip(
                    LEFT_IDS,
                    [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid")],
                    strict=True,
                )
            ],
        },
    ]


def answers_from_key(questions: list[dict[str, Any]], *, right: bool) -> list[dict[str, Any]]:
    """All right (from the manager's view of the keys) or all wrong answers, one per question."""
    answers: list[dict[str, Any]] = []
    for question in questions:
        key, kind, qid = question["key"], question["type"], question["id"]
        choice_ids = [choice["id"] for choice in question["choices"]]
        match kind:
            case "SINGLE_CHOICE" | "MULTIPLE_CHOICE":
                correct = key["correctOptionIds"]
                wrong = [i for i in choice_ids if i not in correct][:1]
                answers.append({"questionId": qid, "optionIds": correct if right else wrong})
            case "TRUE_FALSE":
                answers.append({"questionId": qid, "value": key["correctBool"] is right})
            case "SHORT_TEXT":
                answers.append({"questionId": qid, "text": key["acceptedAnswers"][0] if right else "no idea"})
            case "NUMERIC":
                answers.append({"questionId": qid, "number": key["numericAnswer"] + (0 if right else 1)})
            case "ORDERING":
                order = key["correctOrder"]
                answers.append({"questionId": qid, "orderedIds": order if right else order[1:] + order[:1]})
            case "MATCHING":
                pairs = [(p["leftId"], p["rightId"]) for p in key["pairs"]]
                rights = [r for _, r in pairs]
                if not right:
                    rights = rights[1:] + rights[:1]
                answers.append(
                    {
                        "questionId": qid,
                        "pairs": [
                            {"leftId": left, "rightId": r} for (left, _), r in zip(pairs, rights, strict=True)
                        ],
                    }
                )
    return answers


# --- what a leak looks like -----------------------------------------------------------------------------

# Fields that carry keys or feedback (and the aliases the probes below give them).
HIDDEN_FIELDS = frozenset(
    {"key", "correctAnswer", "correct_answer", "feedback", "answerKey", "solution", "secretFeedback"}
)


def hidden_fields(node: Any, path: str = "") -> tuple[int, list[str]]:
    """(how many key-bearing fields the body answers, the paths of those that are not null)."""
    answered, leaks = 0, []
    if isinstance(node, dict):
        for name, value in node.items():
            here = f"{path}.{name}"
            if name in HIDDEN_FIELDS:
                answered += 1
                if value is not None:
                    leaks.append(here)
            else:
                more, deeper = hidden_fields(value, here)
                answered, leaks = answered + more, leaks + deeper
    elif isinstance(node, list):
        for index, item in enumerate(node):
            more, deeper = hidden_fields(item, f"{path}.{index}")
            answered, leaks = answered + more, leaks + deeper
    return answered, leaks


def assert_no_key(response: httpx.Response, *, answered: bool = True) -> Any:
    """No canary in the body and every key-bearing field null; `answered`: at least one was asked for."""
    for canary in CANARIES:
        assert canary not in response.text, f"{canary!r} leaked: {response.text[:2000]}"
    body = response.json()
    count, leaks = hidden_fields(body)
    assert leaks == [], f"keys leaked at {leaks}: {response.text[:2000]}"
    if answered:
        assert count > 0, f"no key-bearing field was answered (refused?): {response.text[:2000]}"
    return body


def assert_revealed(result: dict[str, Any]) -> None:
    assert result["revealed"] is True, result
    assert all(q["correctAnswer"] is not None for q in result["questions"]), result
    assert any(q["feedback"] == f"Question FEEDBACK-{CANARY}" for q in result["questions"]), result


def assert_concealed(result: dict[str, Any]) -> None:
    """Nothing per question either: outcomes compared across attempts would spell the key."""
    assert result["revealed"] is False, result
    assert result["questions"] == [], result


def gql_code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


def ok(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


# --- the world ------------------------------------------------------------------------------------------


@dataclass
class World:
    stack: E2EStack
    db: Database[Document]
    instructor: dict[str, Any]
    other_instructor: dict[str, Any]
    admin: dict[str, Any]
    course: dict[str, Any]

    @property
    def course_id(self) -> str:
        return str(self.course["id"])

    def create(self, token: str | None = None, course: str | None = None, **settings: Any) -> dict[str, Any]:
        """An assessment in the course (the instructor's view: questions with their keys)."""
        variables = {
            "course": course or self.course_id,
            "input": {"title": f"Quiz {uuid.uuid4().hex[:8]}", "questions": questions_input(), **settings},
        }
        data = ok(self.stack.graphql(CREATE, variables, token=token or self.instructor["access_token"]))
        payload = data["createAssessment"]
        assert payload["errors"] == [], payload
        assessment: dict[str, Any] = payload["assessment"]
        return assessment

    def learner(self, *, enrolled: bool = True) -> dict[str, Any]:
        learner = self.stack.sign_in(name=f"Learner {uuid.uuid4().hex[:6]}")
        if enrolled:
            enrolled_in = ok(self.stack.graphql(ENROLL, {"c": self.course_id}, token=learner["access_token"]))
            assert enrolled_in["enroll"]["enrollment"], enrolled_in
        return learner

    def attempts_of(self, user: dict[str, Any], assessment_id: str) -> int:
        return self.db.attempts.count_documents(
            {"assessment_id": assessment_id, "user_id": user["user"]["id"]}
        )

    def assessment_count(self) -> int:
        return self.db.assessments.count_documents({"course_id": self.course_id})

    def snapshot(self, assessment_id: str) -> Document | None:
        """The stored assessment, less what the outbox relay changes on its own."""
        found = self.db.assessments.find_one({"_id": ObjectId(assessment_id)})
        if found is not None:
            found.pop("outbox", None)
            found.pop("outbox_lease", None)
            found.pop("outbox_pending", None)
        return found


@pytest.fixture(scope="module")
def mongo(mongodb_url: str) -> Iterator[MongoClient[Document]]:
    """The services' document store, read directly to prove what a request did (or did not) write."""
    client: MongoClient[Document] = MongoClient(mongodb_url, serverSelectionTimeoutMS=5000, tz_aware=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def world(stack: E2EStack, mongo: MongoClient[Document]) -> World:
    instructor = stack.sign_in_as("instructor")
    return World(
        stack=stack,
        db=mongo[stack.assessments_database],
        instructor=instructor,
        other_instructor=stack.sign_in_as("instructor"),
        admin=stack.sign_in_admin(),
        course=stack.create_course(
            instructor["access_token"], lessons=1, title=f"Secrets {uuid.uuid4().hex[:6]}"
        ),
    )


# --- no key leaks before reveal -------------------------------------------------------------------------

ROUTER_PROBES: dict[str, str] = {
    "startAttempt payload": START,
    "assessment.questions.key": f"""query($a: ID!) {{
      assessment(id: $a) {{ id questions {{ {QUESTION} }} }}
    }}""",
    "aliases": f"""query($a: ID!) {{
      first: assessment(id: $a) {{ qs: questions {{ id answerKey: key {{ {KEY} }} }} }}
      second: assessment(id: $a) {{
        questions {{ answerKey: key {{ c: correctOptionIds o: correctOrder }} }}
      }}
      third: assessment(id: $a) {{ viewerAttempts {{
        result {{ questions {{ solution: correctAnswer {{ {KEY} }} secretFeedback: feedback }} }}
        questions {{ answerKey: key {{ correctBool acceptedAnswers }} }}
      }} }}
    }}""",
    "named fragments": f"""query($a: ID!) {{ assessment(id: $a) {{ ...A }} }}
      fragment A on Assessment {{ questions {{ ...Q }} }}
      fragment Q on Question {{ id key {{ ...K }} }}
      fragment K on QuestionKey {{ {KEY} }}""",
    "named fragments on attempts": """query($a: ID!) { assessment(id: $a) { viewerAttempts { ...T } } }
      fragment T on Attempt { questions { id key { ...K } } result { questions { ...R } } }
      fragment R on QuestionResultType { feedback correctAnswer { ...K } }
      fragment K on QuestionKey { correctOptionIds correctBool acceptedAnswers numericAnswer }""",
    "inline fragments and __typename": """query($a: ID!) {
      assessment(id: $a) { __typename ... on Assessment { questions { __typename
        ... on Question { key { __typename ... on QuestionKey { correctOptionIds acceptedAnswers numericAnswer
          correctOrder pairs { leftId rightId } feedback } } } } } }
    }""",
    "course.assessments": f"""query($c: ID!) {{
      course(id: $c) {{ assessments {{ id questions {{ {QUESTION} }} }} }}
    }}""",
    "viewerAttempts": f"query($a: ID!) {{ assessment(id: $a) {{ viewerAttempts {{ {ATTEMPT} }} }} }}",
    "me.assessmentAttempts": f"""{{
      me {{ assessmentAttempts(first: 5) {{ edges {{ node {{
        {ATTEMPT} assessment {{ questions {{ id key {{ {KEY} }} }} }}
      }} }} }} }}
    }}""",
    "user(id).assessmentAttempts": f"""query($u: ID!) {{
      user(id: $u) {{ assessmentAttempts(first: 5) {{ edges {{ node {{
        questions {{ id key {{ {KEY} }} }} result {{ {RESULT} }}
      }} }} }} }}
    }}""",
    "saveAnswers payload": SAVE,
}


def test_a_learner_gets_no_key_through_any_router_path_before_submitting(world: World) -> None:
    assessment = world.create(revealPolicy="AFTER_SUBMISSION")
    learner = world.learner()
    token = learner["access_token"]
    started = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    variables = {
        "a": assessment["id"],
        "c": world.course_id,
        "u": learner["user"]["id"],
        "t": started["id"],
        "answers": answers_from_key(assessment["questions"], right=True)[:2],
    }

    for name, query in ROUTER_PROBES.items():
        response = world.stack.graphql(query, variables, token=token)
        try:
            body = assert_no_key(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        assert body.get("errors") is None, (name, body)

    # The attempt is still open (the saves above did not submit it): still nothing revealed.
    assert ok(world.stack.graphql(RESULT_QUERY, variables, token=token))["assessmentResult"] is None


def test_entities_are_not_in_the_routers_api(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    representations = [{"__typename": "Assessment", "id": assessment["id"]}]
    for query in (ENTITIES, "{ _service { sdl } }"):
        response = world.stack.graphql(query, {"r": representations}, token=learner["access_token"])
        assert gql_code(response) == "BAD_USER_INPUT", response.text
        assert response.json().get("data") is None
        assert_no_key(response, answered=False)


def test_entities_on_the_subgraph_itself_never_carry_keys_for_a_learner(world: World) -> None:
    """The subgraph answers `_entities` to anyone with a token (the router needs it): keys stay null."""
    assessment = world.create(revealPolicy="NEVER")
    learner, other = world.learner(), world.learner()
    token = learner["access_token"]
    attempt = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    url = world.stack.subgraph_urls["assessments"]

    def entities(representation: dict[str, Any], caller: str | None = token) -> httpx.Response:
        response: httpx.Response = world.stack.graphql(
            ENTITIES, {"r": [representation]}, token=caller, url=url
        )
        return response

    own = [
        {"__typename": "Assessment", "id": assessment["id"]},
        {"__typename": "Course", "id": world.course_id},
        {"__typename": "Attempt", "id": attempt["id"]},
        {"__typename": "User", "id": learner["user"]["id"]},
    ]
    for representation in own:
        body = assert_no_key(entities(representation))
        assert body.get("errors") is None and body["data"]["_entities"][0] is not None, (representation, body)

    # Submitted and passed: under NEVER the result still carries no key, by the entity path too.
    submitted = world.stack.graphql(
        SUBMIT,
        {"a": assessment["id"], "answers": answers_from_key(assessment["questions"], right=True)},
        token=token,
    )
    result = assert_no_key(submitted)["data"]["submitAnswers"]["attempt"]["result"]
    assert result["passed"] is True
    for representation in own:
        assert_no_key(entities(representation))

    # Another learner's attempt is not an entity they can load, and not a list they can read.
    hidden = entities({"__typename": "Attempt", "id": attempt["id"]}, other["access_token"])
    assert hidden.json()["data"]["_entities"] == [None], hidden.text
    listed = entities({"__typename": "User", "id": learner["user"]["id"]}, other["access_token"])
    assert gql_code(listed) == "FORBIDDEN", listed.text
    assert_no_key(listed, answered=False)
    assert attempt["id"] not in listed.text
    # Anonymous callers get nothing at all.
    anonymous = entities({"__typename": "Assessment", "id": assessment["id"]}, None)
    assert_no_key(anonymous, answered=False)
    found = (anonymous.json().get("data") or {}).get("_entities") or [None]
    assert found[0] is None or found[0]["questions"] is None, anonymous.text


def _result_views(world: World, token: str, assessment_id: str, learner_id: str) -> dict[str, dict[str, Any]]:
    """The learner's latest result as every read path shows it (router, subgraph entity, REST)."""
    views: dict[str, dict[str, Any]] = {}
    views["assessmentResult"] = ok(world.stack.graphql(RESULT_QUERY, {"a": assessment_id}, token=token))[
        "assessmentResult"
    ]
    latest = ok(
        world.stack.graphql(
            f"query($a: ID!) {{ assessment(id: $a) {{ viewerAttempts {{ {ATTEMPT} }} }} }}",
            {"a": assessment_id},
            token=token,
        )
    )["assessment"]["viewerAttempts"][-1]
    views["viewerAttempts"] = latest["result"]
    users = ok(
        world.stack.graphql(
            f"{{ me {{ assessmentAttempts(first: 1) {{ edges {{ node {{ {ATTEMPT} }} }} }} }} }}", token=token
        )
    )
    views["me.assessmentAttempts"] = users["me"]["assessmentAttempts"]["edges"][0]["node"]["result"]
    entity = world.stack.graphql(
        ENTITIES,
        {"r": [{"__typename": "Attempt", "id": latest["id"]}]},
        token=token,
        url=world.stack.subgraph_urls["assessments"],
    )
    views["_entities Attempt (subgraph)"] = ok(entity)["_entities"][0]["result"]
    rest = world.stack.rest("GET", f"/assessments/{assessment_id}/result", token=token)
    assert rest.status_code == 200, rest.text
    body = rest.json()["data"]
    # The REST body in the graph's spelling, so one check covers both.
    views["REST result"] = {
        "revealed": body["revealed"],
        "questions": [
            {"correctAnswer": q["correct_answer"], "feedback": q["feedback"]} for q in body["questions"]
        ],
    }
    return views


def _submit(world: World, token: str, assessment: dict[str, Any], *, right: bool) -> httpx.Response:
    answers = answers_from_key(assessment["questions"], right=right)
    response: httpx.Response = world.stack.graphql(
        SUBMIT, {"a": assessment["id"], "answers": answers}, token=token
    )
    return response


def test_never_reveals_even_after_passing(world: World) -> None:
    assessment = world.create(revealPolicy="NEVER", passingScore=50)
    learner = world.learner()
    token = learner["access_token"]

    submitted = assert_no_key(_submit(world, token, assessment, right=True))
    attempt = submitted["data"]["submitAnswers"]["attempt"]
    assert attempt["result"]["passed"] is True and attempt["result"]["score"] > 0
    assert_concealed(attempt["result"])
    for name, view in _result_views(world, token, assessment["id"], learner["user"]["id"]).items():
        assert view is not None, name
        assert_concealed(view)
    rest = world.stack.rest("GET", f"/assessments/{assessment['id']}/result", token=token)
    assert_no_key(rest, answered=False)
    assert rest.json()["data"]["questions"] == [], rest.text
    # The course's instructor still sees the key, under every policy.
    managed = ok(
        world.stack.graphql(
            f"query($a: ID!) {{ assessment(id: $a) {{ questions {{ {QUESTION} }} }} }}",
            {"a": assessment["id"]},
            token=world.instructor["access_token"],
        )
    )
    assert all(q["key"] is not None for q in managed["assessment"]["questions"])


def test_after_passing_conceals_after_a_fail_and_reveals_after_a_pass(world: World) -> None:
    assessment = world.create(revealPolicy="AFTER_PASSING", passingScore=50)
    learner = world.learner()
    token = learner["access_token"]

    failed = assert_no_key(_submit(world, token, assessment, right=False))
    result = failed["data"]["submitAnswers"]["attempt"]["result"]
    assert result["passed"] is False
    assert_concealed(result)
    for name, view in _result_views(world, token, assessment["id"], learner["user"]["id"]).items():
        assert view is not None, name
        assert_concealed(view)
    rest = world.stack.rest("GET", f"/assessments/{assessment['id']}/result", token=token)
    assert_no_key(rest, answered=False)
    assert rest.json()["data"]["questions"] == [], rest.text

    passed = ok(_submit(world, token, assessment, right=True))["submitAnswers"]["attempt"]
    assert passed["number"] == 2 and passed["result"]["passed"] is True
    assert_revealed(passed["result"])
    for name, view in _result_views(world, token, assessment["id"], learner["user"]["id"]).items():
        assert view is not None, name
        assert_revealed(view)


@pytest.mark.parametrize(
    ("policy", "due_in_days", "revealed"),
    [
        ("AFTER_SUBMISSION", None, True),
        ("AFTER_DUE", None, True),  # no due date: once submitted
        ("AFTER_DUE", 30, False),
    ],
)
def test_results_follow_the_reveal_policy_after_a_fail(
    world: World, policy: str, due_in_days: int | None, revealed: bool
) -> None:
    settings: dict[str, Any] = {"revealPolicy": policy}
    if due_in_days is not None:
        settings["availableUntil"] = (datetime.now(UTC) + timedelta(days=due_in_days)).isoformat()
    assessment = world.create(**settings)
    learner = world.learner()
    token = learner["access_token"]

    response = _submit(world, token, assessment, right=False)
    result = ok(response)["submitAnswers"]["attempt"]["result"]
    assert result["passed"] is False
    views = {"submitAnswers": result, **_result_views(world, token, assessment["id"], learner["user"]["id"])}
    for name, view in views.items():
        assert view is not None, name
        if revealed:
            assert_revealed(view)
        else:
            assert_concealed(view)
    if not revealed:
        assert_no_key(response)


def test_after_due_reveals_once_the_window_has_closed(world: World) -> None:
    soon = datetime.now(UTC) + timedelta(days=1)
    assessment = world.create(revealPolicy="AFTER_DUE", availableUntil=soon.isoformat())
    learner = world.learner()
    token = learner["access_token"]
    assert_concealed(ok(_submit(world, token, assessment, right=False))["submitAnswers"]["attempt"]["result"])

    # The instructor moves the due date into the past (questions resent: see the settings-only test).
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    questions = [
        {**q, "id": k["id"]} for q, k in zip(questions_input(), assessment["questions"], strict=True)
    ]
    moved = ok(
        world.stack.graphql(
            UPDATE,
            {"id": assessment["id"], "input": {"availableUntil": past, "questions": questions}},
            token=world.instructor["access_token"],
        )
    )
    assert moved["updateAssessment"]["errors"] == [], moved

    for name, view in _result_views(world, token, assessment["id"], learner["user"]["id"]).items():
        assert view is not None, name
        assert_revealed(view)


# --- presentation gives nothing away --------------------------------------------------------------------


def _by_type(questions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (question,) = [q for q in questions if q["type"] == kind]
    return question


def test_ordering_and_matching_are_shown_in_an_order_that_says_nothing(world: World) -> None:
    """Outside an attempt and in each attempt, choices come in a fresh uniform shuffle: neither the
    authored order (the key), nor one sorted by the author's ids, nor always "anything but the key"."""
    assessment = world.create(revealPolicy="AFTER_SUBMISSION")
    key_pairs = [
        (p["leftId"], p["rightId"]) for p in _by_type(assessment["questions"], "MATCHING")["key"]["pairs"]
    ]
    right_key_order = [right for _, right in key_pairs]
    assert [left for left, _ in key_pairs] == LEFT_IDS
    learner = world.learner()
    token = learner["access_token"]
    read = f"query($a: ID!) {{ assessment(id: $a) {{ questions {{ {QUESTION} }} }} }}"

    orderings, matchings = set(), set()
    for _ in range(12):
        shown = ok(world.stack.graphql(read, {"a": assessment["id"]}, token=token))["assessment"]["questions"]
        ordering, matching = _by_type(shown, "ORDERING"), _by_type(shown, "MATCHING")
        orderings.add(tuple(c["id"] for c in ordering["choices"]))
        rights = [c["id"] for c in matching["choices"]]
        assert set(rights).isdisjoint(p["id"] for p in matching["matchPrompts"]), "right ids are not left ids"
        matchings.add(tuple(rights))
    assert {tuple(sorted(o)) for o in orderings} == {tuple(sorted(ORDER_KEY))}
    assert {tuple(sorted(m)) for m in matchings} == {tuple(sorted(right_key_order))}
    # 12 reads of 24 equally likely orders: one order every time has odds of 24^-11.
    assert len(orderings) > 1 and len(matchings) > 1, (orderings, matchings)

    attempt = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    in_attempt = attempt["questions"]
    ordering, matching = _by_type(in_attempt, "ORDERING"), _by_type(in_attempt, "MATCHING")
    assert sorted(c["id"] for c in ordering["choices"]) == sorted(ORDER_KEY)
    assert sorted(c["id"] for c in matching["choices"]) == sorted(right_key_order)
    again = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    assert again["id"] == attempt["id"] and again["questions"] == in_attempt, "an attempt keeps its order"

    # REST shows the same, without keys.
    rest = world.stack.rest("GET", f"/assessments/{assessment['id']}", token=token)
    assert rest.status_code == 200, rest.text
    assert_no_key(rest, answered=False)
    rest_questions = rest.json()["data"]["questions"]
    (rest_ordering,) = [q for q in rest_questions if q["type"] == "ordering"]
    assert sorted(c["id"] for c in rest_ordering["choices"]) == sorted(ORDER_KEY)
    for question in rest_questions:
        assert set(question) == {"id", "type", "prompt", "points", "choices", "match_prompts"}, question


TWO_STEPS = [
    {
        "type": "ORDERING",
        "prompt": "First things first.",
        "options": [{"id": "step-1", "text": "Wake up"}, {"id": "step-2", "text": "Get up"}],
    }
]


def test_the_reverse_of_a_two_item_order_is_not_the_key(world: World) -> None:
    """With two items, an order shown "never the key" gives the key away: its reverse. Twenty attempts
    answering that reverse must not all score, nor all fail."""
    assessment = world.create(questions=TWO_STEPS, maxAttempts=None, revealPolicy="NEVER")
    learner = world.learner()
    token = learner["access_token"]
    scores = []
    for _ in range(20):
        attempt = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"][
            "attempt"
        ]
        (question,) = attempt["questions"]
        reverse = [c["id"] for c in question["choices"]][::-1]
        answers = [{"questionId": question["id"], "orderedIds": reverse}]
        submitted = ok(world.stack.graphql(SUBMIT, {"a": assessment["id"], "answers": answers}, token=token))
        result = submitted["submitAnswers"]["attempt"]["result"]
        assert result["questions"] == [], "no per-question outcome under NEVER"
        scores.append(result["score"])
    # A uniform shuffle shows the key half of the time: all 20 alike has odds of 2^-19.
    assert 0 < sum(1 for score in scores if score > 0) < 20, scores


def test_matching_cannot_be_answered_with_left_ids_on_the_right(world: World) -> None:
    """Pairing each prompt with itself would score without knowing anything: refused, nothing recorded."""
    assessment = world.create()
    learner = world.learner()
    matching = _by_type(assessment["questions"], "MATCHING")
    answers = [
        {"questionId": matching["id"], "pairs": [{"leftId": left, "rightId": left} for left in LEFT_IDS]}
    ]

    refused = ok(
        world.stack.graphql(
            SUBMIT, {"a": assessment["id"], "answers": answers}, token=learner["access_token"]
        )
    )
    assert refused["submitAnswers"]["attempt"] is None
    assert [e["code"] for e in refused["submitAnswers"]["errors"]] == ["UNKNOWN_ID"]
    assert world.attempts_of(learner, assessment["id"]) == 0


# --- who may author -------------------------------------------------------------------------------------


def test_only_the_courses_instructor_or_an_admin_creates_assessments(world: World) -> None:
    before = world.assessment_count()
    enrolled = world.learner()
    refusals = {
        "learner": (world.learner(enrolled=False)["access_token"], "FORBIDDEN"),
        "enrolled learner": (enrolled["access_token"], "FORBIDDEN"),
        "another instructor": (world.other_instructor["access_token"], "FORBIDDEN"),
        "anonymous": (None, "UNAUTHENTICATED"),
    }
    for who, (token, code) in refusals.items():
        variables = {
            "course": world.course_id,
            "input": {"title": f"Hijack {who}", "questions": questions_input()},
        }
        response = world.stack.graphql(CREATE, variables, token=token)
        assert gql_code(response) == code, (who, response.text)
        assert response.json()["data"] is None, (who, response.text)
        assert_no_key(response, answered=False)
    assert world.assessment_count() == before, "a refused create wrote an assessment"

    world.create()
    world.create(token=world.admin["access_token"])
    assert world.assessment_count() == before + 2


def test_only_the_courses_instructor_or_an_admin_updates_assessments(world: World) -> None:
    assessment = world.create()
    before = world.snapshot(assessment["id"])
    enrolled = world.learner()
    refusals = {
        "learner": (world.learner(enrolled=False)["access_token"], "FORBIDDEN"),
        "enrolled learner": (enrolled["access_token"], "FORBIDDEN"),
        "another instructor": (world.other_instructor["access_token"], "FORBIDDEN"),
        "anonymous": (None, "UNAUTHENTICATED"),
    }
    for who, (token, code) in refusals.items():
        for changes in (
            {"title": "Hijacked"},
            {"revealPolicy": "AFTER_SUBMISSION", "questions": questions_input()},
        ):
            response = world.stack.graphql(UPDATE, {"id": assessment["id"], "input": changes}, token=token)
            assert gql_code(response) == code, (who, changes, response.text)
            assert response.json()["data"] is None
    assert world.snapshot(assessment["id"]) == before, "a refused update changed the assessment"


def test_the_instructor_changes_a_setting_without_resending_the_questions(world: World) -> None:
    """The everyday edit (rename, change the policy) must work without resending every question."""
    assessment = world.create()
    for token in (world.instructor["access_token"], world.admin["access_token"]):
        title = f"Renamed {uuid.uuid4().hex[:6]}"
        response = world.stack.graphql(
            UPDATE, {"id": assessment["id"], "input": {"title": title}}, token=token
        )
        payload = ok(response)["updateAssessment"]
        assert payload["errors"] == [] and payload["assessment"]["title"] == title, payload
        stored = world.snapshot(assessment["id"])
        assert stored is not None and len(stored["questions"]) == 7


# --- who may attempt, and who sees attempts -------------------------------------------------------------


def test_only_enrolled_learners_start_attempts(world: World) -> None:
    assessment = world.create()
    outsider = world.learner(enrolled=False)
    refusals = {
        "learner not enrolled": (outsider, "FORBIDDEN"),
        "the course's instructor": (world.instructor, "FORBIDDEN"),
        "an admin": (world.admin, "FORBIDDEN"),
        "another instructor": (world.other_instructor, "FORBIDDEN"),
    }
    right = answers_from_key(assessment["questions"], right=True)
    for who, (user, code) in refusals.items():
        token = user["access_token"]
        for query, variables in (
            (START, {"a": assessment["id"]}),
            (SUBMIT, {"a": assessment["id"], "answers": right}),
        ):
            response = world.stack.graphql(query, variables, token=token)
            assert gql_code(response) == code, (who, response.text)
            assert response.json()["data"] is None
            assert_no_key(response, answered=False)
        assert world.attempts_of(user, assessment["id"]) == 0, who
    anonymous = world.stack.graphql(START, {"a": assessment["id"]})
    assert gql_code(anonymous) == "UNAUTHENTICATED", anonymous.text

    learner = world.learner()
    attempt = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=learner["access_token"]))
    assert attempt["startAttempt"]["attempt"]["number"] == 1
    assert world.attempts_of(learner, assessment["id"]) == 1


def test_attempts_are_seen_by_their_learner_the_courses_instructor_and_admins_only(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    submitted = ok(_submit(world, learner["access_token"], assessment, right=False))
    attempt_id = submitted["submitAnswers"]["attempt"]["id"]
    variables = {"u": learner["user"]["id"]}

    for who, token in (
        ("the learner", learner["access_token"]),
        ("the course's instructor", world.instructor["access_token"]),
        ("an admin", world.admin["access_token"]),
    ):
        seen = ok(world.stack.graphql(USER_ATTEMPTS, variables, token=token))["user"]["assessmentAttempts"]
        assert [edge["node"]["id"] for edge in seen["edges"]] == [attempt_id], who

    for who, token, code in (
        ("another learner", world.learner()["access_token"], "FORBIDDEN"),
        ("another instructor", world.other_instructor["access_token"], "FORBIDDEN"),
        ("anonymous", None, "UNAUTHENTICATED"),
    ):
        response = world.stack.graphql(USER_ATTEMPTS, variables, token=token)
        assert gql_code(response) == code, (who, response.text)
        assert attempt_id not in response.text, who
        user = (response.json().get("data") or {}).get("user")
        assert user is None or user["assessmentAttempts"] is None, (who, response.text)


def test_an_instructor_sees_their_courses_attempts_behind_newer_ones_elsewhere(world: World) -> None:
    """The filter to the instructor's courses must not run on one page of all the learner's attempts."""
    elsewhere_course = world.stack.create_course(world.other_instructor["access_token"], lessons=1)
    elsewhere = world.create(token=world.other_instructor["access_token"], course=elsewhere_course["id"])
    here = world.create()
    learner = world.learner()
    token = learner["access_token"]
    ok(world.stack.graphql(ENROLL, {"c": elsewhere_course["id"]}, token=token))
    mine = ok(_submit(world, token, here, right=False))["submitAnswers"]["attempt"]["id"]
    for _ in range(3):  # newer attempts at another instructor's course
        ok(_submit(world, token, elsewhere, right=False))

    page = """query($u: ID!) { user(id: $u) { assessmentAttempts(first: 2) {
      edges { node { id } } pageInfo { hasNextPage endCursor } } } }"""
    response = world.stack.graphql(page, {"u": learner["user"]["id"]}, token=world.instructor["access_token"])
    seen = ok(response)["user"]["assessmentAttempts"]
    assert [edge["node"]["id"] for edge in seen["edges"]] == [mine]
    assert seen["pageInfo"]["hasNextPage"] is False


# --- bad input ------------------------------------------------------------------------------------------

OVERSIZED = "x" * 100_000


def test_bad_answers_through_graphql_are_refused_and_record_nothing(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    token = learner["access_token"]
    by_type = {q["type"]: q["id"] for q in assessment["questions"]}
    single, short = by_type["SINGLE_CHOICE"], by_type["SHORT_TEXT"]

    refused_by_the_schema: dict[str, dict[str, Any]] = {
        "operator as option ids": {
            "a": assessment["id"],
            "answers": [{"questionId": single, "optionIds": {"$gt": ""}}],
        },
        "operator as question id": {
            "a": assessment["id"],
            "answers": [{"questionId": {"$ne": None}, "value": True}],
        },
        "operator as answers": {"a": assessment["id"], "answers": {"$where": "1 == 1"}},
        "operator as assessment id": {"a": {"$ne": None}, "answers": []},
        "string for a boolean": {
            "a": assessment["id"],
            "answers": [{"questionId": by_type["TRUE_FALSE"], "value": "true"}],
        },
        "string for a number": {
            "a": assessment["id"],
            "answers": [{"questionId": by_type["NUMERIC"], "number": "1e9"}],
        },
        "operator in a pair": {
            "a": assessment["id"],
            "answers": [
                {"questionId": by_type["MATCHING"], "pairs": [{"leftId": {"$gt": ""}, "rightId": "x"}]}
            ],
        },
        "unknown field": {
            "a": assessment["id"],
            "answers": [{"questionId": single, "optionIds": [], "$set": 1}],
        },
        "not an id": {"a": "$where", "answers": []},
        "oversized id": {"a": OVERSIZED, "answers": []},
    }
    for name, variables in refused_by_the_schema.items():
        response = world.stack.graphql(SUBMIT, variables, token=token)
        assert gql_code(response) == "BAD_USER_INPUT", (name, response.text)
        assert (response.json().get("data") or {}).get("submitAnswers") is None, (name, response.text)

    refused_by_the_engine: dict[str, tuple[list[dict[str, Any]], str]] = {
        "oversized text": ([{"questionId": short, "text": OVERSIZED}], "TOO_LONG"),
        "wrong answer field": ([{"questionId": single, "value": True}], "WRONG_ANSWER_TYPE"),
        "unknown option": ([{"questionId": single, "optionIds": ["opt-atlantis"]}], "UNKNOWN_ID"),
        "duplicate options": (
            [{"questionId": single, "optionIds": ["opt-ouaga", "opt-ouaga"]}],
            "DUPLICATE_ID",
        ),
        "unknown question": ([{"questionId": "q-atlantis", "value": True}], "UNKNOWN_QUESTION"),
        "operator-looking id": ([{"questionId": "$where", "value": True}], "UNKNOWN_QUESTION"),
    }
    for name, (answers, code) in refused_by_the_engine.items():
        response = world.stack.graphql(SUBMIT, {"a": assessment["id"], "answers": answers}, token=token)
        payload = ok(response)["submitAnswers"]
        assert payload["attempt"] is None, name
        assert code in [e["code"] for e in payload["errors"]], (name, payload)

    assert world.attempts_of(learner, assessment["id"]) == 0, "a refused submission recorded an attempt"


def test_bad_assessments_through_graphql_are_refused_and_create_nothing(world: World) -> None:
    before = world.assessment_count()
    token = world.instructor["access_token"]
    one_question = questions_input()[:1]
    schema_refusals: dict[str, dict[str, Any]] = {
        "operator as prompt": {"title": "Quiz", "questions": [{**one_question[0], "prompt": {"$gt": ""}}]},
        "string for a number": {"title": "Quiz", "passingScore": "high"},
        "unknown policy": {"title": "Quiz", "revealPolicy": "SOMETIMES"},
        "operator as title": {"title": {"$ne": None}},
        "unknown field": {"title": "Quiz", "$where": "1"},
    }
    for name, assessment_input in schema_refusals.items():
        response = world.stack.graphql(
            CREATE, {"course": world.course_id, "input": assessment_input}, token=token
        )
        assert gql_code(response) == "BAD_USER_INPUT", (name, response.text)
    operator_course = world.stack.graphql(
        CREATE, {"course": {"$ne": None}, "input": {"title": "Quiz"}}, token=token
    )
    assert gql_code(operator_course) == "BAD_USER_INPUT", operator_course.text

    engine_refusals: dict[str, tuple[dict[str, Any], str]] = {
        "oversized title": ({"title": OVERSIZED}, "title"),
        "oversized prompt": (
            {"title": "Quiz", "questions": [{**one_question[0], "prompt": OVERSIZED}]},
            "questions.0.prompt",
        ),
        "passing score above 100": ({"title": "Quiz", "passingScore": 101}, "passingScore"),
        "no correct option": (
            {"title": "Quiz", "questions": [{**one_question[0], "options": [{"text": "a"}, {"text": "b"}]}]},
            "questions.0.options",
        ),
    }
    for name, (assessment_input, field) in engine_refusals.items():
        response = world.stack.graphql(
            CREATE, {"course": world.course_id, "input": assessment_input}, token=token
        )
        payload = ok(response)["createAssessment"]
        assert payload["assessment"] is None, name
        assert field in [e["field"] for e in payload["errors"]], (name, payload)

    assert world.assessment_count() == before, "a refused create wrote an assessment"
