"""Transactional outbox for MongoDB without transactions (FerretDB v1 has none).

An aggregate's pending events live in its own document (`outbox`), written by the same single-document
insert or update as the state change, so both happen or neither does. The relay leases a document,
publishes its events in order and pops each one after Kafka acknowledged it. A crash between publish and
pop publishes that event again: delivery is at-least-once and consumers drop duplicates by `event_id`.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.events.envelope import Event
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.relay import Relay
from coursegraph.mongo import document_lock

OUTBOX = "outbox"
LEASE = "outbox_lease"
# Indexed flag: the relay finds documents with pending events without scanning every document.
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
        self._collections = collections
        self._publisher = publisher
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)

    async def publish_pending(self) -> int:
        published = 0
        for collection in self._collections:
            now = datetime.now(UTC)
            free = {"$or": [{LEASE: None}, {LEASE: {"$lt": now}}]}
            pending = collection.find({PENDING: True, **free}, {"_id": 1})
            for doc in await pending.limit(self._batch_size).to_list():
                published += await self._publish_document(collection, doc["_id"], free, now)
        return published

    async def _publish_document(
        self,
        collection: AsyncCollection[dict[str, Any]],
        document_id: object,
        free: dict[str, Any],
        now: datetime,
    ) -> int:
        # The lease keeps replicas of a service from publishing the same document at once.
        async with document_lock(collection, document_id):
            # No projection: FerretDB v1's findAndModify does not support one.
            claimed = await collection.find_one_and_update(
                {"_id": document_id, **free},
                {"$set": {LEASE: now + self._lease}},
                return_document=ReturnDocument.AFTER,
            )
        if claimed is None:
            return 0
        published = 0
        try:
            for entry in claimed.get(OUTBOX, []):
                event = Event.model_validate_json(entry["payload"])
                await self._publisher.publish(entry["topic"], entry["key"], event)
                # Pop only if it is still the first entry: writers only ever append.
                async with document_lock(collection, document_id):
                    await collection.update_one(
                        {"_id": document_id, f"{OUTBOX}.0.event_id": entry["event_id"]},
                        {"$pop": {OUTBOX: -1}},
                    )
                published += 1
            async with document_lock(collection, document_id):
                # Only if no writer appended meanwhile: then the flag stays and the next pass sees it.
                await collection.update_one(
                    {"_id": document_id, OUTBOX: {"$size": 0}}, {"$set": {PENDING: False}}
                )
        finally:
            async with document_lock(collection, document_id):
                await collection.update_one({"_id": document_id}, {"$set": {LEASE: None}})
        return published

    async def prepare(self) -> None:
        """Flag documents whose events were written before the flag existed (a one-time scan)."""
        for collection in self._collections:
            await collection.update_many(
                {f"{OUTBOX}.0": {"$exists": True}, PENDING: {"$ne": True}}, {"$set": {PENDING: True}}
            )
