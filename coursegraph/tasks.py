"""A service's long-running background loop (outbox relays, sweeps), started and stopped with the app."""

import asyncio
import contextlib
from abc import ABC, abstractmethod


class BackgroundTask(ABC):
    _task: asyncio.Task[None] | None = None

    @abstractmethod
    async def _run(self) -> None:
        """The loop; runs until cancelled."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
