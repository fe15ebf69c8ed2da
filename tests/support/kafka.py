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
                    event = json.loads(record.value)
                    if match(event):
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
