"""Closes abandoned timed attempts in the background, so their scores and events do not wait for the learner.

Every replica may run one: closing is a guarded write (see `AssessmentService.close_expired_attempts`), so
replicas racing over the same attempt score it once.
"""

import logging

from subgraphs.assessments.service import SWEEP_BATCH, AssessmentService

logger = logging.getLogger(__name__)


class ExpiredAttemptSweeper:
    def __init__(self, service: AssessmentService) -> None:
        self._service = service

    async def sweep(self) -> int:
        """One pass; returns how many attempts it closed."""
        closed = await self._service.close_expired_attempts()
        if closed:
            logger.info("closed %d expired attempts", closed)
        return closed

    async def sweep_all(self) -> None:
        """Passes until one closes less than a full batch (a backlog after downtime goes at once)."""
        while await self.sweep() == SWEEP_BATCH:
            pass
