"""Enroll, complete lessons, pass the required assessment: exactly one certificate, verifiable by code."""

from typing import Any

import pytest

from tests.e2e.conftest import E2EStack
from tests.support.kafka import collect_events

pytestmark = pytest.mark.e2e

CREATE = """
mutation($course: ID!, $input: AssessmentInput!) {
  createAssessment(courseId: $course, input: $input) {
    assessment {
      id questionCount maxScore questions { id type choices { id text } matchPrompts { id text } }
    }
    errors { code field message }
  }
}"""
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
COMPLETE = """mutation($c: ID!, $l: ID!) {
  completeLesson(courseId: $c, lessonId: $l) { enrollment { status progress certificate { code } } }
}"""
SUBMIT = """
mutation($a: ID!, $answers: [AnswerInput!]!) {
  submitAnswers(assessmentId: $a, answers: $answers) {
    attempt { id number status result { score maxScore percent passed revealed
      questions { questionId outcome correctAnswer { correctOptionIds } } } }
    errors { code field message }
  }
}"""
MY_ENROLLMENT = """query($c: ID!) { course(id: $c) { viewerEnrollment { status certificate { code } } } }"""
VERIFY = """query($code: String!) {
  verifyCertificate(code: $code) { code issuedAt holder { name } course { title } }
}"""

QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "SINGLE_CHOICE",
        "prompt": "2 + 2?",
        "points": 1,
        "options": [{"text": "3"}, {"text": "4", "correct": True}, {"text": "5"}],
    },
    {"type": "TRUE_FALSE", "prompt": "The sky is blue.", "points": 1, "correctBool": True},
]


def _answers(questions: list[dict[str, Any]], *, right: bool) -> list[dict[str, Any]]:
    single, true_false = questions
    by_text = {c["text"]: c["id"] for c in single["choices"]}
    return [
        {"questionId": single["id"], "optionIds": [by_text["4" if right else "3"]]},
        {"questionId": true_false["id"], "value": right},
    ]


def _create_final_exam(stack: E2EStack, token: str, course_id: str, **settings: Any) -> dict[str, Any]:
    """A required assessment that only full marks pass."""
    created = stack.graphql(
        CREATE,
        {
            "course": course_id,
            "input": {
                "title": "Final exam",
                "passingScore": 100,
                "requiredForCompletion": True,
                "questions": QUESTIONS,
                **settings,
            },
        },
        token=token,
    ).json()
    assert created.get("errors") is None, created
    payload = created["data"]["createAssessment"]
    assert payload["errors"] == [], payload
    assessment: dict[str, Any] = payload["assessment"]
    return assessment


async def test_fail_then_pass_issues_exactly_one_certificate(stack: E2EStack, kafka_bootstrap: str) -> None:
    instructor = stack.sign_in_as("instructor", name="Quiz Master")
    course = stack.create_course(instructor["access_token"], lessons=2, title="Certified Course")
    assessment = _create_final_exam(stack, instructor["access_token"], course["id"])

    learner = stack.sign_in(name="Cert Learner")
    token = learner["access_token"]
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)
    lessons = [lesson["id"] for m in course["modules"] for lesson in m["lessons"]]
    for lesson in lessons:
        done = stack.graphql(COMPLETE, {"c": course["id"], "l": lesson}, token=token).json()
    # Every lesson done, the required assessment not yet passed: no completion, no certificate.
    assert done["data"]["completeLesson"]["enrollment"] == {
        "status": "ACTIVE",
        "progress": 100,
        "certificate": None,
    }

    failed = stack.graphql(
        SUBMIT,
        {"a": assessment["id"], "answers": _answers(assessment["questions"], right=False)},
        token=token,
    ).json()
    result = failed["data"]["submitAnswers"]["attempt"]["result"]
    assert result["passed"] is False and result["score"] == 0

    passed = stack.graphql(
        SUBMIT, {"a": assessment["id"], "answers": _answers(assessment["questions"], right=True)}, token=token
    ).json()
    attempt = passed["data"]["submitAnswers"]["attempt"]
    assert attempt["number"] == 2 and attempt["result"]["passed"] is True

    issued = await collect_events(
        kafka_bootstrap,
        "certification.events",
        lambda e: e["user_id"] == learner["user"]["id"] and e["course_id"] == course["id"],
        within=30,
        settle=3,
    )
    # Delivery is at-least-once (consumers drop duplicates by event_id): one certificate is one event id.
    assert len({event["event_id"] for _, event in issued}) == 1, issued
    code = issued[0][1]["metadata"]["code"]
    mine = stack.graphql(MY_ENROLLMENT, {"c": course["id"]}, token=token).json()["data"]["course"]
    assert mine["viewerEnrollment"] == {"status": "COMPLETED", "certificate": {"code": code}}

    verified = stack.graphql(VERIFY, {"code": code}).json()["data"]["verifyCertificate"]
    assert verified["holder"]["name"] == "Cert Learner" and verified["course"]["title"] == "Certified Course"
    assert stack.graphql(VERIFY, {"code": "CG-NOPE"}).json()["data"]["verifyCertificate"] is None


START = "mutation($a: ID!) { startAttempt(assessmentId: $a) { attempt { id deadline } errors { code } } }"
SAVE = """mutation($t: ID!, $answers: [AnswerInput!]!) {
  saveAnswers(attemptId: $t, answers: $answers) { attempt { id } errors { code field } }
}"""
RESULT = "query($a: ID!) { assessmentResult(id: $a) { attemptId closedByDeadline score passed } }"


async def test_an_abandoned_timed_attempt_is_closed_by_the_server_and_counts(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    """The learner saves passing answers and never submits: once the time limit (3 s) and grace (1 s)
    pass, the server closes the attempt as it stood, scores it and issues the certificate."""
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    assessment = _create_final_exam(stack, instructor["access_token"], course["id"], timeLimitSeconds=3)
    learner = stack.sign_in()
    token = learner["access_token"]
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)
    lesson = course["modules"][0]["lessons"][0]["id"]
    stack.graphql(COMPLETE, {"c": course["id"], "l": lesson}, token=token)

    started = stack.graphql(START, {"a": assessment["id"]}, token=token).json()["data"]["startAttempt"]
    attempt_id = started["attempt"]["id"]
    answers = _answers(assessment["questions"], right=True)
    saved = stack.graphql(SAVE, {"t": attempt_id, "answers": answers}, token=token).json()
    assert saved["data"]["saveAnswers"]["errors"] == [], saved

    closed = await collect_events(
        kafka_bootstrap,
        "assessment.events",
        lambda e: e["event_type"] == "ASSESSMENT_SUBMITTED" and e["metadata"]["attempt_id"] == attempt_id,
        within=30,
    )
    assert closed[0][1]["metadata"]["closed_by_deadline"] is True
    issued = await collect_events(
        kafka_bootstrap,
        "certification.events",
        lambda e: e["user_id"] == learner["user"]["id"] and e["course_id"] == course["id"],
        within=30,
    )
    assert issued[0][1]["event_type"] == "CERTIFICATE_ISSUED"
    result = stack.graphql(RESULT, {"a": assessment["id"]}, token=token).json()["data"]["assessmentResult"]
    assert result == {"attemptId": attempt_id, "closedByDeadline": True, "score": 2, "passed": True}
