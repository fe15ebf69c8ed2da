"""Each backing service answers its real client, and `coursegraph infra` is idempotent."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import asyncpg
import boto3
import pymongo
import pytest
import redis
import redis.asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.errors import DuplicateKeyError
from typer.testing import CliRunner

from coursegraph_cli.infra.cli import app
from coursegraph_cli.infra.paths import ENV_KEYS, read_env_file
from coursegraph_cli.infra.services import port_open
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


def _suffix() -> str:
    return uuid.uuid4().hex[:12]


async def test_postgres_query_and_table_round_trip(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    table = f"infra_check_{_suffix()}"
    try:
        assert await conn.fetchval("SELECT 1 + 1") == 2
        assert await conn.fetchval("SELECT current_user") == "coursegraph"
        await conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, title text NOT NULL)")
        await conn.executemany(f"INSERT INTO {table} (title) VALUES ($1)", [("intro",), ("advanced",)])  # noqa: S608
        rows = await conn.fetch(f"SELECT id, title FROM {table} ORDER BY id")  # noqa: S608
        assert [(r["id"], r["title"]) for r in rows] == [(1, "intro"), (2, "advanced")]
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()


def test_mongodb_insert_find_and_unique_index(mongodb_url: str) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        mongodb_url, serverSelectionTimeoutMS=5000
    )
    with client:
        coll = client["coursegraph_infra_check"][f"courses_{_suffix()}"]
        try:
            coll.create_index("slug", unique=True)
            inserted = coll.insert_one({"slug": "python-101", "title": "Python 101"}).inserted_id
            found = coll.find_one({"slug": "python-101"})
            assert found is not None
            assert found["_id"] == inserted
            assert found["title"] == "Python 101"
            with pytest.raises(DuplicateKeyError):
                coll.insert_one({"slug": "python-101", "title": "again"})
            assert coll.count_documents({}) == 1
        finally:
            coll.drop()


async def test_kafka_produce_consume_round_trip(kafka_bootstrap: str) -> None:
    topic = f"infra-check-{_suffix()}"
    sent = [(f"k{i}".encode(), f"event {i}".encode()) for i in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in sent:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"infra-check-{_suffix()}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[tuple[bytes | None, bytes | None]] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            received += [(m.key, m.value) for msgs in batches.values() for m in msgs]
    finally:
        await consumer.stop()
    assert received == sent


def test_s3_bucket_put_get(s3_endpoint: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["COURSEGRAPH_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["COURSEGRAPH_S3_SECRET_ACCESS_KEY"],
    )
    bucket = f"infra-check-{_suffix()}"
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_object(Bucket=bucket, Key="media/hello.txt", Body=b"hello", ContentType="text/plain")
        obj = s3.get_object(Bucket=bucket, Key="media/hello.txt")
        assert obj["Body"].read() == b"hello"
        assert obj["ContentType"] == "text/plain"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["media/hello.txt"]
    finally:
        for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
        s3.delete_bucket(Bucket=bucket)


async def test_redis_commands_and_pub_sub(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    key, channel = f"infra-check:{_suffix()}", f"infra-check:{_suffix()}"
    try:
        assert await client.ping()
        assert await client.incr(key) == 1
        assert await client.incr(key) == 2
        assert await client.expire(key, 60, nx=True)
        async with client.pubsub() as subscriber:
            await subscriber.subscribe(channel)
            assert await client.publish(channel, "hello") == 1
            messages = [await subscriber.get_message(timeout=2) for _ in range(2)]
        assert [(m or {}).get("data") for m in messages] == [1, "hello"]  # subscribed, then the message
        # Nothing is saved: a restart may lose everything, and nothing in Redis may matter (ADR 0022).
        assert (await client.config_get("save"))["save"] == ""
        assert (await client.config_get("appendonly"))["appendonly"] == "no"
    finally:
        await client.delete(key)
        await client.aclose()


def test_up_is_idempotent_and_env_matches(
    database_url: str, mongodb_url: str, kafka_bootstrap: str, s3_endpoint: str, redis_url: str
) -> None:
    """A second `up` only verifies health (fast), and `env` prints the URLs the tests use."""
    runner = CliRunner()
    begin = time.monotonic()
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - begin < 20
    assert "started in" not in result.output  # nothing had to be started
    assert result.output.count(" ready ") == 5

    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    exported = dict(line.removeprefix("export ").split("=", 1) for line in result.output.splitlines() if line)
    assert set(exported) == set(ENV_KEYS)
    assert exported == {
        "COURSEGRAPH_DATABASE_URL": database_url,
        "COURSEGRAPH_MONGODB_URL": mongodb_url,
        "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "COURSEGRAPH_S3_ENDPOINT_URL": s3_endpoint,
        "COURSEGRAPH_S3_ACCESS_KEY_ID": os.environ["COURSEGRAPH_S3_ACCESS_KEY_ID"],
        "COURSEGRAPH_S3_SECRET_ACCESS_KEY": os.environ["COURSEGRAPH_S3_SECRET_ACCESS_KEY"],
        "COURSEGRAPH_REDIS_URL": redis_url,
    }


def test_up_starts_a_redis_of_its_own_and_down_stops_it(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a clone of its own (state dir) on a free port: started, reused, stopped; an external URL is
    only checked."""
    port = free_port()
    monkeypatch.setenv("COURSEGRAPH_REPO_ROOT", str(tmp_path))
    monkeypatch.setenv("COURSEGRAPH_REDIS_PORT", str(port))
    runner = CliRunner()

    result = runner.invoke(app, ["up", "redis"])  # COURSEGRAPH_REDIS_URL: the shared one, external here
    assert result.exit_code == 0, result.output
    assert "external (COURSEGRAPH_REDIS_URL)" in result.output and not port_open(port)

    monkeypatch.delenv("COURSEGRAPH_REDIS_URL")
    try:
        result = runner.invoke(app, ["up", "redis"])
        assert result.exit_code == 0, result.output
        assert "started in" in result.output
        own = f"redis://127.0.0.1:{port}/0"
        assert read_env_file(tmp_path / ".coursegraph" / "infra" / "env")["COURSEGRAPH_REDIS_URL"] == own
        assert redis.Redis.from_url(own).config_get("save") == {"save": ""}
        result = runner.invoke(app, ["up", "redis"])
        assert result.exit_code == 0 and "already running" in result.output, result.output
    finally:
        result = runner.invoke(app, ["down", "redis"])
    assert result.exit_code == 0 and "stopped" in result.output, result.output
    assert not port_open(port)
