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


async def test_fail_then_pass_issues_exactly_one_certificate(stack: E2EStack, kafka_bootstrap: str) -> None:
    instructor = stack.sign_in_as("instructor", name="Quiz Master")
    course = stack.create_course(instructor["access_token"], lessons=2, title="Certified Course")
    created = stack.graphql(
        CREATE,
        {
            "course": course["id"],
            "input": {
                "title": "Final exam",
                "passingScore": 100,
                "requiredForCompletion": True,
                "questions": QUESTIONS,
            },
        },
        token=instructor["access_token"],
    ).json()
    assert created.get("errors") is None, created
    payload = created["data"]["createAssessment"]
    assert payload["errors"] == [], payload
    assessment = payload["assessment"]

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
