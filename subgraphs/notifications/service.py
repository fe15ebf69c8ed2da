"""Turning one notification request into at most one email (ADR 0019): the consumer's core.

`Notifier.deliver` claims the notification's record, checks the recipient's preferences, renders the
email, sends it, and records the outcome, in that order. A permanent refusal, or an event that lacks what
its template needs, is recorded `failed` and returned, for the consumer to park in the topic's DLQ. A
transient failure (every retry spent) gives the claim back, still pending with its attempts counted, and
raises: the consumer leaves the offset uncommitted, and the redelivery tries again.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jinja2

from subgraphs.notifications.delivery import Email, PermanentFailure, SendGridMailer, TransientFailure
from subgraphs.notifications.rendering import Kind, Renderer
from subgraphs.notifications.repository import NotificationRecords, Preferences, Status
from subgraphs.notifications.unsubscribe import CATEGORY, ESSENTIAL, UnsubscribeTokens


@dataclass(frozen=True)
class Request:
    """An email one event asks for: whom, about what, with which template values."""

    event_id: str
    kind: Kind
    user_id: str
    to: str
    context: dict[str, Any] = field(default_factory=dict)


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # opted out
    DUPLICATE = "duplicate"  # already handled, or being handled by another consumer
    FAILED = "failed"  # refused for good: park it


class Notifier:
    def __init__(
        self,
        records: NotificationRecords,
        preferences: Preferences,
        mailer: SendGridMailer,
        tokens: UnsubscribeTokens,
        *,
        unsubscribe_endpoint: str,
        renderer: Renderer | None = None,
    ) -> None:
        self._records = records
        self._preferences = preferences
        self._mailer = mailer
        self._tokens = tokens
        self._unsubscribe_endpoint = unsubscribe_endpoint
        self._renderer = renderer or Renderer()

    async def deliver(self, request: Request) -> Outcome:
        category = CATEGORY[request.kind]
        fields = {"user_id": request.user_id, "to": request.to, "category": category.value}
        claim = await self._records.claim(request.event_id, request.kind, fields)
        if claim is None:
            return Outcome.DUPLICATE
        if category not in ESSENTIAL and category in await self._preferences.opted_out(request.user_id):
            await self._records.finish(claim, Status.SKIPPED, attempts=0)
            return Outcome.SKIPPED
        headers: dict[str, str] = {}
        context = dict(request.context)
        if category not in ESSENTIAL:
            token = self._tokens.issue(request.user_id, category)
            headers = self._tokens.headers(self._unsubscribe_endpoint, token)
            context["unsubscribe_url"] = headers["List-Unsubscribe"][1:-1]
        try:
            rendered = self._renderer.render(request.kind, context)
        except jinja2.TemplateError as error:  # the event lacks what its template needs: no retry helps
            reason = f"cannot render {request.kind}: {error}"
            await self._records.finish(claim, Status.FAILED, attempts=0, reason=reason)
            return Outcome.FAILED
        email = Email(
            to=request.to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            key=str(claim.id),
            headers=headers,
        )
        try:
            sent = await self._mailer.send(email)
        except TransientFailure as failure:
            await self._records.release(claim, attempts=failure.attempts, reason=failure.reason)
            raise
        except PermanentFailure as failure:
            await self._records.finish(
                claim,
                Status.FAILED,
                attempts=failure.attempts,
                reason=failure.reason,
                provider_status=failure.status,
            )
            return Outcome.FAILED
        await self._records.finish(
            claim, Status.SENT, attempts=sent.attempts, provider_message_id=sent.message_id
        )
        return Outcome.SENT
