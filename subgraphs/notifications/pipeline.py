"""From a batch of events to their emails' outcomes: what the consumer does with what it polled.

Each event ends up one of three ways: done (sent, skipped, a duplicate, or no email at all), parked (a
permanent failure: the consumer puts it on the topic's DLQ), or postponed (a transient failure, or a
claim another consumer holds: the offset stays uncommitted and the event is read again later).
Recipients the events do not carry are looked up in one call per batch.

An ANNOUNCEMENT_POSTED is one email to each learner of its course (issue 17): the learners come from the
courses service a page at a time, each email is keyed by the announcement and the learner, and the
event is done once every page is; a redelivery, or a restart mid-way, sends only what is not recorded.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from opentelemetry.trace import Tracer
from prometheus_client import Counter

from coursegraph.clock import Clock, system_clock
from coursegraph.events import Event
from coursegraph.events.consumer import consuming
from coursegraph.metrics import REGISTRY
from subgraphs.notifications.audience import AudiencePage
from subgraphs.notifications.delivery import TransientFailure
from subgraphs.notifications.events import (
    Links,
    Recipient,
    Wanted,
    announcement_of,
    announcement_wanted,
    wanted,
)
from subgraphs.notifications.repository import ClaimHeld
from subgraphs.notifications.service import Notifier, Outcome, Request

logger = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "coursegraph_notifications",
    "Emails by kind and outcome: sent, recovered (sent before a crash, found at SendGrid), skipped "
    "(opted out), failed (refused for good), duplicate (already handled).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "coursegraph_notifications_retried",
    "Retries: a SendGrid request repeated after 429, 5xx or no answer, and events postponed to later.",
    ["kind"],
    registry=REGISTRY,
)
# When SendGrid gave no Retry-After (or the users service failed), the first wait before reading again.
FIRST_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Done:
    outcome: Outcome | None  # None: the event asks for no email


@dataclass(frozen=True)
class Park:
    reason: str


@dataclass(frozen=True)
class Postpone:
    reason: str
    seconds: float


Result = Done | Park | Postpone


class Directory(Protocol):
    async def recipients(self, user_ids: list[str]) -> dict[str, Recipient]: ...


class Audiences(Protocol):
    async def page(self, announcement_id: str, after: str | None) -> AudiencePage | None: ...


class Pipeline:
    def __init__(
        self,
        notifier: Notifier,
        directory: Directory,
        links: Links,
        *,
        audiences: Audiences,
        concurrency: int = 8,
        tracer: Tracer | None = None,
        group_id: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._tracer, self._group_id = tracer, group_id
        self._notifier = notifier
        self._directory = directory
        self._audiences = audiences
        self._links = links
        self._limit = asyncio.Semaphore(concurrency)  # SendGrid requests in flight at once
        self._clock = clock

    async def handle(self, events: list[tuple[str, Event]]) -> list[Result]:
        """One result per (topic, event), in order."""
        results: list[Result | None] = [None] * len(events)
        asked: dict[int, Wanted] = {}
        announced: dict[int, str] = {}
        for index, (topic, event) in enumerate(events):
            try:
                announcement = announcement_of(topic, event)
                want = None if announcement else wanted(topic, event, self._links)
            except (KeyError, TypeError, ValueError) as error:  # an event without what its type promises
                results[index] = Park(f"cannot read {event.event_type}: {error!r}")
                continue
            if announcement:
                announced[index] = announcement
            elif want is None:
                results[index] = Done(None)
            else:
                asked[index] = want
        recipients = await self._recipients(asked, results)
        await asyncio.gather(
            *(
                self._deliver(index, *events[index], want, recipients.get(want.user_id), results)
                for index, want in asked.items()
                if results[index] is None
            ),
            *(
                self._announce(index, *events[index], announcement, results)
                for index, announcement in announced.items()
            ),
        )
        return [result or Done(None) for result in results]

    async def _recipients(
        self, asked: dict[int, Wanted], results: list[Result | None]
    ) -> dict[str, Recipient]:
        known = {want.user_id: want.recipient for want in asked.values() if want.recipient is not None}
        missing = [want.user_id for want in asked.values() if want.recipient is None]
        if not missing:
            return known
        try:
            return {**await self._directory.recipients(missing), **known}
        except Exception as error:  # the users service away: every event that needs it waits
            logger.warning("cannot look up %d recipients: %r", len(missing), error)
            for index, want in asked.items():
                if want.recipient is None:
                    results[index] = Postpone(f"users service: {error!r}", FIRST_RETRY_SECONDS)
            return known

    async def _deliver(
        self,
        index: int,
        topic: str,
        event: Event,
        want: Wanted,
        recipient: Recipient | None,
        results: list[Result | None],
    ) -> None:
        if recipient is None:  # the account is gone: nobody to write to
            results[index] = Done(None)
            return
        # The email's work joins the trace of the request that caused the event.
        with consuming(self._tracer, topic, event, self._group_id):
            results[index] = await self._send(str(event.event_id), want, recipient)

    async def _announce(
        self, index: int, topic: str, event: Event, announcement_id: str, results: list[Result | None]
    ) -> None:
        with consuming(self._tracer, topic, event, self._group_id):
            results[index] = await self._fan_out(announcement_id)

    async def _fan_out(self, announcement_id: str) -> Result:
        """The announcement to each learner of its course, a page at a time. A page that cannot be
        finished (SendGrid or a service away) postpones the event: the redelivery finds the emails
        sent before it recorded (one per announcement and learner) and sends the rest."""
        after: str | None = None
        refused: list[str] = []
        while True:
            try:
                page = await self._audiences.page(announcement_id, after)
                if page is None:  # no such announcement: nobody to write to
                    return Done(None)
                found = await self._directory.recipients(page.learner_ids) if page.learner_ids else {}
            except Exception as error:  # the courses or users service away: the event waits
                logger.warning("cannot find the audience of announcement %s: %r", announcement_id, error)
                return Postpone(f"audience of announcement {announcement_id}: {error!r}", FIRST_RETRY_SECONDS)
            wants = [announcement_wanted(page, user_id, self._links) for user_id in page.learner_ids]
            outcomes = await asyncio.gather(
                *(
                    self._send(f"{announcement_id}:{want.user_id}", want, recipient)
                    for want in wants
                    # A learner whose account is gone gets nothing.
                    if (recipient := found.get(want.user_id)) is not None
                )
            )
            postponed = [outcome for outcome in outcomes if isinstance(outcome, Postpone)]
            if postponed:
                return max(postponed, key=lambda outcome: outcome.seconds)
            refused += [outcome.reason for outcome in outcomes if isinstance(outcome, Park)]
            if not page.has_next:
                break
            after = page.end_cursor
        if refused:  # recorded `failed` each; the event goes to the DLQ to be looked at
            return Park(f"{len(refused)} announcement emails refused, first: {refused[0]}")
        return Done(None)

    async def _send(self, key: str, want: Wanted, recipient: Recipient) -> Result:
        """One email, keyed by `key` (its event's id, or the announcement and the learner)."""
        context = {"name": recipient.name, **want.context}
        request = Request(key, want.kind, want.user_id, recipient.email, context)
        try:
            async with self._limit:
                delivery = await self._notifier.deliver(request)
        except TransientFailure as failure:
            RETRIES.labels(want.kind).inc(max(failure.attempts, 1))
            return Postpone(failure.reason, failure.retry_after or FIRST_RETRY_SECONDS)
        except ClaimHeld as held:
            RETRIES.labels(want.kind).inc()
            return Postpone(str(held), self._seconds_until(held.lease_until))
        NOTIFICATIONS.labels(want.kind, delivery.outcome).inc()
        if delivery.attempts > 1:
            RETRIES.labels(want.kind).inc(delivery.attempts - 1)
        if delivery.outcome is Outcome.FAILED:
            return Park(delivery.reason or "failed")
        return Done(delivery.outcome)

    def _seconds_until(self, when: datetime) -> float:
        return max(0.1, (when - self._clock()).total_seconds())
