"""The users subgraph's per-request context: the caller, the store, and this request's DataLoaders."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coursegraph.events.outbox import OutboxRelay
from coursegraph.graphql import ServiceContext
from subgraphs.users.loaders import Loaders


@dataclass
class UsersContext(ServiceContext):
    sessions: async_sessionmaker[AsyncSession] = field(kw_only=True)
    # Autocommit sessions for reads of one statement (coursegraph.db.read_session_factory).
    read_sessions: async_sessionmaker[AsyncSession] = field(kw_only=True)
    relay: OutboxRelay = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction per mutation; the outbox relay is woken only after the commit."""
        async with self.sessions() as session, session.begin():
            yield session
        self.relay.notify()
