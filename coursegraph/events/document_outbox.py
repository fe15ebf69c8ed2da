"""Transactional outbox for MongoDB without transactions (FerretDB v1 has none).

An aggregate's pending events live in its own document (`outbox`), written by the same single-document
insert or update as the state change, so both happen or neither does; the same write sets the indexed
`outbox_pending` flag. The relay leases a document, publishes its events in order and pops each one
after Kafka acknowledged it. A crash between publish and pop publishes that event again: delivery is
at-least-once and consumers drop duplicates by `event_id`.

Repositories tell the relay which document they just wrote (`document_written`), and the relay publishes
it reading and writing by `_id` only. Writers append events only together with a new `version`, so once
a document's events are all sent, one write guarded by the version they were read at empties its outbox.
When the writer knows what the outbox holds after its write (an insert, or an update of a document read
with nothing pending), it says so (`Written`): the relay publishes those events as they are and empties
the outbox with that one guarded write, with no read and no lease (ADR 0006, amended 2026-12-07: six
store calls per write on FerretDB become two). If the document moved on meanwhile, the write does not
apply: the events sent are popped off the head of the outbox, and the rest is published the usual way.
The poll over the pending flag (`publish_pending`) is the safety net for what no write of this process
announced (a crash before publishing, another replica): MongoDB answers it from the flag's index,
FerretDB v1 by decoding the collection (ADR 0014), so it runs seldom.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.events.envelope import Event
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.relay import Relay
from coursegraph.mongo import guarded_update

OUTBOX = "outbox"
LEASE = "outbox_lease"
PENDING = "outbox_pending"


def outbox_entry(topic: str, key: str, event: Event) -> dict[str, Any]:
    """One pending event, as stored in the aggregate's `outbox` array."""
    return {"event_id": str(event.event_id), "topic": topic, "key": key, "payload": event.model_dump_json()}


def with_events(update: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    """`update` (a state change) that also records these events, in the same single-document write."""
    if not entries:
        return update
    return {
        **update,
        "$set": {**update.get("$set", {}), PENDING: True},
        "$push": {**update.get("$push", {}), OUTBOX: {"$each": list(entries)}},
    }


@dataclass(frozen=True, slots=True)
class Written:
    """What a document's outbox holds after a write, as its writer knows it: these, at this version."""

    version: int
    entries: Sequence[dict[str, Any]]

    @classmethod
    def inserted(cls, document: Any) -> "Written":
        """A document this process just inserted: its outbox is what it was inserted with."""
        return cls(document.version, list(document.outbox))


class DocumentOutboxRelay(Relay):
    def __init__(
        self,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        publisher: EventPublisher,
        *,
        batch_size: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, max_backoff_seconds=max_backoff_seconds)
        self._collections = {collection.name: collection for collection in collections}
        self._publisher = publisher
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        # Documents written by this process with events to publish, in write order, each with the number
        # of its latest announcement (a write while the relay publishes it must not be forgotten) and
        # what the writer knew its outbox to hold, if it knew.
        self._written: dict[tuple[str, Any], tuple[int, Written | None]] = {}
        self._announcements = itertools.count()

    def document_written(self, collection: str, document_id: Any, written: Written | None = None) -> None:
        """A write of this process recorded events in this document: publish them now. `written`: what
        its outbox holds now, when the writer knows it (then nothing is read to publish it)."""
        key = (collection, document_id)
        # A second write before the first was published: only the document itself knows the outbox now.
        known = written if key not in self._written else None
        self._written[key] = (next(self._announcements), known)
        self.notify()

    async def publish_notified(self) -> int:
        published = 0
        while self._written:
            key, (announced, written) = next(iter(self._written.items()))
            collection = self._collections[key[0]]
            # A failure raises and leaves the document first in line for the retry.
            emptied = written is not None and await self._publish_written(collection, key[1], written)
            published += len(written.entries) if written is not None else 0
            if not emptied:
                published += await self._publish_document(collection, key[1])
            if self._written.get(key, (None,))[0] == announced:
                del self._written[key]
            else:  # written again meanwhile: its new events may not have been read yet
                self._written[key] = (self._written.pop(key)[0], None)
        return published

    async def _publish_written(
        self, collection: AsyncCollection[dict[str, Any]], document_id: Any, written: Written
    ) -> bool:
        """Publish the events the writer knew of; whether that emptied the outbox (else the document has
        moved on, and is published the usual way)."""
        for entry in written.entries:
            await self._publisher.publish(
                entry["topic"], entry["key"], Event.model_validate_json(entry["payload"])
            )
        done = {"$set": {OUTBOX: [], PENDING: False, LEASE: None}}
        if await guarded_update(collection, document_id, {"version": written.version}, done):
            return True
        # Moved on: a later write appended its events behind these. Take these off the head, in order,
        # as the usual way does, so that it publishes only the rest (no event goes out twice).
        for entry in written.entries:
            await guarded_update(
                collection, document_id, {f"{OUTBOX}.0.event_id": entry["event_id"]}, {"$pop": {OUTBOX: -1}}
            )
        return False

    async def publish_pending(self) -> int:
        published = await self.publish_notified()
        now = datetime.now(UTC)
        for collection in self._collections.values():
            free = {"$or": [{LEASE: None}, {LEASE: {"$lt": now}}]}
            pending = collection.find({PENDING: True, **free}, {"_id": 1})
            for document in await pending.limit(self._batch_size).to_list():
                published += await self._publish_document(collection, document["_id"])
        return published

    async def _publish_document(self, collection: AsyncCollection[dict[str, Any]], document_id: Any) -> int:
        """Publish a document's events in order; return how many. Reads and writes go by `_id`."""
        published = 0
        while True:
            document = await collection.find_one({"_id": document_id})
            if document is None:
                return published
            entries: list[dict[str, Any]] = document.get(OUTBOX) or []
            if not entries:
                # Clear the flag unless a writer appended meanwhile (then the next pass sees it).
                if document.get(PENDING):
                    await guarded_update(collection, document_id, {OUTBOX: []}, {"$set": {PENDING: False}})
                return published
            now = datetime.now(UTC)
            lease = document.get(LEASE)
            # The lease keeps replicas of a service from publishing the same document at once.
            if lease is not None and lease > now:
                return published
            claimed = await guarded_update(
                collection, document_id, {LEASE: lease}, {"$set": {LEASE: now + self._lease}}
            )
            if not claimed:
                return published
            sent = 0
            try:
                for entry in entries:
                    event = Event.model_validate_json(entry["payload"])
                    await self._publisher.publish(entry["topic"], entry["key"], event)
                    sent += 1
            finally:
                # Writers append events only with a new version: if it is still the one read, every event
                # in the outbox is one just sent, and one write empties it. Else pop what was sent, in
                # order, and look again.
                done = {"$set": {OUTBOX: [], PENDING: False, LEASE: None}}
                emptied = sent == len(entries) and await guarded_update(
                    collection, document_id, {"version": document.get("version")}, done
                )
                if not emptied:
                    for entry in entries[:sent]:
                        await guarded_update(
                            collection,
                            document_id,
                            {f"{OUTBOX}.0.event_id": entry["event_id"]},
                            {"$pop": {OUTBOX: -1}},
                        )
                    await guarded_update(collection, document_id, {}, {"$set": {LEASE: None}})
            published += sent
            if emptied:  # nothing was appended since the read: no need to look again
                return published


class Versioned(Protocol):
    """A document read earlier: its id and the version it had then."""

    id: Any
    version: int


async def versioned_update(
    relay: DocumentOutboxRelay,
    collection: AsyncCollection[dict[str, Any]],
    document: Versioned,
    fields: Mapping[str, Any],
    events: Sequence[dict[str, Any]] = (),
    *,
    inc: Mapping[str, int] | None = None,
    guard: Mapping[str, Any] | None = None,
) -> bool:
    """Set `fields` and record `events` in one write, only if the document is still at the version it was
    read at (and meets `guard`); a new version marks the change. Return whether it applied; the relay
    hears of the events it recorded."""
    update: dict[str, Any] = {"$set": dict(fields), "$inc": {**(inc or {}), "version": 1}}
    conditions = {**(guard or {}), "version": document.version}
    applied = await guarded_update(collection, document.id, conditions, with_events(update, *events))
    if applied and events:
        # Read with nothing pending, the outbox now holds exactly these events.
        nothing_pending = getattr(document, PENDING, None) is False
        written = Written(document.version + 1, events) if nothing_pending else None
        relay.document_written(collection.name, document.id, written)
    return applied
