"""The document outbox and the event consumer on the real MongoDB-wire server and Kafka."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.events import Event, KafkaEventPublisher
from coursegraph.events.consumer import KafkaEventConsumer
from coursegraph.events.document_outbox import (
    DocumentOutboxRelay,
    outbox_entry,
    versioned_update,
    with_events,
)
from coursegraph.metrics import STORE_CALLS
from coursegraph.mongo import mongo_client
from tests.support.kafka import collect_events

pytestmark = pytest.mark.integration

OUTBOX_TESTS = "outbox-tests"  # the service name the store calls of these tests are counted under


@pytest.fixture
async def collection(mongodb_url: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client = mongo_client(mongodb_url, service=OUTBOX_TESTS)
    database = f"outbox_test_{uuid.uuid4().hex[:8]}"
    yield client[database]["aggregates"]
    await client.drop_database(database)
    await client.close()


def _event(kind: str, key: str) -> Event:
    return Event(event_type=kind, user_id=key, source="tests")


async def test_events_written_with_the_state_are_relayed_in_order_once(
    collection: AsyncCollection[dict[str, Any]], kafka_bootstrap: str
) -> None:
    topic = f"doc-outbox-{uuid.uuid4().hex[:8]}"
    first, second, third = (_event(kind, "agg-1") for kind in ("CREATED", "CHANGED", "FINISHED"))
    inserted = await collection.insert_one(
        {"state": 1, "outbox": [outbox_entry(topic, "agg-1", first)], "outbox_pending": True}
    )
    # A later change appends its events in the same single-document update as the state change.
    await collection.update_one(
        {"_id": inserted.inserted_id},
        with_events(
            {"$set": {"state": 2}}, outbox_entry(topic, "agg-1", second), outbox_entry(topic, "agg-1", third)
        ),
    )

    down = DocumentOutboxRelay([collection], KafkaEventPublisher("127.0.0.1:1", client_id="tests"))
    with pytest.raises(Exception):  # noqa: B017, PT011 (whatever the client raises when Kafka is unreachable)
        await down.publish_pending()
    stored = await collection.find_one({"_id": inserted.inserted_id})
    assert stored is not None and len(stored["outbox"]) == 3, "nothing is lost while Kafka is away"
    assert stored["outbox_lease"] is None, "a failed relay releases its lease"

    publisher = KafkaEventPublisher(kafka_bootstrap, client_id="tests")
    relay = DocumentOutboxRelay([collection], publisher)
    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 0
    await publisher.close()
    stored = await collection.find_one({"_id": inserted.inserted_id})
    assert stored is not None and stored["outbox"] == [] and stored["state"] == 2
    assert stored["outbox_pending"] is False, "nothing pending: the relay's poll no longer finds it"

    received = await collect_events(kafka_bootstrap, topic, lambda e: True, expect=3, settle=1.5)
    assert [e["event_id"] for _, e in received] == [str(e.event_id) for e in (first, second, third)]
    assert {key for key, _ in received} == {b"agg-1"}


class Aggregate:
    """A document as a writer read it: its id, version, and whether events were pending then."""

    def __init__(self, document_id: Any, version: int, *, outbox_pending: bool) -> None:
        self.id, self.version, self.outbox_pending = document_id, version, outbox_pending


def store_calls() -> float:
    return sum(
        sample.value
        for metric in STORE_CALLS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == OUTBOX_TESTS
    )


async def test_events_a_writer_knows_it_wrote_are_relayed_without_reading_the_document(
    collection: AsyncCollection[dict[str, Any]], kafka_bootstrap: str
) -> None:
    """ADR 0006 (amended): an update of a document read with nothing pending leaves exactly its own events
    in the outbox; the relay publishes them as the writer knew them and empties the outbox with one
    guarded write. When the document moved on meanwhile, the relay takes what it sent off the outbox's
    head and publishes the rest as stored: each event once, in order."""
    topic = f"doc-outbox-{uuid.uuid4().hex[:8]}"
    inserted = await collection.insert_one({"state": 0, "version": 0, "outbox": [], "outbox_pending": False})
    document_id = inserted.inserted_id
    publisher = KafkaEventPublisher(kafka_bootstrap, client_id="tests")
    relay = DocumentOutboxRelay([collection], publisher)
    first, second = _event("FIRST", "agg"), _event("SECOND", "agg")
    try:
        # Known: read at version 0 with nothing pending.
        assert await versioned_update(
            relay, collection, Aggregate(document_id, 0, outbox_pending=False), {"state": 1},
            [outbox_entry(topic, "agg", first)],
        )  # fmt: skip
        before = store_calls()
        assert await relay.publish_notified() == 1
        # One guarded write: on MongoDB one update; on FerretDB a read of the version, then the update.
        assert store_calls() - before <= 2
        stored = await collection.find_one({"_id": document_id})
        assert stored is not None and stored["outbox"] == [] and stored["outbox_pending"] is False

        # Known again, but another replica appends an event (a new version) before the relay runs: the
        # guarded write does not apply, and the document is published as it is.
        assert await versioned_update(
            relay, collection, Aggregate(document_id, 1, outbox_pending=False), {"state": 2},
            [outbox_entry(topic, "agg", second)],
        )  # fmt: skip
        third = _event("THIRD", "agg")
        await collection.update_one(
            {"_id": document_id},
            with_events({"$set": {"state": 3}, "$inc": {"version": 1}}, outbox_entry(topic, "agg", third)),
        )
        assert await relay.publish_notified() == 2  # SECOND as known, popped; then THIRD as stored
        stored = await collection.find_one({"_id": document_id})
        assert stored is not None and stored["outbox"] == [] and stored["state"] == 3
    finally:
        await publisher.close()
    received = await collect_events(kafka_bootstrap, topic, lambda e: True, expect=3, settle=1.5)
    assert [e["event_type"] for _, e in received] == ["FIRST", "SECOND", "THIRD"], "each once, in order"


async def test_a_leased_document_is_left_to_its_relay(
    collection: AsyncCollection[dict[str, Any]], kafka_bootstrap: str
) -> None:
    from datetime import UTC, datetime, timedelta

    topic = f"doc-outbox-{uuid.uuid4().hex[:8]}"
    leased_until = datetime.now(UTC) + timedelta(minutes=5)
    await collection.insert_one(
        {
            "outbox": [outbox_entry(topic, "k", _event("X", "k"))],
            "outbox_lease": leased_until,
            "outbox_pending": True,
        }
    )
    publisher = KafkaEventPublisher(kafka_bootstrap, client_id="tests")
    assert await DocumentOutboxRelay([collection], publisher).publish_pending() == 0
    await publisher.close()


async def test_consumer_retries_then_parks_poison_and_failing_events(kafka_bootstrap: str) -> None:
    topic = f"consumer-test-{uuid.uuid4().hex[:8]}"
    good, failing = _event("GOOD", "a"), _event("FAILS", "b")
    handled: list[str] = []
    calls: dict[str, int] = {}

    async def handler(event: Event) -> None:
        calls[event.event_type] = calls.get(event.event_type, 0) + 1
        if event.event_type == "FAILS":
            raise RuntimeError("this handler always fails")
        handled.append(str(event.event_id))

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"not json at all", key=b"x")
    await producer.send_and_wait(topic, failing.to_bytes(), key=b"b")
    await producer.send_and_wait(topic, good.to_bytes(), key=b"a")
    await producer.stop()

    consumer = KafkaEventConsumer(
        kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handler=handler,
        attempts=3,
        retry_wait_seconds=0.01,
    )
    await consumer.start()
    try:
        for _ in range(200):
            if handled:
                break
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    assert handled == [str(good.event_id)], "a poison message and a failing one do not block the partition"
    assert calls["FAILS"] == 3, "retried, then given up"

    dlq = AIOKafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await dlq.start()
    parked = []
    try:
        batches = await dlq.getmany(timeout_ms=10_000, max_records=10)
        parked = [record for records in batches.values() for record in records]
    finally:
        await dlq.stop()
    assert [r.value for r in parked] == [b"not json at all", failing.to_bytes()]
    headers = dict(parked[1].headers)
    assert headers["source-topic"] == topic.encode() and b"always fails" in headers["error"]
    assert json.loads(parked[1].value or b"{}")["event_id"] == str(failing.event_id)


async def test_a_broadcast_listener_started_again_misses_nothing_published_meanwhile(
    kafka_bootstrap: str,
) -> None:
    """A broadcast listener (no group, nothing committed) re-creates its consumer after Kafka went away,
    or when it is stopped and started: it goes on where it was, not at the end of the topic."""
    topic = f"broadcast-test-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, _event("BEFORE", "a").to_bytes(), key=b"a")  # creates the topic
    handled: list[str] = []

    async def handler(event: Event) -> None:
        handled.append(event.event_type)

    async def until(count: int) -> None:
        for _ in range(200):
            if len(handled) >= count:
                return
            await asyncio.sleep(0.05)

    listener = KafkaEventConsumer(kafka_bootstrap, group_id=None, topics=[topic], handler=handler)
    try:
        await listener.start()
        # Published before the listener's partitions are assigned may be missed (it starts at the end):
        # publish until the listener has seen one.
        for _ in range(100):
            await producer.send_and_wait(topic, _event("FIRST", "a").to_bytes(), key=b"a")
            await until(1)
            if handled:
                break
        assert handled and set(handled) == {"FIRST"}, "a broadcast listener starts at the end: no BEFORE"
        seen = len(handled)
        await listener.stop()
        await producer.send_and_wait(topic, _event("WHILE_AWAY", "a").to_bytes(), key=b"a")
        await listener.start()
        await until(seen + 1)
        await producer.send_and_wait(topic, _event("AFTER", "a").to_bytes(), key=b"a")
        await until(seen + 2)
    finally:
        await listener.stop()
        await producer.stop()
    assert handled[seen:] == ["WHILE_AWAY", "AFTER"]
