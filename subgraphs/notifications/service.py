"""Turning one notification request into at most one email (ADR 0019): the consumer's core.

`Notifier.deliver` claims the notification's record, checks the recipient's preferences, renders the
email, sends it, and records the outcome, in that order. A permanent refusal, or an event that lacks what
its template needs, is recorded `failed` and returned, for the consumer to park in the topic's DLQ. A
transient failure (every retry spent) gives the claim back, still pending with its attempts counted, and
raises: the consumer leaves the offset uncommitted, and the redelivery tries again. So does a claim
another consumer holds (ClaimHeld): its outcome is not known until its lease runs out.

A claim taken over from a consumer that died mid-way first asks SendGrid whether that consumer's email
went out (its key is in `custom_args`): if it did, the record says `sent` and nothing is sent again.
"""

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import jinja2
from bson import ObjectId

from coursegraph.codes import FieldCode
from coursegraph.errors import BadUserInput, FieldError, ValidationFailed
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.security import Actor
from subgraphs.notifications import permissions
from subgraphs.notifications.delivery import (
    ActivityUnavailable,
    Email,
    PermanentFailure,
    Sent,
    TransientFailure,
)
from subgraphs.notifications.models import Status
from subgraphs.notifications.rendering import Kind, Renderer
from subgraphs.notifications.repository import NotificationRecords, Preferences
from subgraphs.notifications.unsubscribe import (
    CATEGORY,
    ESSENTIAL,
    Category,
    InvalidToken,
    OptOut,
    UnsubscribeTokens,
)

logger = logging.getLogger(__name__)


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
    RECOVERED = "recovered"  # sent by a consumer that died before recording it; now recorded
    SKIPPED = "skipped"  # opted out
    DUPLICATE = "duplicate"  # already handled, or being handled by another consumer
    FAILED = "failed"  # refused for good: park it


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    attempts: int = 0  # requests made to SendGrid for it this time
    reason: str | None = None  # why it failed


class Mailer(Protocol):
    """SendGrid, or the dev profile's console."""

    async def send(self, email: Email) -> Sent: ...

    async def accepted(self, key: str) -> str | None: ...


class Notifier:
    def __init__(
        self,
        records: NotificationRecords,
        preferences: Preferences,
        mailer: Mailer,
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

    async def deliver(self, request: Request) -> Delivery:
        category = CATEGORY[request.kind]
        fields = {"user_id": request.user_id, "to": request.to, "category": category.value}
        claim = await self._records.claim(request.event_id, request.kind, fields)  # may raise ClaimHeld
        if claim is None:
            return Delivery(Outcome.DUPLICATE)
        if claim.taken_over and (message_id := await self._sent_before(str(claim.id))):
            await self._records.finish(claim, Status.SENT, attempts=0, provider_message_id=message_id)
            return Delivery(Outcome.RECOVERED)
        if category not in ESSENTIAL and category in await self._preferences.opted_out(request.user_id):
            await self._records.finish(claim, Status.SKIPPED, attempts=0)
            return Delivery(Outcome.SKIPPED)
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
            return Delivery(Outcome.FAILED, reason=reason)
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
            return Delivery(Outcome.FAILED, attempts=failure.attempts, reason=failure.reason)
        await self._records.finish(
            claim, Status.SENT, attempts=sent.attempts, provider_message_id=sent.message_id
        )
        return Delivery(Outcome.SENT, attempts=sent.attempts)

    async def _sent_before(self, key: str) -> str | None:
        try:
            return await self._mailer.accepted(key)
        except ActivityUnavailable as unavailable:
            # Without the activity history, sending again is the only way not to lose the email.
            logger.warning("cannot tell whether notification %s went out (%s): sending it", key, unavailable)
            return None


@dataclass(frozen=True)
class Preference:
    category: Category
    subscribed: bool

    @property
    def essential(self) -> bool:
        return self.category in ESSENTIAL


class NotificationService:
    """History and preferences, for the graph: the only way to them, taking the caller."""

    def __init__(
        self, records: NotificationRecords, preferences: Preferences, tokens: UnsubscribeTokens
    ) -> None:
        self._records = records
        self._preferences = preferences
        self._tokens = tokens

    async def history(
        self, actor: Actor, user_id: str, *, first: int, after: str | None
    ) -> Page[dict[str, Any]]:
        permissions.check_may_see(actor, user_id)
        limit = page_size(first)
        position = decode_cursor(after, valid_id=ObjectId.is_valid)
        rows = await self._records.of_user(user_id, limit=limit + 1, after=position)
        items = [(encode_cursor(Position(row["created_at"], str(row["_id"]))), row) for row in rows[:limit]]
        return Page(items=items, has_next=len(rows) > limit)

    async def preferences_of(self, actor: Actor, user_ids: list[str]) -> list[list[Preference]]:
        """Batched (the DataLoader): each user's subscription to every category."""
        for user_id in user_ids:
            permissions.check_may_see(actor, user_id)
        opted_out = await self._preferences.opted_out_of_users(user_ids)
        return [[Preference(c, c in ESSENTIAL or c not in out) for c in Category] for out in opted_out]

    async def set_preferences(
        self, actor: Actor, user_id: str, subscribed: dict[Category, bool]
    ) -> list[Preference]:
        permissions.check_may_change(actor, user_id)
        refused = [c for c, on in subscribed.items() if c in ESSENTIAL and not on]
        if refused:
            raise ValidationFailed(
                [
                    FieldError(
                        "category",
                        FieldCode.ESSENTIAL,
                        f"{c.value} mail (sign-in and security) is always sent.",
                    )
                    for c in refused
                ]
            )
        for category, on in subscribed.items():
            if category in ESSENTIAL:
                continue
            if on:
                await self._preferences.opt_in(user_id, category)
            else:
                await self._preferences.opt_out(OptOut(user_id, category))
        return (await self.preferences_of(actor, [user_id]))[0]

    async def unsubscribe(self, token: str) -> OptOut:
        """RFC 8058 one-click: no session; the token is the whole authority, for that one opt-out."""
        try:
            opt_out = self._tokens.read(token)
        except InvalidToken as invalid:
            raise BadUserInput(str(invalid), details={"field": "token"}) from invalid
        await self._preferences.opt_out(opt_out)
        return opt_out
