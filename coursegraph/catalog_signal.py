"""The catalog change signal (ADR 0022): how caches learn that public course data changed.

A counter in Redis (`coursegraph:catalog:version`) that only goes up, and a pub/sub channel
(`coursegraph:catalog`) that carries each new value. The courses service announces after every change to
its catalog read model; caches (rest-compat's, the router's) put the current version into their keys, so a
change makes every older entry unreachable at once, on every replica. While a cache does not know the
version (Redis down, reconnecting), it bypasses itself: Redis holds nothing that cannot be lost.

Without COURSEGRAPH_REDIS_URL (the dev profile: every service in one process) an in-process stand-in
behaves the same.
"""

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from coursegraph.metrics import REGISTRY
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

VERSION_KEY = "coursegraph:catalog:version"
CHANNEL = "coursegraph:catalog"

FAILURES = Counter(
    "coursegraph_catalog_signal_failures",
    "Redis failures of the catalog signal, by operation (announce, subscribe).",
    ["operation"],
    registry=REGISTRY,
)

# INCR and PUBLISH in one round trip, atomically: subscribers see every value the key takes.
ANNOUNCE = """
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], version)
return version
"""
# On (re)connect: the counter is at least what this process knew. A Redis that restarted without its data
# would count again from 1 and reuse versions that caches still hold entries under.
RESTORE = """
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
local known = tonumber(ARGV[1])
if known > version then
  redis.call('SET', KEYS[1], known)
  return known
end
return version
"""


class CatalogSignal(ABC):
    """The latest catalog version (`version`; None = unknown) and the way to announce a new one."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def announce(self) -> None:
        """The catalog changed: a new version for everyone. Never raises (a failure is logged, counted
        and announced again once Redis answers)."""

    @property
    @abstractmethod
    def version(self) -> int | None: ...

    @property
    def healthy(self) -> bool:
        return self.version is not None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """For readiness details: where the signal lives and whether it is followed."""


class _LocalCounter:
    """What the in-process signals of one process share (dev: every service in one process)."""

    version = 0


_local = _LocalCounter()


class LocalCatalogSignal(CatalogSignal):
    def __init__(self) -> None:
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def announce(self) -> None:
        _local.version += 1

    @property
    def version(self) -> int | None:
        return _local.version if self._started else None

    def describe(self) -> dict[str, Any]:
        return {"backend": "in-process", "healthy": self.healthy, "version": self.version}


class RedisCatalogSignal(CatalogSignal):
    """Follows the channel from a background task that reconnects with backoff; reads the version at each
    (re)connect (subscribed first, so no change falls in between) and takes every message after."""

    def __init__(self, url: str, *, ca_file: Path | None = None) -> None:
        tls: dict[str, Any] = {}
        if urlsplit(url).scheme == "rediss" and ca_file is not None:
            tls["ssl_ca_certs"] = str(ca_file)
        self._redis = Redis.from_url(
            url,
            socket_timeout=2,
            socket_connect_timeout=2,
            # A command retries briefly (a dropped idle connection), then fails: never a long stall.
            retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.02), retries=2),
            health_check_interval=5,
            **tls,
        )
        self._announce = self._redis.register_script(ANNOUNCE)
        self._restore = self._redis.register_script(RESTORE)
        self._backoff = ExponentialWithJitterBackoff(cap=2.0, base=0.1)
        self._version: int | None = None
        self._known = 0  # the highest version seen, kept while disconnected
        self._missed = False  # an announce failed: repeat it once Redis answers
        self._error: str | None = None  # why the version is unknown, for readiness
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="catalog-signal")
        # Usually answered in milliseconds; a Redis that is down does not hold the service's start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._version = None
        await self._redis.aclose()

    async def announce(self) -> None:
        try:
            self._see(int(await self._announce(keys=[VERSION_KEY], args=[CHANNEL])))
            self._missed = False
        except Exception as exc:  # fail-open: the caches bypass themselves meanwhile
            self._missed = True
            FAILURES.labels("announce").inc()
            logger.warning("catalog signal: announce failed (%s); repeated on reconnect", _reason(exc))

    @property
    def version(self) -> int | None:
        return self._version

    def describe(self) -> dict[str, Any]:
        report: dict[str, Any] = {"backend": "redis", "healthy": self.healthy, "version": self.version}
        if not self.healthy and self._error:
            report["error"] = self._error
        return report

    def _see(self, version: int) -> None:
        self._known = max(self._known, version)
        if self._version is not None:
            self._version = max(self._version, version)

    async def _follow(self) -> None:
        failures = 0
        while True:
            pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                restored = int(await self._restore(keys=[VERSION_KEY], args=[self._known]))
                self._known = max(self._known, restored)
                self._version = self._known
                self._subscribed.set()
                if failures:
                    logger.info("catalog signal: following Redis again (version %d)", self._version)
                failures = 0
                if self._missed:
                    await self.announce()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message["type"] == "message":
                        self._see(int(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: the version is unknown until reconnected
                self._version = None
                self._error = type(exc).__name__  # not its text: readiness may be public (rest-compat)
                failures += 1
                FAILURES.labels("subscribe").inc()
                delay = self._backoff.compute(failures)
                log = logger.warning if failures == 1 else logger.debug
                log("catalog signal: Redis unreachable (%s); retrying in %.1fs", _reason(exc), delay)
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _reason(exc: Exception) -> str:
    # redis-py's messages name host and port, never the password.
    return f"{type(exc).__name__}: {exc}"


def catalog_signal(settings: ServiceSettings) -> CatalogSignal:
    """Redis when COURSEGRAPH_REDIS_URL is set, else the in-process stand-in (refused in production:
    caches per replica are what the signal exists to end)."""
    if settings.redis_url is not None:
        return RedisCatalogSignal(settings.redis_url.get_secret_value(), ca_file=settings.redis_ca_file)
    if settings.is_production:
        raise RuntimeError(
            "the production profile needs COURSEGRAPH_REDIS_URL (redis:// or rediss://): every replica's "
            "caches follow the catalog through it"
        )
    return LocalCatalogSignal()


class Announcer:
    """Announces changes made in synchronous code (the read model's puts) from a task of its own: one
    announce at a time, and one more after the last change, however many came meanwhile (a reload)."""

    def __init__(self, signal: CatalogSignal) -> None:
        self._signal = signal
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def changed(self) -> None:
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._announce(), name="catalog-announce")

    async def _announce(self) -> None:
        while self._pending:
            self._pending = False
            await self._signal.announce()

    async def flush(self) -> None:
        """Wait for what was announced so far to be out (before stopping the signal)."""
        if self._task is not None:
            await self._task
