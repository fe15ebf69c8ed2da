"""Closes abandoned timed attempts in the background, so their scores and events do not wait for the learner.

Every replica may run one: closing is a guarded write (see `service.close_expired_attempts`), so replicas
racing over the same attempt score it once.
"""

import logging
from datetime import timedelta

from coursegraph.events.relay import Relay
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository
from subgraphs.assessments.service import SWEEP_BATCH, Clock, close_expired_attempts

logger = logging.getLogger(__name__)


class ExpiredAttemptSweeper:
    def __init__(
        self,
        assessments: AssessmentRepository,
        attempts: AttemptRepository,
        relay: Relay,
        *,
        clock: Clock,
        grace: timedelta,
    ) -> None:
        self._assessments = assessments
        self._attempts = attempts
        self._relay = relay
        self._clock = clock
        self._grace = grace

    async def sweep(self) -> int:
        """One pass; returns how many attempts it closed."""
        closed = await close_expired_attempts(
            self._assessments, self._attempts, now=self._clock(), grace=self._grace
        )
        if closed:
            logger.info("closed %d expired attempts", closed)
            self._relay.notify()  # their SUBMITTED/COMPLETED events go out now, not at the next poll
        return closed

    async def sweep_all(self) -> None:
        """Passes until one closes less than a full batch (a backlog after downtime goes at once)."""
        while await self.sweep() == SWEEP_BATCH:
            pass
