"""Domain events: the envelope, publishers (Kafka, in-process) and the transactional outbox."""

from coursegraph.events.envelope import Event, Topic
from coursegraph.events.publisher import EventPublisher, InProcessEventBus, KafkaEventPublisher

__all__ = ["Event", "EventPublisher", "InProcessEventBus", "KafkaEventPublisher", "Topic"]
