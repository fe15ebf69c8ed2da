"""The transactional outbox on real PostgreSQL and Kafka: nothing published before commit, nothing lost."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coursegraph.db import session_factory
from coursegraph.events import Event, KafkaEventPublisher
from coursegraph.events.outbox import OutboxRelay, add_to_outbox, outbox_table
from tests.support.kafka import collect_events

pytestmark = pytest.mark.integration

metadata = sa.MetaData()
outbox = outbox_table(metadata)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A throwaway database, so no service's relay touches these rows."""
    name = f"outbox_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_async_engine(make_url(database_url).set(database=name))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE "{name}"'))
    await admin.dispose()


def _event(topic_key: str) -> Event:
    return Event(event_type="TEST_HAPPENED", user_id=topic_key, source="tests")


async def test_an_event_waits_for_kafka_and_is_published_once(
    engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    topic = f"outbox-test-{uuid.uuid4().hex[:8]}"
    sessions = session_factory(engine)
    event = _event("user-1")
    async with sessions() as session, session.begin():
        await add_to_outbox(session, outbox, topic, "user-1", event)

    down = KafkaEventPublisher("127.0.0.1:1", client_id="outbox-test")
    with pytest.raises(Exception):  # noqa: B017, PT011 (whatever the client raises when Kafka is unreachable)
        await OutboxRelay(sessions, outbox, down).publish_pending()
    async with engine.connect() as connection:
        row = (await connection.execute(sa.select(outbox))).one()
    assert row.published_at is None and row.attempts == 1 and row.last_error

    up = KafkaEventPublisher(kafka_bootstrap, client_id="outbox-test")
    relay = OutboxRelay(sessions, outbox, up)
    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0, "a published row is not published again"
    await up.close()

    received = await collect_events(kafka_bootstrap, topic, lambda e: True, settle=1.5)
    assert [e["event_id"] for _, e in received] == [str(event.event_id)]
    assert received[0][0] == b"user-1"


async def test_a_rolled_back_change_publishes_nothing(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)

    async def failing_change() -> None:
        async with sessions() as session, session.begin():
            await add_to_outbox(session, outbox, "any", "k", _event("k"))
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with engine.connect() as connection:
        assert (await connection.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one() == 0


async def test_events_are_relayed_in_order(engine: AsyncEngine, kafka_bootstrap: str) -> None:
    topic = f"outbox-order-{uuid.uuid4().hex[:8]}"
    sessions = session_factory(engine)
    events = [_event("same-key") for _ in range(5)]
    for event in events:
        async with sessions() as session, session.begin():
            await add_to_outbox(session, outbox, topic, "same-key", event)
    publisher = KafkaEventPublisher(kafka_bootstrap, client_id="outbox-test")
    assert await OutboxRelay(sessions, outbox, publisher).publish_pending() == 5
    await publisher.close()
    received = await collect_events(kafka_bootstrap, topic, lambda e: True, expect=5)
    assert [e["event_id"] for _, e in received] == [str(e.event_id) for e in events]


async def test_relays_of_several_replicas_keep_each_keys_order(
    engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    """Three replicas relay one table at once: every event goes out, once, and each key stays in order."""
    topic = f"outbox-replicas-{uuid.uuid4().hex[:8]}"
    sessions = session_factory(engine)
    keys = ("user-a", "user-b")
    events = [(keys[i % 2], _event(keys[i % 2])) for i in range(40)]
    for key, event in events:
        async with sessions() as session, session.begin():
            await add_to_outbox(session, outbox, topic, key, event)
    publishers = [KafkaEventPublisher(kafka_bootstrap, client_id=f"replica-{i}") for i in range(3)]
    # Small batches, so replicas that split the rows between them would interleave their publishes.
    relays = [OutboxRelay(sessions, outbox, publisher, batch_size=3) for publisher in publishers]

    async def relay_until_empty(relay: OutboxRelay) -> int:
        published = 0
        for _ in range(200):
            published += await relay.publish_pending()
            async with engine.connect() as connection:
                left = await connection.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
            if left.scalar_one() == 0:
                return published
            await asyncio.sleep(0.01)
        raise AssertionError("the outbox did not drain")

    counts = await asyncio.gather(*(relay_until_empty(relay) for relay in relays))
    for publisher in publishers:
        await publisher.close()

    assert sum(counts) == len(events)
    received = await collect_events(kafka_bootstrap, topic, lambda e: True, expect=len(events), settle=1)
    for key in keys:
        sent = [str(event.event_id) for k, event in events if k == key]
        assert [e["event_id"] for k, e in received if k == key.encode()] == sent, key
