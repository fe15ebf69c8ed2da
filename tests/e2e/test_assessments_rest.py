"""The REST assessment endpoints: GET /assessments/:id, POST .../submit, GET .../result.

Each answers in the requirements' envelope with snake_case bodies; refusals carry the error code and the
status it maps to, and a refused request records nothing.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.e2e.test_assessments_security import (
    START,
    World,
    answers_from_key,
    assert_no_key,
    mongo,
    ok,
    world,
)

pytestmark = pytest.mark.e2e

__all__ = ["mongo", "world"]  # the fixtures, imported for this module's tests

ASSESSMENT_KEYS = {
    "id",
    "course_id",
    "module_id",
    "title",
    "instructions",
    "passing_score",
    "time_limit_seconds",
    "max_attempts",
    "score_policy",
    "shuffle_questions",
    "shuffle_options",
    "available_from",
    "available_until",
    "required_for_completion",
    "reveal_policy",
    "max_score",
    "question_count",
    "questions",
}
QUESTION_KEYS = {"id", "type", "prompt", "points", "choices", "match_prompts"}
ATTEMPT_KEYS = {
    "id",
    "assessment_id",
    "number",
    "status",
    "started_at",
    "deadline",
    "submitted_at",
    "closed_by_deadline",
    "result",
}
RESULT_KEYS = {
    "attempt_id",
    "attempt_number",
    "score",
    "max_score",
    "percent",
    "passed",
    "submitted_at",
    "closed_by_deadline",
    "revealed",
    "questions",
}
CORRECT_ANSWER_KEYS = {
    "correct_option_ids",
    "correct_bool",
    "accepted_answers",
    "case_sensitive",
    "numeric_answer",
    "tolerance",
    "correct_order",
    "pairs",
    "feedback",
    "option_feedback",
}
SAVE = """
mutation($t: ID!, $answers: [AnswerInput!]!) {
  saveAnswers(attemptId: $t, answers: $answers) { attempt { id } errors { code field } }
}"""


def ok_data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"success", "data", "error", "timestamp"}, body
    assert body["success"] is True and body["error"] is None and body["timestamp"], body
    return body["data"]


def refusal(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    """(status, code, details) of an error envelope, after checking its shape."""
    body = response.json()
    assert set(body) == {"success", "data", "error", "timestamp"}, body
    assert body["success"] is False and body["data"] is None, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert "Traceback" not in response.text
    return response.status_code, body["error"]["code"], body["error"]["details"]


def to_rest(answer: dict[str, Any]) -> dict[str, Any]:
    """An AnswerInput (GraphQL spelling) as the REST body spells it."""
    names = {"questionId": "question_id", "optionIds": "option_ids", "orderedIds": "ordered_ids"}
    body = {names.get(name, name): value for name, value in answer.items()}
    if "pairs" in body:
        body["pairs"] = [{"left_id": p["leftId"], "right_id": p["rightId"]} for p in body["pairs"]]
    return body


def rest_answers(assessment: dict[str, Any], *, right: bool) -> list[dict[str, Any]]:
    return [to_rest(answer) for answer in answers_from_key(assessment["questions"], right=right)]


def submit(world: World, token: str | None, assessment_id: str, answers: Any) -> httpx.Response:
    response: httpx.Response = world.stack.rest(
        "POST", f"/assessments/{assessment_id}/submit", token=token, json={"answers": answers}
    )
    return response


def soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


# --- GET /assessments/:id -------------------------------------------------------------------------------


def test_an_enrolled_learner_reads_the_questions_without_keys(world: World) -> None:
    assessment = world.create(
        title="Readable", instructions="Read carefully.", passingScore=75, maxAttempts=3
    )
    learner = world.learner()

    response = world.stack.rest("GET", f"/assessments/{assessment['id']}", token=learner["access_token"])

    data = ok_data(response)
    assert_no_key(response, answered=False)
    assert set(data) == ASSESSMENT_KEYS
    assert data["id"] == assessment["id"] and data["course_id"] == world.course_id
    assert (data["title"], data["instructions"], data["passing_score"]) == ("Readable", "Read carefully.", 75)
    assert (data["max_attempts"], data["time_limit_seconds"], data["module_id"]) == (3, None, None)
    assert (data["score_policy"], data["reveal_policy"]) == ("best", "after_submission")
    assert data["question_count"] == 7 and data["max_score"] == 7
    assert [q["type"] for q in data["questions"]] == [
        "single_choice",
        "multiple_choice",
        "true_false",
        "short_text",
        "numeric",
        "ordering",
        "matching",
    ]
    for question in data["questions"]:
        assert set(question) == QUESTION_KEYS, question
        for item in question["choices"] + question["match_prompts"]:
            assert set(item) == {"id", "text"}
    assert [c["text"] for c in data["questions"][0]["choices"]] == ["Bamako", "Ouagadougou", "Niamey"]
    assert [p["text"] for p in data["questions"][6]["match_prompts"]] == [
        "France",
        "Germany",
        "Italy",
        "Spain",
    ]


def test_questions_are_null_for_callers_who_may_not_read_them(world: World) -> None:
    assessment = world.create()
    outsider = world.learner(enrolled=False)
    data = ok_data(
        world.stack.rest("GET", f"/assessments/{assessment['id']}", token=outsider["access_token"])
    )
    assert data["questions"] is None and data["question_count"] == 7

    # The course's instructor reads them (still without keys: REST never sends keys).
    managed = world.stack.rest(
        "GET", f"/assessments/{assessment['id']}", token=world.instructor["access_token"]
    )
    assert len(ok_data(managed)["questions"]) == 7
    assert_no_key(managed, answered=False)


def test_reading_an_assessment_needs_a_caller_and_an_assessment(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    anonymous = world.stack.rest("GET", f"/assessments/{assessment['id']}")
    assert refusal(anonymous)[:2] == (401, "UNAUTHENTICATED")
    missing = world.stack.rest("GET", f"/assessments/{ObjectId()}", token=learner["access_token"])
    assert refusal(missing)[:2] == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    "path_id",
    ["not-an-id", "%24where", "%7B%22%24ne%22%3Anull%7D", "0" * 23, "0" * 25, "g" * 24],
)
def test_malformed_assessment_ids_are_400(world: World, path_id: str) -> None:
    token = world.instructor["access_token"]
    for method, suffix, body in (
        ("GET", "", None),
        ("GET", "/result", None),
        ("POST", "/submit", {"answers": []}),
    ):
        response = world.stack.rest(method, f"/assessments/{path_id}{suffix}", token=token, json=body)
        assert refusal(response)[:2] == (400, "BAD_USER_INPUT"), (method, suffix, response.text)


# --- POST /assessments/:id/submit and GET /assessments/:id/result ---------------------------------------


def test_submit_starts_scores_and_answers_with_the_attempt_and_its_result(world: World) -> None:
    assessment = world.create(passingScore=60)
    learner = world.learner()
    token = learner["access_token"]

    response = submit(world, token, assessment["id"], rest_answers(assessment, right=True))

    attempt = ok_data(response, 201)
    assert set(attempt) == ATTEMPT_KEYS
    assert attempt["assessment_id"] == assessment["id"] and attempt["number"] == 1
    assert attempt["status"] == "submitted" and attempt["closed_by_deadline"] is False
    assert attempt["deadline"] is None and attempt["submitted_at"] is not None
    result = attempt["result"]
    assert set(result) == RESULT_KEYS
    assert result["attempt_id"] == attempt["id"] and result["attempt_number"] == 1
    assert (result["score"], result["max_score"], result["percent"], result["passed"]) == (7, 7, 100, True)
    assert result["revealed"] is True  # AFTER_SUBMISSION
    for question in result["questions"]:
        assert set(question) == {
            "question_id",
            "points",
            "max_points",
            "outcome",
            "feedback",
            "correct_answer",
        }
        assert question["outcome"] == "correct" and question["points"] == question["max_points"] == 1
        assert set(question["correct_answer"]) == CORRECT_ANSWER_KEYS
    single = result["questions"][0]["correct_answer"]
    assert single["correct_option_ids"] == ["opt-ouaga"] and single["correct_bool"] is None
    assert single["option_feedback"][0]["id"] == "opt-ouaga"
    matching = result["questions"][6]["correct_answer"]
    assert [p["left_id"] for p in matching["pairs"]] == ["left-1", "left-2", "left-3", "left-4"]
    assert world.attempts_of(learner, assessment["id"]) == 1

    read = ok_data(world.stack.rest("GET", f"/assessments/{assessment['id']}/result", token=token))
    assert read == result


def test_submit_completes_the_open_attempt_with_what_was_saved(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    token = learner["access_token"]
    started = ok(world.stack.graphql(START, {"a": assessment["id"]}, token=token))["startAttempt"]["attempt"]
    graph_answers = answers_from_key(assessment["questions"], right=True)
    saved = ok(world.stack.graphql(SAVE, {"t": started["id"], "answers": graph_answers[:3]}, token=token))
    assert saved["saveAnswers"]["errors"] == []

    rest = [to_rest(answer) for answer in graph_answers[3:5]]
    attempt = ok_data(submit(world, token, assessment["id"], rest), 201)

    assert attempt["id"] == started["id"] and attempt["number"] == 1
    outcomes = [q["outcome"] for q in attempt["result"]["questions"]]
    assert outcomes == ["correct"] * 5 + ["unanswered"] * 2
    assert attempt["result"]["score"] == 5
    assert world.attempts_of(learner, assessment["id"]) == 1


@pytest.mark.parametrize(("policy", "counted"), [("BEST", 1), ("LATEST", 2)])
def test_the_result_is_the_attempt_the_score_policy_counts(world: World, policy: str, counted: int) -> None:
    assessment = world.create(scorePolicy=policy)
    learner = world.learner()
    token = learner["access_token"]
    result_url = f"/assessments/{assessment['id']}/result"
    assert refusal(world.stack.rest("GET", result_url, token=token))[:2] == (404, "NOT_FOUND")

    first = ok_data(submit(world, token, assessment["id"], rest_answers(assessment, right=True)), 201)
    second = ok_data(submit(world, token, assessment["id"], rest_answers(assessment, right=False)), 201)
    assert (first["number"], second["number"]) == (1, 2)
    assert (first["result"]["score"], second["result"]["score"]) == (7, 0)

    result = ok_data(world.stack.rest("GET", result_url, token=token))
    assert result["attempt_number"] == counted
    assert result["attempt_id"] == (first if counted == 1 else second)["id"]


def test_a_result_is_only_the_callers_own(world: World) -> None:
    assessment = world.create()
    learner, other = world.learner(), world.learner()
    ok_data(
        submit(world, learner["access_token"], assessment["id"], rest_answers(assessment, right=True)), 201
    )
    url = f"/assessments/{assessment['id']}/result"
    assert refusal(world.stack.rest("GET", url, token=other["access_token"]))[:2] == (404, "NOT_FOUND")
    assert refusal(world.stack.rest("GET", url, token=world.instructor["access_token"]))[:2] == (
        404,
        "NOT_FOUND",
    )
    assert refusal(world.stack.rest("GET", url))[:2] == (401, "UNAUTHENTICATED")
    assert refusal(
        world.stack.rest("GET", f"/assessments/{ObjectId()}/result", token=learner["access_token"])
    )[:2] == (404, "NOT_FOUND")


def test_results_conceal_keys_the_policy_does_not_reveal(world: World) -> None:
    assessment = world.create(revealPolicy="NEVER")
    learner = world.learner()
    token = learner["access_token"]

    response = submit(world, token, assessment["id"], rest_answers(assessment, right=True))
    attempt = ok_data(response, 201)
    assert attempt["result"]["passed"] is True and attempt["result"]["revealed"] is False
    assert attempt["result"]["questions"] == [], "per-question outcomes would spell the key"
    assert_no_key(response, answered=False)
    result = world.stack.rest("GET", f"/assessments/{assessment['id']}/result", token=token)
    assert ok_data(result)["revealed"] is False and ok_data(result)["questions"] == []
    assert_no_key(result, answered=False)


# --- refusals -------------------------------------------------------------------------------------------


def test_conflicts_are_409_with_their_reason_and_record_nothing_new(world: World) -> None:
    learner = world.learner()
    token = learner["access_token"]

    once = world.create(maxAttempts=1)
    ok_data(submit(world, token, once["id"], rest_answers(once, right=False)), 201)
    status, code, details = refusal(submit(world, token, once["id"], rest_answers(once, right=True)))
    assert (status, code, details) == (409, "CONFLICT", {"reason": "ATTEMPTS_EXHAUSTED"})
    assert world.attempts_of(learner, once["id"]) == 1

    windows = {
        "NOT_YET_AVAILABLE": {"availableFrom": soon(1), "availableUntil": soon(2)},
        "CLOSED": {"availableFrom": soon(-2), "availableUntil": soon(-1)},
    }
    for reason, window in windows.items():
        assessment = world.create(**window)
        status, code, details = refusal(
            submit(world, token, assessment["id"], rest_answers(assessment, right=True))
        )
        assert (status, code, details) == (409, "CONFLICT", {"reason": reason})
        assert world.attempts_of(learner, assessment["id"]) == 0


def test_only_enrolled_learners_submit(world: World) -> None:
    assessment = world.create()
    answers = rest_answers(assessment, right=True)
    for who, user, expected in (
        ("a learner not enrolled", world.learner(enrolled=False), (403, "FORBIDDEN")),
        ("the course's instructor", world.instructor, (403, "FORBIDDEN")),
        ("an admin", world.admin, (403, "FORBIDDEN")),
    ):
        assert refusal(submit(world, user["access_token"], assessment["id"], answers))[:2] == expected, who
        assert world.attempts_of(user, assessment["id"]) == 0, who
    assert refusal(submit(world, None, assessment["id"], answers))[:2] == (401, "UNAUTHENTICATED")
    missing = submit(world, world.learner()["access_token"], str(ObjectId()), answers)
    assert refusal(missing)[:2] == (404, "NOT_FOUND")


def test_answers_that_do_not_fit_their_question_are_400_with_fields(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    token = learner["access_token"]
    ids = {q["type"]: q["id"] for q in assessment["questions"]}
    matching = next(q for q in assessment["questions"] if q["type"] == "MATCHING")

    cases: dict[str, tuple[list[dict[str, Any]], str]] = {
        "unknown question": ([{"question_id": "q-atlantis", "value": True}], "answers.0.question_id"),
        "wrong answer field": ([{"question_id": ids["SINGLE_CHOICE"], "value": True}], "answers.0"),
        "unknown option": (
            [{"question_id": ids["SINGLE_CHOICE"], "option_ids": ["opt-atlantis"]}],
            "answers.0",
        ),
        "duplicate option": (
            [{"question_id": ids["MULTIPLE_CHOICE"], "option_ids": ["p2", "p2"]}],
            "answers.0",
        ),
        "duplicate question": (
            [
                {"question_id": ids["TRUE_FALSE"], "value": True},
                {"question_id": ids["TRUE_FALSE"], "value": False},
            ],
            "answers.1.question_id",
        ),
        "left ids on the right": (
            [
                {
                    "question_id": matching["id"],
                    "pairs": [{"left_id": p["id"], "right_id": p["id"]} for p in matching["matchPrompts"]],
                }
            ],
            "answers.0",
        ),
        "a good answer and a bad one": (
            [{"question_id": ids["TRUE_FALSE"], "value": True}, {"question_id": ids["NUMERIC"], "text": "3"}],
            "answers.1",
        ),
    }
    for name, (answers, field) in cases.items():
        status, code, details = refusal(submit(world, token, assessment["id"], answers))
        assert (status, code) == (400, "BAD_USER_INPUT"), (name, details)
        assert field in details["fields"], (name, details)
    assert world.attempts_of(learner, assessment["id"]) == 0, "a refused submission recorded an attempt"


def test_malformed_bodies_are_400_and_record_nothing(world: World) -> None:
    assessment = world.create()
    learner = world.learner()
    token = learner["access_token"]
    question = assessment["questions"][0]["id"]
    url = f"/assessments/{assessment['id']}/submit"

    bodies: dict[str, Any] = {
        "no answers": {},
        "unknown top-level field": {"answers": [], "attempt_id": "x"},
        "unknown answer field": {
            "answers": [{"question_id": question, "option_ids": ["a"], "correct": True}]
        },
        "operator as answers": {"answers": {"$ne": None}},
        "operator as option ids": {"answers": [{"question_id": question, "option_ids": {"$gt": ""}}]},
        "operator as question id": {"answers": [{"question_id": {"$ne": None}, "value": True}]},
        "operator-shaped question id": {"answers": [{"question_id": "$where", "value": True}]},
        "string for a boolean": {"answers": [{"question_id": question, "value": "true"}]},
        "string for a number": {"answers": [{"question_id": question, "number": "1"}]},
        "boolean for a number": {"answers": [{"question_id": question, "number": True}]},
        "oversized text": {"answers": [{"question_id": question, "text": "x" * 1_001}]},
        "oversized question id": {"answers": [{"question_id": "q" * 65, "value": True}]},
        "too many answers": {"answers": [{"question_id": f"q{i}", "value": True} for i in range(201)]},
        "too many option ids": {
            "answers": [{"question_id": question, "option_ids": [f"o{i}" for i in range(21)]}]
        },
        "pair with an extra field": {
            "answers": [{"question_id": question, "pairs": [{"left_id": "a", "right_id": "b", "$set": 1}]}]
        },
        "pair as a list": {"answers": [{"question_id": question, "pairs": [["a", "b"]]}]},
    }
    for name, body in bodies.items():
        response = world.stack.rest("POST", url, token=token, json=body)
        status, code, details = refusal(response)
        assert (status, code) == (400, "BAD_USER_INPUT"), (name, response.text)
        assert details.get("fields"), (name, details)

    raw_bodies = {
        "not JSON": b"{answers:",
        "NaN": b'{"answers": [{"question_id": "q", "number": NaN}]}',
        "Infinity": b'{"answers": [{"question_id": "q", "number": Infinity}]}',
    }
    for name, raw in raw_bodies.items():
        response = world.stack.rest(
            "POST", url, token=token, content=raw, headers={"content-type": "application/json"}
        )
        assert refusal(response)[:2] == (400, "BAD_USER_INPUT"), (name, response.text)

    assert world.attempts_of(learner, assessment["id"]) == 0, "a refused body recorded an attempt"
    # The same learner can still submit a good body.
    ok_data(submit(world, token, assessment["id"], rest_answers(assessment, right=True)), 201)


def test_the_endpoints_are_documented(world: World) -> None:
    spec = world.stack.rest("GET", "/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/assessments/{assessment_id}"]) == {"get"}
    assert set(paths["/assessments/{assessment_id}/submit"]) == {"post"}
    assert set(paths["/assessments/{assessment_id}/result"]) == {"get"}
    submit_op = paths["/assessments/{assessment_id}/submit"]["post"]
    assert "201" in submit_op["responses"] and "409" in submit_op["responses"]
    body_schema = submit_op["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["$ref"].endswith("/SubmitRequest")
