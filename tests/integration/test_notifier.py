"""One notification request, end to end but for Kafka: preferences, the record, the template, the fake
SendGrid (issue 9, ADR 0019)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from coursegraph.mongo import detect_ferretdb, mongo_client
from subgraphs.notifications.delivery import Email, SendGridMailer, TransientFailure
from subgraphs.notifications.rendering import SAMPLES, Kind
from subgraphs.notifications.repository import ClaimHeld, NotificationRecords, Preferences
from subgraphs.notifications.service import Notifier, Outcome, Request
from subgraphs.notifications.unsubscribe import Category, UnsubscribeTokens
from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid

UNSUBSCRIBE = "https://learn.example.org/notifications/unsubscribe"


@pytest.fixture
async def database(mongodb_url: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(mongodb_url, service="notifier-tests")
    await detect_ferretdb(client)
    name = f"notifier_{uuid.uuid4().hex[:12]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with run_fake_sendgrid() as fake:
        yield fake


def notifier(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid, *, lease: timedelta
) -> Notifier:
    mailer = SendGridMailer(
        sendgrid.api_key, sender="noreply@coursegraph.test", host=sendgrid.base_url, attempts=2,
        backoff_seconds=0.01, max_wait_seconds=0.05,
    )  # fmt: skip
    return Notifier(
        NotificationRecords(database["notifications"], lease=lease),
        Preferences(database["preferences"]),
        mailer,
        UnsubscribeTokens("test-secret", max_age_seconds=3600),
        unsubscribe_endpoint=UNSUBSCRIBE,
    )


def request(kind: Kind, event_id: str | None = None, user_id: str = "user-1") -> Request:
    return Request(event_id or uuid.uuid4().hex, kind, user_id, "ada@example.org", dict(SAMPLES[kind]))


async def test_an_event_delivered_twice_sends_one_email_with_its_unsubscribe_headers(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    service = notifier(database, sendgrid, lease=timedelta(minutes=5))
    enrolled = request(Kind.ENROLLMENT_CONFIRMED)
    assert (await service.deliver(enrolled)).outcome is Outcome.SENT
    assert (await service.deliver(enrolled)).outcome is Outcome.DUPLICATE
    (message,) = sendgrid.received
    assert message["subject"] == "You are enrolled in Analytical Engines"
    unsubscribe = message["headers"]["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{UNSUBSCRIBE}?token=") and unsubscribe.endswith(">")
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = next(part["value"] for part in message["content"] if part["type"] == "text/plain")
    assert unsubscribe[1:-1] in text
    record = await database["notifications"].find_one({"event_id": enrolled.event_id})
    assert (
        record is not None
        and record["status"] == "sent"
        and record["provider_message_id"] == message["message_id"]
    )


async def test_an_opted_out_category_sends_nothing_but_account_mail_always_goes(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    service = notifier(database, sendgrid, lease=timedelta(minutes=5))
    preferences = Preferences(database["preferences"])
    tokens = UnsubscribeTokens("test-secret", max_age_seconds=3600)
    opt_out = tokens.read(tokens.issue("user-1", Category.ASSESSMENTS))
    await preferences.opt_out(opt_out)
    await preferences.opt_out(opt_out)  # one-click is idempotent
    assert await preferences.opted_out("user-1") == {Category.ASSESSMENTS}

    assert (await service.deliver(request(Kind.ASSESSMENT_RESULT))).outcome is Outcome.SKIPPED
    assert (await service.deliver(request(Kind.ROLE_CHANGED))).outcome is Outcome.SENT
    assert (await service.deliver(request(Kind.ASSESSMENT_RESULT, user_id="user-2"))).outcome is Outcome.SENT
    subjects = [message["subject"] for message in sendgrid.received]
    assert subjects == ["Your CourseGraph role is now instructor", "Your result in Bernoulli numbers: 87.5%"]
    assert "headers" not in sendgrid.received[0], "no unsubscribe from account mail"


async def test_a_refusal_is_recorded_failed_and_a_transient_failure_is_retried_by_redelivery(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    service = notifier(database, sendgrid, lease=timedelta(minutes=5))
    refused = request(Kind.CERTIFICATE_ISSUED)
    sendgrid.answer_next(400)
    assert (await service.deliver(refused)).outcome is Outcome.FAILED
    record = await database["notifications"].find_one({"event_id": refused.event_id})
    assert record is not None and record["status"] == "failed" and record["provider_status"] == 400

    busy = request(Kind.COURSE_COMPLETED)
    sendgrid.answer_next(503)
    sendgrid.answer_next(503)
    with pytest.raises(TransientFailure):
        await service.deliver(busy)  # the consumer does not commit: the event comes back
    pending = await database["notifications"].find_one({"event_id": busy.event_id})
    assert pending is not None and pending["status"] == "pending" and pending["attempts"] == 2
    assert (
        await service.deliver(busy)
    ).outcome is Outcome.SENT  # given back: the redelivery takes it, sends once
    assert [m["subject"] for m in sendgrid.received] == ["You completed Analytical Engines"]
    record = await database["notifications"].find_one({"event_id": busy.event_id})
    assert record is not None and record["status"] == "sent" and record["attempts"] == 3


async def test_an_event_its_template_cannot_render_is_recorded_failed_not_retried(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    service = notifier(database, sendgrid, lease=timedelta(minutes=5))
    incomplete = Request(
        uuid.uuid4().hex, Kind.CERTIFICATE_ISSUED, "user-1", "ada@example.org", {"name": "Ada"}
    )
    assert (await service.deliver(incomplete)).outcome is Outcome.FAILED
    assert (await service.deliver(incomplete)).outcome is Outcome.DUPLICATE
    record = await database["notifications"].find_one({"event_id": incomplete.event_id})
    assert record is not None and record["status"] == "failed" and "course_title" in record["reason"]
    assert sendgrid.requests == 0


async def test_a_claim_taken_over_from_a_dead_consumer_asks_sendgrid_before_sending_again(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    lease = timedelta(milliseconds=300)
    records = NotificationRecords(database["notifications"], lease=lease)
    mailer = SendGridMailer(sendgrid.api_key, sender="noreply@coursegraph.test", host=sendgrid.base_url)
    service = notifier(database, sendgrid, lease=lease)

    # A consumer claims an email, SendGrid accepts it, and the consumer dies before recording that.
    went_out = request(Kind.COURSE_COMPLETED)
    claim = await records.claim(went_out.event_id, went_out.kind, {})
    assert claim is not None
    sent = await mailer.send(Email("ada@example.org", "Done", "text", "<p>html</p>", key=str(claim.id)))
    # Another dies right after its claim, before sending anything.
    never_sent = request(Kind.ENROLLMENT_CONFIRMED)
    assert await records.claim(never_sent.event_id, never_sent.kind, {}) is not None

    with pytest.raises(ClaimHeld):  # the redelivery comes while the dead consumer's lease is live
        await service.deliver(went_out)
    await asyncio.sleep(lease.total_seconds() + 0.1)

    assert (await service.deliver(went_out)).outcome is Outcome.RECOVERED
    assert (await service.deliver(never_sent)).outcome is Outcome.SENT
    assert (await service.deliver(went_out)).outcome is Outcome.DUPLICATE
    assert [m["subject"] for m in sendgrid.received] == ["Done", "You are enrolled in Analytical Engines"]
    recovered = await records.get(went_out.event_id, went_out.kind)
    assert recovered is not None and recovered["status"] == "sent"
    assert str(recovered["provider_message_id"]).startswith(str(sent.message_id))
