"""Consuming events: Kafka consumer groups (at-least-once, retries, dead-letter topic) or the dev bus.

Offsets are committed only after the handler succeeded, so a crash re-delivers; handlers are idempotent
(and may skip an `event_id` they have already processed). A message that still fails after the retries,
or that is not an event at all, is parked on `<topic>.dlq` with the error in its headers, and the
partition moves on: one poison message never blocks the rest.

With tracing on, handling an event is a consumer span whose parent is the event's `traceparent`, so the
work an event causes joins the trace of the request that caused the event.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from opentelemetry.trace import SpanKind, Tracer
from pydantic import ValidationError
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from coursegraph.events.envelope import Event
from coursegraph.events.kafka import PLAINTEXT, KafkaConnection
from coursegraph.events.wiring import dev_event_bus
from coursegraph.settings import Profile, ServiceSettings
from coursegraph.tracing import span_continuing, tracer_for

logger = logging.getLogger(__name__)

# How long a re-created broadcast listener waits to be given its partitions before it resumes them.
ASSIGNMENT_WAIT_SECONDS = 10.0
ASSIGNMENT_POLL_SECONDS = 0.05

Handler = Callable[[Event], Awaitable[None]]


def consuming(
    tracer: Tracer | None, topic: str, event: Event, group_id: str | None
) -> AbstractContextManager[None]:
    """The span of handling one event (OpenTelemetry's messaging conventions), or nothing if untraced."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.message.id": str(event.event_id),
        "messaging.consumer.group.name": group_id or "broadcast",
        "coursegraph.event_type": event.event_type,
    }
    return span_continuing(
        tracer, f"process {topic}", event.traceparent, kind=SpanKind.CONSUMER, attributes=attributes
    )


class EventConsumer:
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InProcessSubscription(EventConsumer):
    """The dev profile: the handler is called by the in-process bus as events are published."""

    def __init__(
        self, topics: Sequence[str], handler: Handler, *, tracer: Tracer | None, group_id: str | None
    ) -> None:
        self._topics, self._handler = topics, handler
        self._tracer, self._group_id = tracer, group_id

    async def start(self) -> None:
        for topic in self._topics:
            dev_event_bus().subscribe(topic, self._traced(topic))

    def _traced(self, topic: str) -> Handler:
        async def handle(event: Event) -> None:
            with consuming(self._tracer, topic, event, self._group_id):
                await self._handler(event)

        return handle


class KafkaEventConsumer(EventConsumer):
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        group_id: str | None,
        topics: Sequence[str],
        handler: Handler,
        tracer: Tracer | None = None,
        attempts: int = 5,
        retry_wait_seconds: float = 0.2,
        connection: KafkaConnection = PLAINTEXT,
    ) -> None:
        """`group_id=None` makes a broadcast listener: every instance reads every new event, no commits."""
        self._tracer = tracer
        self._connection = connection
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._topics = list(topics)
        self._handler = handler
        self._attempts = attempts
        self._retry_wait = retry_wait_seconds
        self._task: asyncio.Task[None] | None = None
        # A broadcast listener commits nothing, and a new consumer of it starts at the end of each
        # partition: what was published while it was re-created (Kafka away, or stopped and started)
        # would be missed. So it remembers where it is and a new consumer resumes there.
        self._resume_at: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._group_id or 'broadcast'}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            consumer = AIOKafkaConsumer(
                *self._topics,
                bootstrap_servers=self._bootstrap,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest" if self._group_id else "latest",
                **self._connection.client_options(),
            )
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                **self._connection.client_options(),
            )
            try:
                await consumer.start()
                await producer.start()
                if self._group_id is None:
                    await self._resume(consumer)
                backoff = 1.0
                async for record in consumer:
                    await self._process(record, producer)
                    if self._group_id:
                        await consumer.commit()
                    else:
                        self._resume_at[TopicPartition(record.topic, record.partition)] = record.offset + 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka away: reconnect, the uncommitted record comes again
                logger.warning("consumer %s: %r; reconnecting in %.0fs", self._group_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                await consumer.stop()
                await producer.stop()

    async def _resume(self, consumer: AIOKafkaConsumer) -> None:
        """A broadcast listener: go on where the previous consumer stopped, and remember where this one
        starts on the partitions it has not read yet (their end, now)."""
        for _ in range(int(ASSIGNMENT_WAIT_SECONDS / ASSIGNMENT_POLL_SECONDS)):
            if consumer.assignment():
                break
            await asyncio.sleep(ASSIGNMENT_POLL_SECONDS)
        for partition in consumer.assignment():
            if partition in self._resume_at:
                consumer.seek(partition, self._resume_at[partition])
            else:
                self._resume_at[partition] = await consumer.position(partition)

    async def _process(self, record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer) -> None:
        try:
            event = Event.from_bytes(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(record, producer, f"not an event: {exc.errors()[0]['msg']}")
            return
        try:
            with consuming(self._tracer, record.topic, event, self._group_id):
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self._attempts),
                    wait=wait_exponential(multiplier=self._retry_wait, max=10),
                    reraise=True,
                ):
                    with attempt:
                        await self._handler(event)
        except Exception as exc:
            logger.exception(
                "consumer %s: %s %s failed; parked", self._group_id, event.event_type, event.event_id
            )
            await self._dead_letter(record, producer, repr(exc)[:500])

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], producer: AIOKafkaProducer, error: str
    ) -> None:
        headers = [
            ("error", error.encode()),
            ("source-topic", record.topic.encode()),
            ("source-partition", str(record.partition).encode()),
            ("source-offset", str(record.offset).encode()),
            ("consumer-group", (self._group_id or "broadcast").encode()),
        ]
        await producer.send_and_wait(f"{record.topic}.dlq", record.value, key=record.key, headers=headers)


def event_consumer(
    settings: ServiceSettings,
    *,
    service: str,
    group_id: str | None,
    topics: Sequence[str],
    handler: Handler,
) -> EventConsumer:
    """`service` names the consuming service in traces; the group id gets the settings' prefix (so that
    several deployments, or test stacks, can share one Kafka cluster)."""
    tracer = tracer_for(service, __name__)
    if group_id is not None:
        group_id = settings.kafka_consumer_group_prefix + group_id
    if settings.kafka_bootstrap_servers:
        return KafkaEventConsumer(
            settings.kafka_bootstrap_servers,
            group_id=group_id,
            topics=topics,
            handler=handler,
            tracer=tracer,
            connection=KafkaConnection.from_settings(settings),
        )
    if settings.profile is Profile.DEV:
        return InProcessSubscription(topics, handler, tracer=tracer, group_id=group_id)
    raise RuntimeError(f"COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS is required in the {settings.profile} profile")
