"""Issue 9's acceptance, through the real stack: events on Kafka become exactly one email each at a fake
SendGrid that speaks the v3 mail-send API; history and preferences through REST; one-click unsubscribe."""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from coursegraph.events import Event
from subgraphs.notifications.app import DEV_UNSUBSCRIBE_SECRET, GROUP_ID
from subgraphs.notifications.rendering import Kind, Renderer
from subgraphs.notifications.unsubscribe import Category, UnsubscribeTokens
from tests.e2e.conftest import (
    E2EStack,
    StartStack,
    unique_email,
    wait_for_notifications_consumer,
)
from tests.e2e.test_assessments_flow import COMPLETE, ENROLL, SUBMIT, _answers, _create_final_exam
from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid
from tests.support.kafka import collect_dead_letters, collect_events, wait_until_committed
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

RENDERER = Renderer()


def mail_for(sendgrid: FakeSendGrid, address: str, count: int, *, within: float = 30) -> list[dict[str, Any]]:
    """Wait until `count` emails reached `address`, then a little longer: no more may come."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and len(sendgrid.to(address)) < count:
        time.sleep(0.1)
    time.sleep(1.0)
    received = sendgrid.to(address)
    assert len(received) == count, [m["subject"] for m in received]
    return received


def by_subject(messages: list[dict[str, Any]], start: str) -> dict[str, Any]:
    (found,) = [m for m in messages if m["subject"].startswith(start)]
    return found


def assert_email(
    message: dict[str, Any], kind: Kind, to: str, context: dict[str, Any], *, rest_url: str
) -> None:
    """Exactly the email of `kind` for `context`: recipient, subject, both parts, unsubscribe headers."""
    assert message["personalizations"][0]["to"] == [{"email": to}]
    headers = message.get("headers") or {}
    if CATEGORY_OF[kind] is Category.ACCOUNT:
        assert "List-Unsubscribe" not in headers, "account mail cannot be unsubscribed from"
        unsubscribe_url = None
    else:
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = headers["List-Unsubscribe"]
        assert link.startswith(f"<{rest_url}/notifications/unsubscribe?token=") and link.endswith(">")
        unsubscribe_url = link[1:-1]
    expected = RENDERER.render(kind, {**context, "unsubscribe_url": unsubscribe_url})
    assert message["subject"] == expected.subject
    parts = {part["type"]: part["value"] for part in message["content"]}
    assert parts == {"text/plain": expected.text, "text/html": expected.html}
    assert message["custom_args"]["notification_key"], "the record's key goes out for webhooks"


CATEGORY_OF = {
    Kind.WELCOME: Category.ACCOUNT,
    Kind.ROLE_CHANGED: Category.ACCOUNT,
    Kind.ENROLLMENT_CONFIRMED: Category.COURSES,
    Kind.COURSE_COMPLETED: Category.COURSES,
    Kind.ASSESSMENT_RESULT: Category.ASSESSMENTS,
    Kind.CERTIFICATE_ISSUED: Category.CERTIFICATES,
    Kind.ANNOUNCEMENT: Category.ANNOUNCEMENTS,
}


def history(stack: E2EStack, token: str) -> list[dict[str, Any]]:
    response = stack.rest("GET", "/notifications", token=token, params={"first": 50})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


def eventually(check: Callable[[], bool], *, within: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {within}s: {what}")


def test_each_event_type_yields_exactly_its_email(stack: E2EStack, sendgrid: FakeSendGrid) -> None:
    rest_url = stack.rest_url
    learner_email = unique_email("mail-learner")
    learner = stack.sign_in(learner_email, name="Mail Learner")
    token = learner["access_token"]
    (welcome,) = mail_for(sendgrid, learner_email, 1)
    assert_email(
        welcome, Kind.WELCOME, learner_email, {"name": "Mail Learner", "app_url": rest_url}, rest_url=rest_url
    )

    instructor = stack.sign_in_as("instructor", name="Mail Instructor")
    instructor_email = instructor["user"]["email"]
    role_changed = by_subject(mail_for(sendgrid, instructor_email, 2), "Your CourseGraph role")
    context: dict[str, Any] = {"name": "Mail Instructor", "role": "instructor", "previous_role": "learner"}
    assert_email(role_changed, Kind.ROLE_CHANGED, instructor_email, context, rest_url=rest_url)

    # A title with markup: escaped in the HTML part, as is in the text part and the subject.
    title = "Rust <Ownership> & Borrowing"
    course = stack.create_course(instructor["access_token"], lessons=1, title=title)
    assessment = _create_final_exam(stack, instructor["access_token"], course["id"])
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)
    lesson = course["modules"][0]["lessons"][0]["id"]
    stack.graphql(COMPLETE, {"c": course["id"], "l": lesson}, token=token)
    answers = _answers(assessment["questions"], right=True)
    submitted = stack.graphql(SUBMIT, {"a": assessment["id"], "answers": answers}, token=token).json()
    assert submitted["data"]["submitAnswers"]["attempt"]["result"]["passed"] is True, submitted

    messages = mail_for(sendgrid, learner_email, 5)
    enrolled = by_subject(messages, "You are enrolled")
    course_url = f"{rest_url}/courses/{course['id']}"
    context = {"name": "Mail Learner", "course_title": title, "course_url": course_url}
    assert_email(enrolled, Kind.ENROLLMENT_CONFIRMED, learner_email, context, rest_url=rest_url)
    assert "Rust &lt;Ownership&gt; &amp; Borrowing" in enrolled["content"][1]["value"]
    assert title in enrolled["subject"] and title in enrolled["content"][0]["value"]

    result = by_subject(messages, "Your result in")
    context = {
        "name": "Mail Learner",
        "assessment_title": "Final exam",
        "percent": 100.0,
        "passed": True,
        "result_url": f"{rest_url}/assessments/{assessment['id']}/result",
    }
    assert_email(result, Kind.ASSESSMENT_RESULT, learner_email, context, rest_url=rest_url)

    completed = by_subject(messages, "You completed")
    assert_email(
        completed,
        Kind.COURSE_COMPLETED,
        learner_email,
        {"name": "Mail Learner", "course_title": title},
        rest_url=rest_url,
    )

    certificate = [m for m in messages if "certificate" in m["subject"].lower()]
    assert len(certificate) == 1, [m["subject"] for m in messages]
    code = stack.graphql(
        "query($c: ID!) { course(id: $c) { viewerEnrollment { certificate { code } } } }",
        {"c": course["id"]},
        token=token,
    ).json()["data"]["course"]["viewerEnrollment"]["certificate"]["code"]
    verification_url = f"{rest_url}/certificates/{code}"
    context = {
        "name": "Mail Learner",
        "course_title": title,
        "certificate_code": code,
        "verification_url": verification_url,
    }
    assert_email(certificate[0], Kind.CERTIFICATE_ISSUED, learner_email, context, rest_url=rest_url)
    # The verification link works for anyone, with no session.
    verified = httpx.get(verification_url, timeout=10)
    assert verified.status_code == 200, verified.text
    assert verified.json()["data"]["holder"]["name"] == "Mail Learner"
    assert verified.json()["data"]["course"]["title"] == title
    missing = httpx.get(f"{rest_url}/certificates/CG-NOPE", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"

    # The history shows each of them sent, with SendGrid's message id.
    entries = history(stack, token)
    assert sorted(e["type"] for e in entries) == sorted(
        ["welcome", "enrollment_confirmed", "assessment_result", "course_completed", "certificate_issued"]
    )
    sent_ids = {m["message_id"] for m in messages}
    for entry in entries:
        assert entry["status"] == "sent" and entry["attempts"] == 1 and entry["recipient"] == learner_email
        assert entry["provider_message_id"] in sent_ids


def test_history_is_the_users_own_and_admins(stack: E2EStack, sendgrid: FakeSendGrid) -> None:
    email = unique_email("mail-private")
    owner = stack.sign_in(email, name="Private Person")
    mail_for(sendgrid, email, 1)
    query = "query($id: ID!) { user(id: $id) { notifications(first: 5) { edges { node { type status } } } } }"
    variables = {"id": owner["user"]["id"]}
    stranger = stack.sign_in(name="Nosy")
    refused = stack.graphql(query, variables, token=stranger["access_token"]).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    anonymous = stack.graphql(query, variables).json()
    assert anonymous["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN"), anonymous
    admin = stack.sign_in_admin()
    seen = stack.graphql(query, variables, token=admin["access_token"]).json()
    assert seen["data"]["user"]["notifications"]["edges"] == [{"node": {"type": "WELCOME", "status": "SENT"}}]
    assert history(stack, owner["access_token"])[0]["type"] == "welcome"

    # Paging: bad cursors and sizes are clear errors.
    bad = stack.rest("GET", "/notifications", token=owner["access_token"], params={"first": 0})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_USER_INPUT"
    bad = stack.rest("GET", "/notifications", token=owner["access_token"], params={"after": "nope"})
    assert bad.status_code == 400
    assert stack.rest("GET", "/notifications").status_code == 401


def test_opting_out_sends_nothing_of_that_category_but_account_mail_always_goes(
    stack: E2EStack, sendgrid: FakeSendGrid
) -> None:
    email = unique_email("mail-optout")
    learner = stack.sign_in(email, name="Quiet Learner")
    token = learner["access_token"]
    mail_for(sendgrid, email, 1)

    refused = stack.rest(
        "PUT", "/notifications/preferences", token=token,
        json={"preferences": [{"category": "account", "subscribed": False}]},
    )  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "BAD_USER_INPUT", refused.text
    changed = stack.rest(
        "PUT", "/notifications/preferences", token=token,
        json={"preferences": [{"category": "courses", "subscribed": False}]},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    preferences = {p["category"]: p["subscribed"] for p in changed.json()["data"]}
    assert preferences == {
        "account": True, "courses": False, "assessments": True, "certificates": True, "announcements": True,
    }  # fmt: skip
    junk = stack.rest(
        "PUT", "/notifications/preferences", token=token, json={"preferences": [{"category": "spam"}]}
    )
    assert junk.status_code == 400

    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)
    eventually(
        lambda: any(e["type"] == "enrollment_confirmed" for e in history(stack, token)),
        what="the skipped enrollment email in the history",
    )
    (skipped,) = [e for e in history(stack, token) if e["type"] == "enrollment_confirmed"]
    assert skipped["status"] == "skipped" and skipped["attempts"] == 0
    admin = stack.sign_in_admin()
    promoted = stack.rest(
        "PUT", f"/users/{learner['user']['id']}", token=admin["access_token"], json={"role": "instructor"}
    )
    assert promoted.status_code == 200
    messages = mail_for(sendgrid, email, 2)
    assert [m["subject"] for m in messages][1].startswith("Your CourseGraph role"), "account mail still goes"


def test_one_click_unsubscribe_needs_no_session_and_refuses_bad_tokens(
    stack: E2EStack, sendgrid: FakeSendGrid
) -> None:
    email = unique_email("mail-unsubscribe")
    learner = stack.sign_in(email, name="Leaving Learner")
    token = learner["access_token"]
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    stack.graphql(ENROLL, {"c": course["id"]}, token=token)
    enrolled = by_subject(mail_for(sendgrid, email, 2), "You are enrolled")
    link = enrolled["headers"]["List-Unsubscribe"][1:-1]

    # What a mail client does (RFC 8058): POST the link with this form body, no cookies, no token.
    for _ in range(2):  # idempotent
        done = httpx.post(link, content=b"List-Unsubscribe=One-Click", timeout=10,
                          headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert done.status_code == 200, done.text
        assert done.json()["data"] == {"category": "courses"}
    preferences = stack.rest("GET", "/notifications/preferences", token=token).json()["data"]
    assert {p["category"]: p["subscribed"] for p in preferences} == {
        "account": True, "courses": False, "assessments": True, "certificates": True, "announcements": True,
    }  # fmt: skip

    signed = parse_qs(urlsplit(link).query)["token"][0]
    tampered = signed[:-2] + ("AA" if not signed.endswith("AA") else "BB")
    tokens = UnsubscribeTokens(DEV_UNSUBSCRIBE_SECRET, max_age_seconds=60)
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 61 * 24 * 3600):
        expired = tokens.issue(learner["user"]["id"], Category.ASSESSMENTS)
    foreign = UnsubscribeTokens("another-secret", max_age_seconds=3600).issue(
        learner["user"]["id"], Category.ASSESSMENTS
    )
    for bad in (tampered, expired, foreign, "not-a-token"):
        refused = stack.rest("POST", "/notifications/unsubscribe", params={"token": bad})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "BAD_USER_INPUT"
    missing = stack.rest("POST", "/notifications/unsubscribe")
    assert missing.status_code == 400
    after = stack.rest("GET", "/notifications/preferences", token=token).json()["data"]
    assert after == preferences, "a refused token changes nothing"


async def test_an_event_published_twice_sends_one_email(
    stack: E2EStack, sendgrid: FakeSendGrid, kafka_bootstrap: str
) -> None:
    email = unique_email("mail-twice")
    learner = stack.sign_in(email, name="Twice")
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], lessons=1)
    stack.graphql(ENROLL, {"c": course["id"]}, token=learner["access_token"])
    mail_for(sendgrid, email, 2)
    (enrolled,) = [
        event
        for _, event in await collect_events(
            kafka_bootstrap,
            "course.events",
            lambda e: e["event_type"] == "COURSE_ENROLLED" and e["course_id"] == course["id"],
            within=10,
            settle=1,
        )
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(2):  # a replayed event, and a redelivered one
            sent = await producer.send_and_wait(
                "course.events", json.dumps(enrolled).encode(), key=course["id"].encode()
            )
    finally:
        await producer.stop()
    # Both copies went to one partition (one key): once the group committed past the second, the
    # consumer has handled both, so any email they caused has been sent.
    group = stack.env["COURSEGRAPH_KAFKA_CONSUMER_GROUP_PREFIX"] + GROUP_ID
    await wait_until_committed(
        kafka_bootstrap, group, {TopicPartition(sent.topic, sent.partition): sent.offset}
    )
    assert len(sendgrid.to(email)) == 2, "welcome and one enrollment email, however often the event comes"


async def test_429_then_202_sends_once_after_a_retry_and_400_parks_in_the_dlq(
    stack: E2EStack, sendgrid: FakeSendGrid, kafka_bootstrap: str
) -> None:
    busy_email = unique_email("mail-busy")
    sendgrid.answer_next(429, {"Retry-After": "1"}, to=busy_email)
    busy = stack.sign_in(busy_email, name="Busy")
    (sent,) = mail_for(sendgrid, busy_email, 1)
    (entry,) = history(stack, busy["access_token"])
    assert entry["status"] == "sent" and entry["attempts"] == 2, entry
    assert entry["provider_message_id"] == sent["message_id"]

    refused_email = unique_email("mail-refused")
    sendgrid.answer_next(400, to=refused_email)
    refused = stack.sign_in(refused_email, name="Refused")
    eventually(
        lambda: [e["status"] for e in history(stack, refused["access_token"])] == ["failed"],
        what="a failed history entry",
    )
    (failed,) = history(stack, refused["access_token"])
    assert failed["attempts"] == 1 and "400" in failed["failure_reason"]
    assert sendgrid.to(refused_email) == []
    parked = await collect_dead_letters(
        kafka_bootstrap, "user.events.dlq", lambda e: e.get("user_id") == refused["user"]["id"], within=20
    )
    assert len(parked) == 1, parked
    headers, event = parked[0]
    assert event["event_type"] == "USER_REGISTERED"
    assert "400" in headers["error"] and headers["source-topic"] == "user.events"
    assert headers["consumer-group"].endswith("notifications")


def test_sendgrid_unreachable_for_a_while_loses_nothing(start_stack: StartStack) -> None:
    fake = FakeSendGrid()
    port = free_port()
    env = {
        "COURSEGRAPH_SENDGRID_API_KEY": fake.api_key,
        "COURSEGRAPH_SENDGRID_HOST": f"http://127.0.0.1:{port}",
    }
    with start_stack("sendgrid-away", env) as stack:
        wait_for_notifications_consumer(stack.stack)
        emails = [unique_email("mail-away") for _ in range(3)]
        people = [stack.sign_in(email, name=f"Patient {i}") for i, email in enumerate(emails)]
        eventually(
            lambda: all(
                [e["status"] for e in history(stack, p["access_token"])] == ["pending"] for p in people
            ),
            what="pending entries while SendGrid is away",
        )
        time.sleep(3)  # a few failed rounds
        pending = history(stack, people[0]["access_token"])[0]
        assert pending["status"] == "pending" and pending["attempts"] >= 1, pending
        with run_fake_sendgrid(fake, port=port):
            for email in emails:
                mail_for(fake, email, 1, within=60)
            for person in people:
                (entry,) = history(stack, person["access_token"])
                assert entry["status"] == "sent" and entry["attempts"] >= 2, entry
        report = stack.metrics("notifications")
        assert report['coursegraph_notifications_total{kind="welcome",outcome="sent"}'] >= 3
        assert report['coursegraph_notifications_retried_total{kind="welcome"}'] >= 3


async def test_an_unreadable_event_is_parked_and_the_rest_go_out(
    stack: E2EStack, sendgrid: FakeSendGrid, kafka_bootstrap: str
) -> None:
    marker = uuid.uuid4().hex
    bogus_user = str(uuid.uuid4())
    # A role change without its roles, and bytes that are no event: neither can become an email.
    broken = Event(event_type="USER_ROLE_CHANGED", user_id=bogus_user, metadata={}, source="users")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("user.events", broken.to_bytes(), key=bogus_user.encode())
        await producer.send_and_wait("user.events", f"not json {marker}".encode(), key=marker.encode())
    finally:
        await producer.stop()
    email = unique_email("mail-after-poison")
    stack.sign_in(email, name="After Poison")
    mail_for(sendgrid, email, 1)  # the partition moved on

    # This stack's consumer group; any other stack on the same Kafka reads (and parks) them too.
    group = stack.env["COURSEGRAPH_KAFKA_CONSUMER_GROUP_PREFIX"] + GROUP_ID
    parked = await collect_dead_letters(
        kafka_bootstrap,
        "user.events.dlq",
        lambda e: e.get("user_id") == bogus_user and e.get("event_type") == "USER_ROLE_CHANGED",
        within=20,
    )
    parked = [(headers, event) for headers, event in parked if headers["consumer-group"] == group]
    assert len(parked) == 1 and "cannot read USER_ROLE_CHANGED" in parked[0][0]["error"], parked
    garbage = await collect_dead_letters(
        kafka_bootstrap, "user.events.dlq", lambda e: marker in e.get("_raw", ""), within=20
    )
    garbage = [(headers, event) for headers, event in garbage if headers["consumer-group"] == group]
    assert garbage, "bytes that are no event are parked too"
    assert all(headers["error"].startswith("not an event") for headers, _ in garbage)
