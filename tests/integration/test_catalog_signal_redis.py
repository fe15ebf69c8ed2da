"""The catalog signal on a real Redis: one process announces, another sees the new version within a second;
a Redis that goes away makes the version unknown (the caches bypass themselves), and a Redis that comes back
is followed again, with what was announced meanwhile announced again and no version reused."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio

from coursegraph.catalog_signal import CHANNEL, VERSION_KEY, RedisCatalogSignal
from tests.support.redis import OwnRedis, private_ca

pytestmark = pytest.mark.integration


async def eventually(condition: Callable[[], bool], *, within: float) -> float:
    """Seconds until `condition` held; fails after `within`."""
    begin = time.monotonic()
    while not condition():
        if time.monotonic() - begin > within:
            pytest.fail(f"not within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - begin


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_an_announce_reaches_another_process_within_a_second(redis_url: str) -> None:
    producer, consumer = RedisCatalogSignal(redis_url), RedisCatalogSignal(redis_url)
    await producer.start()
    await consumer.start()
    try:
        assert consumer.healthy and consumer.version is not None
        before = consumer.version
        client = redis.asyncio.Redis.from_url(redis_url)
        async with client.pubsub() as watcher:
            await watcher.subscribe(CHANNEL)
            await producer.announce()
            # What others read: the key went up and its new value was published on the channel.
            published = [await watcher.get_message(timeout=1) for _ in range(2)][-1]
        stored = int(await client.get(VERSION_KEY) or -1)
        await client.aclose()
        assert published is not None and int(published["data"]) == stored
        assert stored > before
        assert await eventually(lambda: (consumer.version or 0) >= stored, within=1.0) < 1.0
        assert consumer.describe() == {"backend": "redis", "healthy": True, "version": consumer.version}
    finally:
        await producer.stop()
        await consumer.stop()


async def test_redis_down_is_unknown_and_back_is_followed_again(own_redis: OwnRedis) -> None:
    producer, consumer = RedisCatalogSignal(own_redis.url), RedisCatalogSignal(own_redis.url)
    await producer.start()
    await consumer.start()
    try:
        for _ in range(3):
            await producer.announce()
        await eventually(lambda: consumer.version == 3, within=1.0)

        own_redis.stop()  # a restart without persistence: the counter is lost with it
        await eventually(lambda: consumer.version is None and producer.version is None, within=5.0)
        assert not consumer.healthy and consumer.describe()["healthy"] is False
        assert "ConnectionError" in consumer.describe()["error"]  # readiness says why
        await producer.announce()  # a change while Redis is down: no exception into the caller

        own_redis.start()
        await eventually(lambda: consumer.healthy and producer.healthy, within=5.0)
        # Not counted from 1 again (entries under versions 1..3 may still be cached somewhere), and the
        # change made while Redis was away is announced now: a version nobody has seen yet.
        await eventually(lambda: (consumer.version or 0) >= 4, within=2.0)
        client = redis.asyncio.Redis.from_url(own_redis.url)
        assert int(await client.get(VERSION_KEY) or -1) == consumer.version
        await client.aclose()
        await producer.announce()
        await eventually(lambda: consumer.version == producer.version, within=1.0)
    finally:
        await producer.stop()
        await consumer.stop()


async def test_a_signal_started_while_redis_is_down_starts_and_catches_up(tmp_path: Path) -> None:
    server = OwnRedis(tmp_path)  # not started yet
    signal = RedisCatalogSignal(server.url)
    begin = time.monotonic()
    await signal.start()
    try:
        assert time.monotonic() - begin < 3  # the service starts anyway (fail-open)
        assert signal.version is None
        server.start()
        await eventually(lambda: signal.version == 0, within=5.0)
    finally:
        await signal.stop()
        server.stop()


async def test_tls_with_a_private_ca_and_a_password(tmp_path: Path) -> None:
    ca, certificate, key = private_ca(tmp_path)
    server = OwnRedis(tmp_path, tls=(certificate, key), password="s3cret-word")
    server.start()
    url = f"rediss://:s3cret-word@127.0.0.1:{server.port}/0"
    trusted = RedisCatalogSignal(url, ca_file=ca)
    untrusted = RedisCatalogSignal(url)  # the system's CAs do not know ours: the handshake fails
    wrong = RedisCatalogSignal(f"rediss://:not-it@127.0.0.1:{server.port}/0", ca_file=ca)
    try:
        await asyncio.gather(trusted.start(), untrusted.start(), wrong.start())
        await eventually(lambda: trusted.version == 0, within=3.0)
        await trusted.announce()
        await eventually(lambda: trusted.version == 1, within=1.0)
        await asyncio.sleep(0.5)
        assert untrusted.version is None and wrong.version is None
    finally:
        for signal in (trusted, untrusted, wrong):
            await signal.stop()
        server.stop()
