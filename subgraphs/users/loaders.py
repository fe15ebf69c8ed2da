"""Per-request DataLoaders: a list of N users referenced from another subgraph is one SELECT here.

Each loader asks the service (never a repository) with the caller, so the service decides what of each
user they see.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.users import service
from subgraphs.users.service import Profile


@dataclass
class Loaders:
    user_by_id: DataLoader[uuid.UUID, Profile | None]


def make_loaders(sessions: async_sessionmaker[AsyncSession], actor: Actor) -> Loaders:
    """`sessions`: read sessions (coursegraph.db.read_session_factory), each load is one SELECT."""

    async def load_users(ids: list[uuid.UUID]) -> list[Profile | None]:
        ENTITY_BATCHES.labels("users", "User").inc()
        async with sessions() as session:
            return await service.profiles(session, actor, ids)

    return Loaders(user_by_id=DataLoader(load_fn=load_users))
