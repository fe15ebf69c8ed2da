"""The notifications consumer group: batches of events in, emails out, offsets committed only once every
outcome in the batch is recorded (ADR 0019).

- A permanent failure is recorded `failed` by the notifier and parked on `<topic>.dlq` (with the reason)
  before the offset moves past it.
- A postponed event (SendGrid busy or away, a claim another consumer holds) stops its partition there:
  the offsets before it are committed, the consumer seeks back to it, and polls again after a wait (the
  Retry-After SendGrid gave, or exponential backoff). Nothing is lost and nothing is parked for being
  transient, however long SendGrid is away; the wait is short enough to keep the group membership.
- The group reads from the moment the service was first deployed (a first deployment must not mail
  everyone about last week): that moment is kept in the service's store, and any partition the group has
  no offset for (a first start, a topic created later, a partition added) starts at the first event
  published since then, found by timestamp, and that position is committed at once.
- Stopping finishes the batch in hand, commits, and leaves the group.

Its state (assigned partitions, lag, last poll) is what readiness and /metrics report.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from prometheus_client import Gauge
from pydantic import ValidationError

from coursegraph.events import Event
from coursegraph.events.kafka import PLAINTEXT, KafkaConnection
from coursegraph.metrics import REGISTRY
from subgraphs.notifications.pipeline import Park, Pipeline, Postpone, Result

logger = logging.getLogger(__name__)

LAG = Gauge(
    "coursegraph_notifications_consumer_lag",
    "Events on the notification topics not yet handled by this consumer (sum over its partitions).",
    registry=REGISTRY,
)
MAX_RETRY_WAIT_SECONDS = 30.0  # well inside max_poll_interval: a waiting consumer stays in its group


@dataclass
class ConsumerState:
    """What readiness reports."""

    running: bool = False
    joined: bool = False  # a member of its group (with partitions, or none while no topic exists yet)
    assigned: list[str] = field(default_factory=list)
    lag: int | None = None
    last_poll: float | None = None  # time.monotonic()
    waiting: str | None = None  # why it is holding back (postponed events)

    def report(self) -> dict[str, object]:
        return {
            "healthy": self.running and self.joined,
            "running": self.running,
            "assigned": sorted(self.assigned),
            "lag": self.lag,
            "last_poll_seconds_ago": None
            if self.last_poll is None
            else round(time.monotonic() - self.last_poll, 3),
            "waiting": self.waiting,
        }


class _StartSinceDeployed(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition the group has no offset for starts at its first event since `since_ms` (the end if
    there is none), committed at once."""

    def __init__(self, consumer: AIOKafkaConsumer, state: ConsumerState, since_ms: int) -> None:
        self._consumer, self._state, self._since_ms = consumer, state, since_ms

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._state.assigned = []

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        fresh = [p for p in assigned if await self._consumer.committed(p) is None]
        if fresh:
            found = await self._consumer.offsets_for_times(dict.fromkeys(fresh, self._since_ms))
            ends = await self._consumer.end_offsets(fresh)
            start = {p: found[p].offset if found.get(p) is not None else ends[p] for p in fresh}
            for partition, offset in start.items():
                self._consumer.seek(partition, offset)
            await self._consumer.commit(start)
        self._state.assigned = [f"{p.topic}:{p.partition}" for p in assigned]
        self._state.joined = True


class NotificationConsumer:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str,
        topics: Sequence[str],
        pipeline: Pipeline,
        since: Callable[[], Awaitable[datetime]],
        batch_size: int = 100,
        stop_timeout_seconds: float = 30.0,
        connection: KafkaConnection = PLAINTEXT,
    ) -> None:
        self._connection = connection
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._topics = list(topics)
        self._pipeline = pipeline
        self._since = since
        self._batch_size = batch_size
        self._stop_timeout = stop_timeout_seconds
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.state = ConsumerState()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._group_id}")

    async def stop(self) -> None:
        """Finish the batch in hand and commit it, then leave the group (cancelled if that takes long)."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._stop_timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="latest",  # never used: every fresh partition is positioned above
                max_poll_interval_ms=300_000,
                metadata_max_age_ms=5_000,  # a topic created later is joined within seconds
                **self._connection.client_options(),
            )
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                **self._connection.client_options(),
            )
            try:
                since_ms = int((await self._since()).timestamp() * 1000)
                await producer.start()
                await consumer.start()
                listener = _StartSinceDeployed(consumer, self.state, since_ms)
                consumer.subscribe(self._topics, listener=listener)
                self.state.running = True
                backoff = 1.0
                await self._consume(consumer, producer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: reconnect; what was not committed comes again
                logger.warning("notifications consumer: %r; reconnecting in %.0fs", exc, backoff)
                self.state.running = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                self.state.running = self.state.joined = False
                self.state.assigned = []
                await consumer.stop()  # leaves the group: its partitions go to another replica at once
                await producer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        wait = 0.0
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=self._batch_size)
            self.state.last_poll = time.monotonic()
            records = [record for partition in batches.values() for record in partition]
            if records:
                postponed = await self._handle(records, consumer, producer)
                if postponed:
                    wait = min(max(wait * 2, max(p.seconds for p in postponed)), MAX_RETRY_WAIT_SECONDS)
                    self.state.waiting = postponed[0].reason
                    logger.info(
                        "notifications: %d events postponed %.1fs (%s)",
                        len(postponed),
                        wait,
                        postponed[0].reason,
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), wait)
                else:
                    wait, self.state.waiting = 0.0, None
            await self._update_lag(consumer)

    async def _handle(
        self,
        records: list[ConsumerRecord[bytes, bytes]],
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
    ) -> list[Postpone]:
        """Handle one poll's records; commit what is done; seek back to what is postponed."""
        results: list[Result] = [Park("not an event")] * len(records)
        readable: list[int] = []
        events: list[tuple[str, Event]] = []
        for index, record in enumerate(records):
            try:
                events.append((record.topic, Event.from_bytes(record.value or b"")))
                readable.append(index)
            except ValidationError as exc:
                results[index] = Park(f"not an event: {exc.errors()[0]['msg']}")
        for index, result in zip(readable, await self._pipeline.handle(events), strict=True):
            results[index] = result

        # Per partition: everything before its first postponed record is durable and can be committed.
        commit: dict[TopicPartition, int] = {}
        rewind: dict[TopicPartition, int] = {}
        for record, result in zip(records, results, strict=True):
            partition = TopicPartition(record.topic, record.partition)
            if partition in rewind:
                continue
            if isinstance(result, Postpone):
                rewind[partition] = record.offset
                continue
            if isinstance(result, Park):
                await self._park(producer, record, result.reason)
            commit[partition] = record.offset + 1
        if commit:
            await consumer.commit(commit)
        for partition, offset in rewind.items():
            consumer.seek(partition, offset)
        return [r for r in results if isinstance(r, Postpone)]

    async def _park(
        self, producer: AIOKafkaProducer, record: ConsumerRecord[bytes, bytes], reason: str
    ) -> None:
        logger.warning(
            "notifications: parking %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [
            ("error", reason[:500].encode()),
            ("source-topic", record.topic.encode()),
            ("source-partition", str(record.partition).encode()),
            ("source-offset", str(record.offset).encode()),
            ("consumer-group", self._group_id.encode()),
        ]
        await producer.send_and_wait(f"{record.topic}.dlq", record.value, key=record.key, headers=headers)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        lag = 0
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            lag += max(0, highwater - await consumer.position(partition))
        self.state.lag = lag
        LAG.set(lag)
