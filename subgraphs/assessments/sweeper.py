"""Closes abandoned timed attempts in the background, so their scores and events do not wait for the learner.

Every replica may run one: closing is a guarded write (see `service.close_expired_attempts`), so replicas
racing over the same attempt score it once.
"""

import asyncio
import logging
from datetime import timedelta

from coursegraph.events.relay import Relay
from coursegraph.tasks import BackgroundTask
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository
from subgraphs.assessments.service import SWEEP_BATCH, Clock, close_expired_attempts

logger = logging.getLogger(__name__)


class ExpiredAttemptSweeper(BackgroundTask):
    def __init__(
        self,
        assessments: AssessmentRepository,
        attempts: AttemptRepository,
        relay: Relay,
        *,
        clock: Clock,
        grace: timedelta,
        interval_seconds: float,
    ) -> None:
        self._assessments = assessments
        self._attempts = attempts
        self._relay = relay
        self._clock = clock
        self._grace = grace
        self._interval = interval_seconds

    async def sweep(self) -> int:
        """One pass; returns how many attempts it closed."""
        closed = await close_expired_attempts(
            self._assessments, self._attempts, now=self._clock(), grace=self._grace
        )
        if closed:
            logger.info("closed %d expired attempts", closed)
            self._relay.notify()  # their SUBMITTED/COMPLETED events go out now, not at the next poll
        return closed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                while await self.sweep() == SWEEP_BATCH:
                    pass  # a full batch: more may be waiting
            except Exception:
                logger.exception("expired-attempt sweep failed; retrying in %.0fs", self._interval)
