"""Read events back from a real Kafka topic, as any consumer of CourseGraph would."""

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

Event = dict[str, Any]


async def collect_events(
    bootstrap: str,
    topic: str,
    match: Callable[[Event], bool],
    *,
    expect: int = 1,
    within: float = 30.0,
    settle: float = 0.0,
) -> list[tuple[bytes | None, Event]]:
    """Read `topic` from the beginning until `expect` matching events arrive (key, event).

    With `settle` > 0, keep reading that long after the last match, to prove no extra event follows.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[tuple[bytes | None, Event]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settled_at: float | None = None
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = _parsed(record.value)
                    if "_raw" not in event and match(event):  # poison (some tests publish it) never matches
                        found.append((record.key, event))
            if len(found) >= expect:
                if settle <= 0:
                    break
                if settled_at is None:
                    settled_at = loop.time() + settle
                elif loop.time() >= settled_at:
                    break
    finally:
        await consumer.stop()
    return found


async def collect_dead_letters(
    bootstrap: str, topic: str, match: Callable[[Event], bool], *, within: float = 30.0, settle: float = 1.0
) -> list[tuple[dict[str, str], Event]]:
    """Parked messages on a `<topic>.dlq` that match (their headers, their event), read from the start."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"test-{uuid.uuid4()}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[dict[str, str], Event]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settled_at: float | None = None
        while loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = _parsed(record.value)
                    if match(event):
                        found.append(({k: v.decode() for k, v in record.headers}, event))
            if found:
                settled_at = settled_at or loop.time() + settle
                if loop.time() >= settled_at:
                    break
    finally:
        await consumer.stop()
    return found


async def wait_until_committed(
    bootstrap: str, group_id: str, records: dict[TopicPartition, int], *, within: float = 30.0
) -> None:
    """Until `group_id` has committed past the record at each partition's offset: its consumer handled
    them (it commits only what it is done with), however fast or slow it is."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            committed = await admin.list_consumer_group_offsets(group_id, partitions=list(records))
            behind = {
                partition: (committed[partition].offset if partition in committed else None)
                for partition, offset in records.items()
                if partition not in committed or committed[partition].offset <= offset
            }
            if not behind:
                return
            if loop.time() >= deadline:
                raise AssertionError(f"{group_id} did not commit past {records} within {within}s: {behind}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _parsed(value: bytes | None) -> Event:
    """An event as JSON; anything else (tests publish poison too) as `{"_raw": text}`."""
    try:
        event = json.loads(value or b"")
    except ValueError:
        return {"_raw": (value or b"").decode(errors="replace")}
    return event if isinstance(event, dict) else {"_raw": str(event)}


async def publish_registrations(bootstrap: str, emails: list[str], *, name: str) -> None:
    """USER_REGISTERED for a new user per address, as the users service announces them (each carries its
    recipient, so the notifications service needs no lookup)."""
    from coursegraph.events import Event, Topic

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for email in emails:
            user_id = str(uuid.uuid4())
            event = Event(
                event_type="USER_REGISTERED",
                user_id=user_id,
                metadata={"email": email, "name": name, "provider": "google", "role": "learner"},
                source="users",
            )
            await producer.send(Topic.USER, event.to_bytes(), key=user_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
