"""The users service's part of `coursegraph seed`: demo instructors and learners, written in bulk.

Rows go straight into the `users` table (migrated first) with the users service's own settings and
engine, in batches of one multi-row INSERT each, and without outbox entries: seeding announces nothing.
Seeded users are the ones with an email at the seed domain; `remove` deletes exactly those (their linked
identities and refresh-token families go with them, by the foreign keys' cascade).
"""

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from coursegraph.db import create_engine
from coursegraph.migrations import upgrade_to_head
from coursegraph.seeding import SEED_EMAIL_DOMAIN, Advance, Person, StoreUnavailable
from subgraphs.users.app import MIGRATIONS, UsersSettings
from subgraphs.users.models import User

BATCH = 1_000

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Aroha", "Bea", "Chen", "Dara", "Diego", "Emeka", "Elif", "Farah",
    "Grace", "Hana", "Ines", "Ivan", "Jonas", "Kai", "Karin", "Lena", "Luca", "Maya", "Mei", "Nadia",
    "Noor", "Omar", "Priya", "Rafael", "Rosa", "Sami", "Sofia", "Tariq", "Theo", "Uma", "Vera", "Wei",
    "Yara", "Yusuf", "Zoe", "Zanele",
)  # fmt: skip
LAST_NAMES = (
    "Abebe", "Almeida", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haddad", "Ito",
    "Jansen", "Kowalski", "Kumar", "Larsen", "Lopez", "Moreau", "Müller", "Nakamura", "Novak", "Okafor",
    "Olsen", "Park", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Tanaka", "Torres",
    "Varga", "Wang", "Weber", "Williams", "Yilmaz", "Zhang",
)  # fmt: skip


@dataclass(frozen=True)
class People:
    rows: list[dict[str, Any]]
    instructors: list[Person]
    learners: list[Person]

    def totals(self) -> dict[str, int]:
        return {"users": len(self.rows)}

    def summary(self) -> dict[str, int]:
        return {"instructors": len(self.instructors), "learners": len(self.learners)}


def plan_people(*, seed: int, instructors: int, learners: int, now: datetime) -> People:
    """The same seed gives the same people (ids, names, emails); dates are relative to `now`."""
    rng = random.Random(f"{seed}:users")  # noqa: S311 (demo data, not secrets)
    rows: list[dict[str, Any]] = []
    people: dict[str, list[Person]] = {"instructor": [], "learner": []}
    for role, count, days in (("instructor", instructors, (400, 900)), ("learner", learners, (1, 365))):
        width = max(4 if role == "instructor" else 5, len(str(count)))
        for number in range(1, count + 1):
            user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            joined = now - timedelta(seconds=rng.randint(days[0] * 86_400, days[1] * 86_400))
            local = f"{role}-{number:0{width}d}"
            rows.append(
                {
                    "id": user_id,
                    "email": f"{local}@{SEED_EMAIL_DOMAIN}",
                    "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    "provider": "dev",
                    "provider_id": f"seed-{local}",
                    "role": role,
                    "created_at": joined,
                    "updated_at": joined,
                }
            )
            people[role].append(Person(id=str(user_id), joined_at=joined))
    return People(rows=rows, instructors=people["instructor"], learners=people["learner"])


def _seeded() -> sa.ColumnElement[bool]:
    return User.email.endswith(f"@{SEED_EMAIL_DOMAIN}", autoescape=True)


class UserSeeder:
    def __init__(self, engine: AsyncEngine, where: str) -> None:
        self.engine = engine
        self.where = where

    async def seeded_user_ids(self) -> list[str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(sa.select(User.id).where(_seeded()))
            return [str(user_id) for user_id in rows.scalars()]

    plan = staticmethod(plan_people)

    async def insert(self, plan: People, advance: Advance) -> None:
        for start in range(0, len(plan.rows), BATCH):
            batch = plan.rows[start : start + BATCH]
            async with self.engine.begin() as connection:
                await connection.execute(sa.insert(User), batch)
            advance("users", len(batch))

    async def remove(self) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(sa.delete(User).where(_seeded()))
            return int(result.rowcount)

    async def close(self) -> None:
        await self.engine.dispose()


async def connect(overrides: Mapping[str, Any]) -> UserSeeder:
    """The users store of these settings, reachable and migrated to head."""
    settings = UsersSettings(**dict(overrides))
    url = settings.users_database_url
    where = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url, service="users", pool_size=2)
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        raise StoreUnavailable(
            f"The users database is not reachable at {where} ({type(exc).__name__}): "
            "check COURSEGRAPH_DATABASE_URL (test infrastructure: `coursegraph infra up`)."
        ) from exc
    await upgrade_to_head(engine, MIGRATIONS)
    return UserSeeder(engine, where)
