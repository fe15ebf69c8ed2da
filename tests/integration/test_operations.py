"""Issue 11: the commands a deployment runs as Jobs, on the real services: Kafka's topics (with their
DLQs, partitions and retention) and the users database's migrations."""

import os
import subprocess
import sys

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from coursegraph_cli.operations import TopicSettings, create_topics, planned_topics
from tests.support.stack import REPO

FRESH = "media.events.dlq"  # a topic no test writes to: deleted, then made again with our settings


async def test_kafka_topics_are_created_with_their_settings_and_left_alone_after(
    kafka_bootstrap: str,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        if FRESH in await admin.list_topics():
            await admin.delete_topics([FRESH])
        settings = TopicSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_replication_factor=1,
            kafka_dlq_partitions=2,
            kafka_dlq_retention_hours=48,
        )
        first = await create_topics(settings)
        assert set(first) == {t.name for t in planned_topics(settings)}
        assert first[FRESH] == "created"
        assert set(first.values()) <= {"created", "exists"}
        assert set(await admin.list_topics()) >= set(first)
        description = (await admin.describe_topics([FRESH]))[0]
        assert len(description["partitions"]) == 2
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, FRESH)])
        entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
        assert entries["retention.ms"] == str(48 * 3600 * 1000)

        again = await create_topics(settings)
        assert set(again.values()) == {"exists"}, "a second run changes nothing"
    finally:
        await admin.close()


def test_migrate_brings_the_users_database_to_head(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEGRAPH_")}
    env |= {"COURSEGRAPH_DATABASE_URL": database_url, "COURSEGRAPH_PROFILE": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "coursegraph_cli", "migrate"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "users database: at head" in done.stdout
