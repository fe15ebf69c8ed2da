"""Read events back from a real Kafka topic, as any consumer of CourseGraph would."""

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

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


def _parsed(value: bytes | None) -> Event:
    """An event as JSON; anything else (tests publish poison too) as `{"_raw": text}`."""
    try:
        event = json.loads(value or b"")
    except ValueError:
        return {"_raw": (value or b"").decode(errors="replace")}
    return event if isinstance(event, dict) else {"_raw": str(event)}
