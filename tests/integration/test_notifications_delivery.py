"""Notification emails: templates rendered, and sent through the `sendgrid` library to a local fake of
SendGrid's v3 mail-send API, with the retries the issue asks for (issue 9, first part)."""

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
from itsdangerous import URLSafeTimedSerializer
from typer.testing import CliRunner

from coursegraph_cli import cli
from subgraphs.notifications.delivery import (
    NOTIFICATION_KEY_ARG,
    Email,
    PermanentFailure,
    SendGridMailer,
    TransientFailure,
    retry_after_seconds,
)
from subgraphs.notifications.rendering import SAMPLES, Kind, Renderer
from subgraphs.notifications.unsubscribe import (
    CATEGORY,
    ESSENTIAL,
    SALT,
    Category,
    InvalidToken,
    OptOut,
    UnsubscribeTokens,
)
from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid
from tests.support.servers import free_port


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_a_subject_and_both_parts(kind: Kind) -> None:
    rendered = Renderer().render(kind, {**SAMPLES[kind], "unsubscribe_url": "https://x/unsubscribe?t=1"})
    assert rendered.subject and "\n" not in rendered.subject and "{" not in rendered.subject
    assert "Ada Lovelace" in rendered.text and "Ada Lovelace" in rendered.html
    assert "<html" in rendered.html and "<" not in rendered.text
    assert (
        "https://x/unsubscribe?t=1" in rendered.text and 'href="https://x/unsubscribe?t=1"' in rendered.html
    )


def test_html_is_escaped_subjects_are_one_line_and_nothing_is_left_out() -> None:
    renderer = Renderer()
    hostile = {
        **SAMPLES[Kind.COURSE_COMPLETED],
        "name": "<script>x()</script>",
        "course_title": "A\r\nBcc: x",
    }
    rendered = renderer.render(Kind.COURSE_COMPLETED, hostile)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert rendered.subject == "You completed A Bcc: x"
    assert "Unsubscribe" not in rendered.text, "no unsubscribe link without an unsubscribe URL"
    with pytest.raises(jinja2.UndefinedError):
        renderer.render(Kind.COURSE_COMPLETED, {"name": "Ada"})


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


# --- delivery against the fake ---------------------------------------------------------------------------


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with run_fake_sendgrid() as fake:
        yield fake


def mailer(fake: FakeSendGrid, **options: Any) -> SendGridMailer:
    defaults: dict[str, Any] = {"attempts": 4, "backoff_seconds": 0.05, "max_wait_seconds": 2.0}
    return SendGridMailer(
        fake.api_key, sender="noreply@coursegraph.test", host=fake.base_url, **defaults | options
    )


def email(key: str = "event-1:welcome") -> Email:
    rendered = Renderer().render(
        Kind.WELCOME, {**SAMPLES[Kind.WELCOME], "unsubscribe_url": "https://x/u?t=1"}
    )
    return Email(
        to="ada@example.org",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        key=key,
        headers={
            "List-Unsubscribe": "<https://x/u?t=1>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


async def test_an_email_reaches_sendgrid_with_both_parts_its_key_and_headers(sendgrid: FakeSendGrid) -> None:
    sent = await mailer(sendgrid).send(email())
    assert sent.attempts == 1
    (message,) = sendgrid.received
    assert sent.message_id == message["message_id"]
    assert message["from"]["email"] == "noreply@coursegraph.test"
    (personalization,) = message["personalizations"]
    assert personalization["to"] == [{"email": "ada@example.org"}]
    assert message["subject"] == "Welcome to CourseGraph, Ada Lovelace"
    parts = {part["type"]: part["value"] for part in message["content"]}
    assert set(parts) == {"text/plain", "text/html"} and "Ada Lovelace" in parts["text/plain"]
    assert message["custom_args"] == {NOTIFICATION_KEY_ARG: "event-1:welcome"}
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_429_then_202_sends_once_after_the_retry_after_it_asked_for(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer_next(429, {"Retry-After": "1"})
    started = time.monotonic()
    sent = await mailer(sendgrid).send(email())
    assert sent.attempts == 2 and sendgrid.requests == 2 and len(sendgrid.received) == 1
    assert time.monotonic() - started >= 0.9, "Retry-After: 1 was honoured"


async def test_5xx_answers_are_retried_with_backoff_until_one_is_accepted(sendgrid: FakeSendGrid) -> None:
    for status in (500, 502, 503):
        sendgrid.answer_next(status)
    sent = await mailer(sendgrid).send(email())
    assert sent.attempts == 4 and len(sendgrid.received) == 1


async def test_a_400_is_permanent_and_tried_once(sendgrid: FakeSendGrid) -> None:
    sendgrid.answer_next(400)
    with pytest.raises(PermanentFailure) as failed:
        await mailer(sendgrid).send(email())
    assert failed.value.status == 400 and failed.value.attempts == 1 and sendgrid.requests == 1
    assert "400" in failed.value.reason and sendgrid.received == []


async def test_a_wrong_api_key_is_permanent(sendgrid: FakeSendGrid) -> None:
    wrong = SendGridMailer("SG.wrong", sender="noreply@coursegraph.test", host=sendgrid.base_url, attempts=3)
    with pytest.raises(PermanentFailure) as failed:
        await wrong.send(email())
    assert failed.value.status == 401 and sendgrid.requests == 1


async def test_sendgrid_unreachable_is_transient_after_every_attempt() -> None:
    nowhere = SendGridMailer(
        "SG.x", sender="noreply@coursegraph.test", host=f"http://127.0.0.1:{free_port()}", attempts=3,
        backoff_seconds=0.01, max_wait_seconds=0.05,
    )  # fmt: skip
    with pytest.raises(TransientFailure) as failed:
        await nowhere.send(email())
    assert failed.value.status is None and failed.value.attempts == 3


def test_the_preview_command_renders_an_email_without_sending_it(tmp_path: Path) -> None:
    html = tmp_path / "certificate.html"
    result = CliRunner().invoke(cli.app, ["preview-email", "certificate_issued", "--html", str(html)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Subject: Your certificate for Analytical Engines\n")
    assert "CG-7Q2M-K4XD-9PLA" in result.output and "Unsubscribe:" in result.output
    assert "<html" in html.read_text()
    unknown = CliRunner().invoke(cli.app, ["preview-email", "newsletter"])
    assert unknown.exit_code == 2 and "Kinds: welcome" in unknown.output


# --- one-click unsubscribe tokens ------------------------------------------------------------------------


def test_an_unsubscribe_token_names_one_user_and_one_category() -> None:
    tokens = UnsubscribeTokens("secret-1", max_age_seconds=60)
    token = tokens.issue("user-1", Category.COURSES)
    assert tokens.read(token) == OptOut(user_id="user-1", category=Category.COURSES)
    headers = tokens.headers("https://learn.example.org/notifications/unsubscribe", token)
    assert (
        headers["List-Unsubscribe"] == f"<https://learn.example.org/notifications/unsubscribe?token={token}>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {CATEGORY[kind] for kind in Kind} >= {Category.ACCOUNT, Category.COURSES}


def test_tampered_foreign_and_expired_tokens_are_refused() -> None:
    tokens = UnsubscribeTokens("secret-1", max_age_seconds=60)
    token = tokens.issue("user-1", Category.ASSESSMENTS)
    payload = token.rpartition(".")[0]
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), payload + ".x", "", "not-a-token"):
        with pytest.raises(InvalidToken):
            tokens.read(bad)
    with pytest.raises(InvalidToken):
        UnsubscribeTokens("another-secret", max_age_seconds=60).read(token)
    # Another purpose's signature with the same secret is not an unsubscribe token.
    with pytest.raises(InvalidToken):
        tokens.read(
            URLSafeTimedSerializer("secret-1", salt="other").dumps({"user": "u", "category": "courses"})
        )
    with pytest.raises(InvalidToken):
        UnsubscribeTokens("secret-1", max_age_seconds=-1).read(token)  # expired


def test_account_and_security_mail_has_no_unsubscribe_token() -> None:
    tokens = UnsubscribeTokens("secret-1", max_age_seconds=60)
    with pytest.raises(ValueError, match="cannot be unsubscribed"):
        tokens.issue("user-1", Category.ACCOUNT)
    signer = {"digest_method": hashlib.sha256}
    forged_purpose = URLSafeTimedSerializer("secret-1", salt=SALT, signer_kwargs=signer).dumps(
        {"user": "u", "category": "account"}
    )
    with pytest.raises(InvalidToken):
        tokens.read(forged_purpose)
    assert CATEGORY[Kind.ROLE_CHANGED] in ESSENTIAL and CATEGORY[Kind.WELCOME] in ESSENTIAL
