"""Keeps the users store from growing forever: old published events and dead sign-in sessions go.

Runs in every users instance; each pass is a few bounded deletes that replicas may run at once (a row is
deleted once; the other replica's delete finds nothing).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coursegraph.clock import Clock
from coursegraph.events.outbox import prune_published
from subgraphs.users.repository import RefreshTokenRepository

logger = logging.getLogger(__name__)
BATCH = 1000


@dataclass
class Pruned:
    events: int
    sessions: int


class Housekeeping:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: sa.Table,
        *,
        retention: timedelta,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._retention = retention
        self._clock = clock

    async def run_once(self) -> Pruned:
        """Delete events published, and sessions whose refresh tokens all expired, more than the retention
        period ago (kept that long as an audit trail)."""
        before = self._clock() - self._retention
        events = await prune_published(self._sessions, self._outbox, before=before, batch=BATCH)
        sessions = 0
        while True:
            async with self._sessions() as session, session.begin():
                count = await RefreshTokenRepository(session).delete_dead_families(before=before, limit=BATCH)
            sessions += count
            if count < BATCH:
                break
        if events or sessions:
            logger.info("housekeeping: deleted %d published events and %d expired sessions", events, sessions)
        return Pruned(events=events, sessions=sessions)
