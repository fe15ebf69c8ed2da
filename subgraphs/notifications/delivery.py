"""One email through SendGrid's v3 mail-send API (the `sendgrid` library), retried when that can help.

- 202: sent; SendGrid's `X-Message-Id` identifies it.
- 429 and 5xx, or no answer at all: transient. Retried with exponential backoff and full jitter, or after
  the `Retry-After` the answer gave, up to `attempts` tries.
- Any other 4xx: permanent (a bad address, a refused key). Retrying cannot help, and the caller parks it.

SendGrid has no idempotency key, so a retry after a lost 202 may send twice. The notification record,
written before sending, is what keeps an event from being mailed again (ADR 0019). Its key travels in
`custom_args`, so that provider webhooks can be matched to it, and so that `accepted` can ask SendGrid's
Email Activity API whether a message with that key went out before a consumer died.
"""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Header, Mail
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429}) | frozenset(range(500, 600))
NOTIFICATION_KEY_ARG = "notification_key"


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    key: str  # the notification's unique key: goes out in custom_args
    headers: dict[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe (RFC 8058)


@dataclass(frozen=True)
class Sent:
    message_id: str | None
    attempts: int


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, status: int | None, attempts: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.attempts = attempts


class PermanentFailure(DeliveryFailed):
    """SendGrid refused the email; sending it again would be refused again."""


class ActivityUnavailable(Exception):
    """SendGrid's Email Activity API could not say (not part of the account's plan, or unreachable)."""


class TransientFailure(DeliveryFailed):
    """SendGrid was busy, failing or unreachable; `retry_after` (seconds) is when it asked to be retried."""

    def __init__(self, reason: str, *, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class SendGridMailer:
    def __init__(
        self,
        api_key: str,
        *,
        sender: str,
        host: str = "https://api.sendgrid.com",
        attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 60.0,
        timeout_seconds: float = 10.0,
        activity_lookup: bool = True,
    ) -> None:
        self._activity_lookup = activity_lookup
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        self._client.client.timeout = timeout_seconds
        self._sender = sender
        self._attempts = attempts
        self._max_wait = max_wait_seconds
        self._backoff = wait_random_exponential(multiplier=backoff_seconds, max=max_wait_seconds)

    def _wait(self, state: RetryCallState) -> float:
        """SendGrid's own Retry-After when it gave one (capped), else exponential backoff with jitter."""
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, TransientFailure) and failure.retry_after is not None:
            return min(failure.retry_after, self._max_wait)
        return float(self._backoff(state))

    async def send(self, email: Email) -> Sent:
        """Send `email`; raises PermanentFailure, or TransientFailure once every attempt failed."""
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(TransientFailure),
                wait=self._wait,
                stop=stop_after_attempt(self._attempts),
                reraise=True,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    message_id = await asyncio.to_thread(self._send_once, email)
        except DeliveryFailed as failure:
            failure.attempts = attempts
            raise
        return Sent(message_id=message_id, attempts=attempts)

    async def accepted(self, key: str) -> str | None:
        """The message id SendGrid gave an email carrying notification `key`, or None if it has none.

        Asked before a claim taken over from a dead consumer sends again: that consumer may have been
        stopped after SendGrid accepted its email. Uses the Email Activity API ("filter all messages"),
        which needs SendGrid's activity history add-on; without it, ActivityUnavailable."""
        return await asyncio.to_thread(self._accepted, key)

    def _accepted(self, key: str) -> str | None:
        if not self._activity_lookup:
            raise ActivityUnavailable("the activity lookup is switched off")
        query = f"unique_args['{NOTIFICATION_KEY_ARG}']=\"{key}\""
        try:
            response = self._client.client.messages.get(query_params={"query": query, "limit": 1})
        except HTTPError as error:
            raise ActivityUnavailable(f"SendGrid answered {error.status_code}") from error
        except (URLError, OSError) as error:
            raise ActivityUnavailable(f"SendGrid unreachable: {error}") from error
        try:
            messages = json.loads(response.body or b"{}").get("messages") or []
        except (ValueError, AttributeError) as error:
            raise ActivityUnavailable("an answer that is not the activity API's") from error
        return str(messages[0]["msg_id"]) if messages else None

    def _send_once(self, email: Email) -> str | None:
        mail = Mail(
            from_email=self._sender,
            to_emails=email.to,
            subject=email.subject,
            plain_text_content=email.text,
            html_content=email.html,
        )
        mail.custom_arg = CustomArg(NOTIFICATION_KEY_ARG, email.key)
        for name, value in email.headers.items():
            mail.header = Header(name, value)
        try:
            response = self._client.send(mail)
        except HTTPError as error:
            status = int(error.status_code)
            reason = f"SendGrid answered {status}: {_body_text(error.body)}"
            if status in TRANSIENT_STATUSES:
                retry_after = retry_after_seconds((error.headers or {}).get("Retry-After"))
                raise TransientFailure(reason, status=status, retry_after=retry_after) from error
            raise PermanentFailure(reason, status=status) from error
        except (URLError, OSError) as error:  # refused, reset, timed out: nothing was answered
            raise TransientFailure(f"SendGrid unreachable: {error}", status=None) from error
        message_id = response.headers.get("X-Message-Id")
        return str(message_id) if message_id else None


def _body_text(body: bytes | str | None) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return text[:500]


class ConsoleMailer:
    """The dev profile without a SendGrid key: each email is written to the log, whole, and counts as
    sent (the history shows it like any other)."""

    def __init__(self, *, sender: str) -> None:
        self._sender = sender

    async def send(self, email: Email) -> Sent:
        message_id = f"console-{uuid.uuid4().hex}"
        headers = "".join(f"{name}: {value}\n" for name, value in email.headers.items())
        logger.info(
            "email (dev console, not sent)\nFrom: %s\nTo: %s\nSubject: %s\n%s\n%s",
            self._sender,
            email.to,
            email.subject,
            headers,
            email.text,
            extra={"notification_key": email.key, "provider_message_id": message_id},
        )
        return Sent(message_id=message_id, attempts=1)

    async def accepted(self, key: str) -> str | None:
        return None  # nothing to ask: a redelivered dev email is written again
