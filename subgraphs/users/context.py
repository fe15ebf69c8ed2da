"""The users subgraph's per-request context: the caller, the store, and this request's DataLoaders."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from coursegraph.events.outbox import OutboxRelay
from coursegraph.graphql import ServiceContext
from coursegraph.metrics import ENTITY_BATCHES
from subgraphs.users import service
from subgraphs.users.models import User


@dataclass
class Loaders:
    user_by_id: DataLoader[uuid.UUID, User | None]


def make_loaders(sessions: async_sessionmaker[AsyncSession]) -> Loaders:
    """`sessions`: read sessions (coursegraph.db.read_session_factory), each load is one SELECT."""

    async def load_users(ids: list[uuid.UUID]) -> list[User | None]:
        ENTITY_BATCHES.labels("users", "User").inc()
        async with sessions() as session:
            return await service.get_users(session, ids)

    return Loaders(user_by_id=DataLoader(load_fn=load_users))


@dataclass
class UsersContext(ServiceContext):
    sessions: async_sessionmaker[AsyncSession] = field(kw_only=True)
    relay: OutboxRelay = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction per mutation; the outbox relay is woken only after the commit."""
        async with self.sessions() as session, session.begin():
            yield session
        self.relay.notify()
