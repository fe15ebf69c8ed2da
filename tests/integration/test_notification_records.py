"""Notification records on the real document store: one email per (event, kind), claimed before it is
sent, taken over only when its consumer died mid-way (issue 9, ADR 0019)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.mongo import detect_ferretdb, mongo_client
from subgraphs.notifications.models import Status
from subgraphs.notifications.repository import Claim, ClaimHeld, NotificationRecords

LEASE = timedelta(minutes=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def collection(mongodb_url: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client = mongo_client(mongodb_url, service="notification-records-tests")
    await detect_ferretdb(client)
    name = f"notifications_{uuid.uuid4().hex[:12]}"
    yield client[name]["notifications"]
    await client.drop_database(name)
    await client.close()


async def test_one_claim_per_event_and_kind_until_its_outcome(
    collection: AsyncCollection[dict[str, Any]],
) -> None:
    clock = FakeClock()
    records = NotificationRecords(collection, lease=LEASE, clock=clock)
    fields = {"user_id": "u-1", "to": "ada@example.org"}

    claims = await asyncio.gather(
        *(records.claim("event-1", "welcome", fields) for _ in range(5)), return_exceptions=True
    )
    won = [claim for claim in claims if isinstance(claim, Claim)]
    held = [claim for claim in claims if isinstance(claim, ClaimHeld)]
    assert len(won) == 1 and len(held) == 4, "five deliveries of one event: one claim, four told to wait"
    assert not won[0].taken_over
    assert await records.claim("event-1", "course_completed", fields) is not None, "another kind: its own"

    assert await records.finish(won[0], Status.SENT, attempts=2, provider_message_id="m-1")
    clock.now += LEASE * 10
    assert await records.claim("event-1", "welcome", fields) is None, "sent: never again"
    stored = await records.get("event-1", "welcome")
    assert stored is not None and stored["status"] == "sent" and stored["attempts"] == 2
    assert stored["provider_message_id"] == "m-1" and stored["to"] == "ada@example.org"
    assert await collection.count_documents({}) == 2


async def test_a_claim_whose_consumer_died_is_taken_over_once(
    collection: AsyncCollection[dict[str, Any]],
) -> None:
    clock = FakeClock()
    records = NotificationRecords(collection, lease=LEASE, clock=clock)
    first = await records.claim("event-2", "welcome", {})
    assert first is not None
    with pytest.raises(ClaimHeld) as held:
        await records.claim("event-2", "welcome", {})
    assert held.value.lease_until == first.lease_until, "a live claim is not taken: wait for its lease"

    clock.now += LEASE + timedelta(seconds=1)
    takers = await asyncio.gather(
        *(records.claim("event-2", "welcome", {}) for _ in range(4)), return_exceptions=True
    )
    taken = [claim for claim in takers if isinstance(claim, Claim)]
    assert len(taken) == 1 and taken[0].taken_over, takers
    assert all(isinstance(claim, ClaimHeld) for claim in takers if claim is not taken[0]), takers
    assert not await records.finish(first, Status.SENT, attempts=1), "the dead claim's outcome is refused"
    assert await records.finish(taken[0], Status.FAILED, attempts=1, reason="400 from SendGrid")
    stored = await records.get("event-2", "welcome")
    assert stored is not None and stored["status"] == "failed" and stored["reason"] == "400 from SendGrid"
