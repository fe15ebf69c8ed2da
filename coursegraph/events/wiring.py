"""Pick the event publisher a profile calls for."""

from coursegraph.events.kafka import KafkaConnection
from coursegraph.events.publisher import EventPublisher, InProcessEventBus, KafkaEventPublisher
from coursegraph.settings import Profile, ServiceSettings

# The dev profile runs every service in one process; they share this bus.
_dev_bus = InProcessEventBus()


def dev_event_bus() -> InProcessEventBus:
    return _dev_bus


def publisher_from_settings(settings: ServiceSettings, *, client_id: str) -> EventPublisher:
    if settings.kafka_bootstrap_servers:
        return KafkaEventPublisher(
            settings.kafka_bootstrap_servers,
            client_id=client_id,
            connection=KafkaConnection.from_settings(settings),
        )
    if settings.profile is Profile.DEV:
        return _dev_bus
    raise RuntimeError(f"COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS is required in the {settings.profile} profile")
