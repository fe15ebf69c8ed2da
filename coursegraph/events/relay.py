"""The loop every outbox relay runs: publish what is pending, back off on failure, sleep until woken."""

import asyncio
import contextlib
import logging
from abc import abstractmethod
from collections.abc import Iterator
from contextvars import ContextVar

from coursegraph.tasks import BackgroundTask

logger = logging.getLogger(__name__)

# The relays a request's writes woke, told once the request is done (see `relays_woken_after`).
_deferred: ContextVar[set["Relay"] | None] = ContextVar("deferred_relays", default=None)


@contextlib.contextmanager
def relays_woken_after() -> Iterator[None]:
    """Wake the relays that writes inside the block announced only when it ends: a request's events go out
    once it has answered, and publishing them does not compete with the rest of its work."""
    woken: set[Relay] = set()
    token = _deferred.set(woken)
    try:
        yield
    finally:
        _deferred.reset(token)
        for relay in woken:
            relay.notify()


class Relay(BackgroundTask):
    def __init__(self, *, poll_seconds: float = 1.0, max_backoff_seconds: float = 30.0) -> None:
        self.poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wakeup = asyncio.Event()

    @abstractmethod
    async def publish_pending(self) -> int:
        """Look for everything unpublished and publish one batch; return how many events were published."""

    async def publish_notified(self) -> int:
        """Publish what writes announced since the last pass (by default: look for everything)."""
        return await self.publish_pending()

    def notify(self) -> None:
        """A write just committed events: publish now (or when the request ends) rather than at the next
        poll."""
        deferred = _deferred.get()
        if deferred is not None:
            deferred.add(self)
            return
        self._wakeup.set()

    async def _run(self) -> None:
        backoff = self.poll_seconds
        polled = True  # the first pass looks for everything (what a previous run left)
        while True:
            try:
                published = await (self.publish_pending() if polled else self.publish_notified())
                backoff = self.poll_seconds
                if published:
                    continue
            except Exception as exc:
                logger.warning("outbox relay: publish failed, retrying in %.1fs: %r", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            polled = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_seconds)
                polled = False
            self._wakeup.clear()
