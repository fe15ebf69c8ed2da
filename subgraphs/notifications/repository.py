"""Notification records: one document per (event, kind), written before its email is sent (ADR 0019).

The record's `_id` is derived from the event id and the kind, so a redelivered or replayed event finds
the record its first delivery wrote, and two consumers racing on one event collide on the id. Reads and
writes are by `_id` alone (ADR 0014).
"""

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from coursegraph.clock import Clock, system_clock
from coursegraph.ids import derived_object_id
from coursegraph.metrics import Batch, in_batch
from coursegraph.mongo import guarded_update
from coursegraph.pagination import Position
from subgraphs.notifications.models import Status
from subgraphs.notifications.unsubscribe import Category, OptOut


def notification_id(event_id: str, kind: str) -> ObjectId:
    return derived_object_id("notification", event_id, kind)


@dataclass(frozen=True)
class Claim:
    """The right to send one notification's email: held until `lease_until`."""

    id: ObjectId
    attempts: int  # deliveries tried before this one, by this claim's predecessors
    lease_until: datetime
    # Taken over from a consumer that stopped between claim and outcome: its email may have gone out.
    taken_over: bool = False


class ClaimHeld(Exception):
    """Another consumer holds a live claim on this notification (or held it when it died): its outcome
    is not known yet, so the event is not done. Try again once the lease has run out."""

    def __init__(self, lease_until: datetime) -> None:
        super().__init__(f"claimed by another consumer until {lease_until.isoformat()}")
        self.lease_until = lease_until


class NotificationRecords:
    def __init__(
        self, collection: AsyncCollection[dict[str, Any]], *, lease: timedelta, clock: Clock = system_clock
    ) -> None:
        self._collection = collection
        self._lease = lease
        self._clock = clock

    async def claim(self, event_id: str, kind: str, fields: dict[str, Any]) -> Claim | None:
        """Claim the email of `kind` for `event_id`: None if its outcome is recorded (sent, failed,
        skipped). Raises ClaimHeld while another consumer's claim is live. A pending record whose lease
        expired (its consumer died between claim and outcome) is taken over, marked `taken_over`."""
        record_id = notification_id(event_id, kind)
        now = self._clock()
        lease_until = now + self._lease
        try:
            await self._collection.insert_one(
                {
                    "_id": record_id,
                    "event_id": event_id,
                    "kind": kind,
                    **fields,
                    "status": Status.PENDING.value,
                    "attempts": 0,
                    "lease_until": lease_until,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return Claim(record_id, attempts=0, lease_until=lease_until)
        except DuplicateKeyError:
            pass
        current = await self._collection.find_one({"_id": record_id})
        if current is None or current["status"] != Status.PENDING.value:
            return None
        if current["lease_until"] > now:
            raise ClaimHeld(current["lease_until"])
        taken = await guarded_update(
            self._collection,
            record_id,
            {"status": Status.PENDING.value, "lease_until": current["lease_until"]},
            {"$set": {"lease_until": lease_until, "updated_at": now}},
        )
        if not taken:  # another consumer took it over first
            raise ClaimHeld(lease_until)
        return Claim(record_id, attempts=int(current["attempts"]), lease_until=lease_until, taken_over=True)

    async def finish(self, claim: Claim, status: Status, *, attempts: int, **fields: Any) -> bool:
        """Record the outcome of a claim (`sent` with its message id, `failed` with its reason, or
        `skipped`); False if the claim was lost meanwhile (its lease expired and another took it)."""
        return await guarded_update(
            self._collection,
            claim.id,
            {"status": Status.PENDING.value, "lease_until": claim.lease_until},
            {
                "$set": {
                    "status": status.value,
                    "attempts": claim.attempts + attempts,
                    "updated_at": self._clock(),
                    **fields,
                },
                "$unset": {"lease_until": ""},
            },
        )

    async def release(self, claim: Claim, *, attempts: int, reason: str) -> bool:
        """Give a claim back after transient failures: still pending, its attempts counted, and free for
        the event's redelivery to take at once."""
        now = self._clock()
        return await guarded_update(
            self._collection,
            claim.id,
            {"status": Status.PENDING.value, "lease_until": claim.lease_until},
            {
                "$set": {
                    "attempts": claim.attempts + attempts,
                    "last_error": reason,
                    "lease_until": now,
                    "updated_at": now,
                }
            },
        )

    async def get(self, event_id: str, kind: str) -> dict[str, Any] | None:
        return await self._collection.find_one({"_id": notification_id(event_id, kind)})

    async def create_indexes(self) -> None:
        # A user's history, newest first: the one query here that is not by `_id` (ADR 0019).
        await self._collection.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="history"
        )

    async def of_user(self, user_id: str, *, limit: int, after: Position | None) -> list[dict[str, Any]]:
        """A page of a user's notifications, newest first, after a keyset position."""
        query: dict[str, Any] = {"user_id": user_id}
        if after is not None:
            before = ObjectId(after.id)
            query["$or"] = [
                {"created_at": {"$lt": after.at}},
                {"created_at": after.at, "_id": {"$lt": before}},
            ]
        cursor = self._collection.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(limit).to_list()


class Preferences:
    """Per user, the categories they opted out of (`_id`: the user id)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection

    async def opted_out(self, user_id: str) -> frozenset[Category]:
        document = await self._collection.find_one({"_id": user_id})
        known = {category.value for category in Category}
        return frozenset(Category(c) for c in (document or {}).get("opted_out", []) if c in known)

    async def opted_out_of_users(self, user_ids: list[str]) -> list[frozenset[Category]]:
        """Batched for the DataLoader: each a lookup by `_id` (ADR 0014), issued at once."""
        token = in_batch.set(Batch())  # counted as one query (coursegraph.metrics)
        try:
            return list(await asyncio.gather(*(self.opted_out(user_id) for user_id in user_ids)))
        finally:
            in_batch.reset(token)

    async def opt_out(self, opt_out: OptOut) -> None:
        """Idempotent; touches that one category of that one user."""
        await self._collection.update_one(
            {"_id": opt_out.user_id}, {"$addToSet": {"opted_out": opt_out.category.value}}, upsert=True
        )

    async def opt_in(self, user_id: str, category: Category) -> None:
        await self._collection.update_one({"_id": user_id}, {"$pull": {"opted_out": category.value}})


class ConsumerStart:
    """When this deployment's consumer group first started (`_id`: the group id): what it reads from."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock = system_clock) -> None:
        self._collection = collection
        self._clock = clock

    async def since(self, group_id: str) -> datetime:
        """The first start's time, recorded by the first start (later starts read it)."""
        with contextlib.suppress(DuplicateKeyError):  # a later start, or a replica starting at once
            await self._collection.insert_one({"_id": group_id, "started_at": self._clock()})
        document = await self._collection.find_one({"_id": group_id})
        assert document is not None
        started: datetime = document["started_at"]
        return started if started.tzinfo else started.replace(tzinfo=UTC)
