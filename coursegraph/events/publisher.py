"""Where events go: Kafka (test, production) or an in-process bus (the single-process dev profile)."""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiokafka import AIOKafkaProducer

from coursegraph.events.envelope import Event
from coursegraph.events.kafka import PLAINTEXT, KafkaConnection

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


class EventPublisher(Protocol):
    async def publish(self, topic: str, key: str, event: Event) -> None:
        """Return only once the event is durably accepted; raise otherwise."""

    async def close(self) -> None: ...


class KafkaEventPublisher:
    """acks=all and idempotence: an acknowledged event is on every in-sync replica, exactly once.

    The producer starts lazily and is rebuilt after a failure, so a service starts (and keeps its outbox)
    while Kafka is down and publishes once it is back.
    """

    def __init__(
        self, bootstrap_servers: str, *, client_id: str, connection: KafkaConnection = PLAINTEXT
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._connection = connection
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap_servers,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=True,
                    request_timeout_ms=10_000,
                    **self._connection.client_options(),
                )
                try:
                    await producer.start()
                except Exception:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, topic: str, key: str, event: Event) -> None:
        producer = await self._ensure_producer()
        try:
            await producer.send_and_wait(topic, event.to_bytes(), key=key.encode())
        except Exception:
            await self.close()
            raise

    async def close(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


class InProcessEventBus:
    """Delivers events to handlers in the same process; a failing handler is logged, not retried."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, key: str, event: Event) -> None:
        for handler in self._handlers[topic]:
            try:
                await handler(event)
            except Exception:
                logger.exception("in-process handler failed for %s on %s", event.event_type, topic)

    async def close(self) -> None:
        return None
