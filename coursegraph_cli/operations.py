"""What an operator runs once per deployment, before the services: the users database's migrations, and
Kafka's topics with their partitions, retention and dead-letter topics (Kubernetes runs both as Jobs)."""

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import Field

from coursegraph.events import Topic
from coursegraph.events.kafka import KafkaConnection
from coursegraph.settings import ServiceSettings

logger = logging.getLogger(__name__)


class TopicSettings(ServiceSettings):
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_replication_factor: int = Field(default=3, ge=1, le=10)
    kafka_retention_hours: int = Field(default=7 * 24, ge=1)
    # Parked messages wait for a person: they are kept longer, on fewer partitions.
    kafka_dlq_retention_hours: int = Field(default=30 * 24, ge=1)
    kafka_dlq_partitions: int = Field(default=1, ge=1, le=1000)


@dataclass(frozen=True)
class PlannedTopic:
    name: str
    partitions: int
    retention_hours: int


def planned_topics(settings: TopicSettings) -> list[PlannedTopic]:
    topics = []
    for topic in Topic:
        topics.append(
            PlannedTopic(topic.value, settings.kafka_topic_partitions, settings.kafka_retention_hours)
        )
        topics.append(
            PlannedTopic(topic.dlq, settings.kafka_dlq_partitions, settings.kafka_dlq_retention_hours)
        )
    return topics


async def create_topics(settings: TopicSettings) -> dict[str, str]:
    """Create each topic that does not exist; returns what happened to each ("created" or "exists")."""
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError("COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS is required")
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=30_000,
        **KafkaConnection.from_settings(settings).client_options(),
    )
    await admin.start()
    outcome: dict[str, str] = {}
    try:
        existing = set(await admin.list_topics())
        for topic in planned_topics(settings):
            if topic.name in existing:
                outcome[topic.name] = "exists"
                continue
            config = {"retention.ms": str(topic.retention_hours * 3600 * 1000), "cleanup.policy": "delete"}
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            topic.name,
                            topic.partitions,
                            settings.kafka_replication_factor,
                            topic_configs=config,
                        )
                    ]
                )
                outcome[topic.name] = "created"
            except TopicAlreadyExistsError:  # another Job run got there first
                outcome[topic.name] = "exists"
    finally:
        await admin.close()
    return outcome


async def migrate_users_database() -> None:
    from coursegraph.db import create_engine
    from coursegraph.migrations import upgrade_to_head
    from subgraphs.users.app import MIGRATIONS, UsersSettings

    settings = UsersSettings()
    engine = create_engine(settings.users_database_url, service="users-migrations", pool_size=1)
    try:
        await upgrade_to_head(engine, MIGRATIONS)
    finally:
        await engine.dispose()
