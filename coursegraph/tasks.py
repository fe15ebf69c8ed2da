"""A service's long-running background loop (outbox relays, sweeps), started and stopped with the app."""

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` (if there is one) and return once it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class BackgroundTask(ABC):
    _task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _run(self) -> None:
        """The loop; runs until cancelled."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None


class Periodic(BackgroundTask):
    """Runs `action` every `interval_seconds` (the first time after `first_delay_seconds`); a failure is
    logged and the next run comes as planned: housekeeping must never take a service down."""

    def __init__(
        self,
        name: str,
        action: Callable[[], Awaitable[object]],
        *,
        interval_seconds: float,
        first_delay_seconds: float = 0.0,
    ) -> None:
        self._name = name
        self._action = action
        self._interval = interval_seconds
        self._first_delay = first_delay_seconds

    async def _run(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._action()
            except Exception:
                logger.exception("%s failed; next run in %.0fs", self._name, self._interval)
            await asyncio.sleep(self._interval)
