"""From a batch of events to their emails' outcomes: what the consumer does with what it polled.

Each event ends up one of three ways: done (sent, skipped, a duplicate, or no email at all), parked (a
permanent failure: the consumer puts it on the topic's DLQ), or postponed (a transient failure, or a
claim another consumer holds: the offset stays uncommitted and the event is read again later).
Recipients the events do not carry are looked up in one call per batch.
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
from subgraphs.notifications.delivery import TransientFailure
from subgraphs.notifications.events import Links, Recipient, Wanted, wanted
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


class Pipeline:
    def __init__(
        self,
        notifier: Notifier,
        directory: Directory,
        links: Links,
        *,
        concurrency: int = 8,
        tracer: Tracer | None = None,
        group_id: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._tracer, self._group_id = tracer, group_id
        self._notifier = notifier
        self._directory = directory
        self._links = links
        self._limit = asyncio.Semaphore(concurrency)  # SendGrid requests in flight at once
        self._clock = clock

    async def handle(self, events: list[tuple[str, Event]]) -> list[Result]:
        """One result per (topic, event), in order."""
        results: list[Result | None] = [None] * len(events)
        asked: dict[int, Wanted] = {}
        for index, (topic, event) in enumerate(events):
            try:
                want = wanted(topic, event, self._links)
            except (KeyError, TypeError, ValueError) as error:  # an event without what its type promises
                results[index] = Park(f"cannot read {event.event_type}: {error!r}")
                continue
            if want is None:
                results[index] = Done(None)
            else:
                asked[index] = want
        recipients = await self._recipients(asked, results)
        await asyncio.gather(
            *(
                self._deliver(index, *events[index], want, recipients.get(want.user_id), results)
                for index, want in asked.items()
                if results[index] is None
            )
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
            results[index] = await self._send(event, want, recipient)

    async def _send(self, event: Event, want: Wanted, recipient: Recipient) -> Result:
        context = {"name": recipient.name, **want.context}
        request = Request(str(event.event_id), want.kind, want.user_id, recipient.email, context)
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
