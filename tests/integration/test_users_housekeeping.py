"""Users-store housekeeping on PostgreSQL and on SQLite (the dev store): old published events and dead
sign-in sessions are deleted after the retention period; nothing still in use is touched."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from coursegraph.db import create_engine, session_factory, sqlite_url
from coursegraph.events.outbox import prune_published
from coursegraph.migrations import upgrade_to_head
from subgraphs.users.app import MIGRATIONS
from subgraphs.users.housekeeping import Housekeeping, Pruned
from subgraphs.users.models import RefreshToken, RefreshTokenFamily, User, outbox
from subgraphs.users.repository import RefreshTokenRepository

pytestmark = pytest.mark.integration

NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=7)


def days(n: float) -> datetime:
    return NOW + timedelta(days=n)


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """A migrated users store of its own: PostgreSQL (a throwaway database) or an SQLite file."""
    if request.param == "sqlite":
        engine = create_engine(sqlite_url(tmp_path / "users.db"), service="housekeeping-tests")
        await upgrade_to_head(engine, MIGRATIONS)
        yield engine
        await engine.dispose()
        return
    name = f"housekeeping_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(
        make_url(database_url).set(database=name).render_as_string(hide_password=False),
        service="housekeeping-tests",
    )
    await upgrade_to_head(engine, MIGRATIONS)
    yield engine
    await engine.dispose()
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE "{name}"'))
    await admin.dispose()


async def add_session(
    sessions: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    *,
    created: datetime,
    token_expiries: list[datetime],
    revoked: bool = False,
) -> uuid.UUID:
    family = RefreshTokenFamily(
        id=uuid.uuid4(), user_id=user_id, created_at=created, revoked_at=created if revoked else None
    )
    tokens = [
        RefreshToken(
            family_id=family.id, token_hash=uuid.uuid4().hex * 2, issued_at=created, expires_at=expiry
        )
        for expiry in token_expiries
    ]
    async with sessions() as session, session.begin():
        session.add(family)
        await session.flush()
        session.add_all(tokens)
    return family.id


async def add_event(
    sessions: async_sessionmaker[AsyncSession], *, created: datetime, published: datetime | None
) -> int:
    async with sessions() as session, session.begin():
        result = await session.execute(
            outbox.insert()
            .values(
                id=uuid.uuid4(),
                topic="user.events",
                key="k",
                payload="{}",
                created_at=created,
                published_at=published,
            )
            .returning(outbox.c.seq)
        )
        return int(result.scalar_one())


async def new_user(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    user = User(
        id=uuid.uuid4(),
        email=f"keep-{uuid.uuid4().hex}@example.org",
        name="Housekeeping",
        provider="google",
        provider_id=uuid.uuid4().hex,
        role="learner",
        created_at=days(-60),
        updated_at=days(-60),
    )
    async with sessions() as session, session.begin():
        session.add(user)
    return user.id


async def test_old_published_events_and_dead_sessions_go_and_nothing_in_use(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    user_id = await new_user(sessions)
    expired_long_ago = await add_session(sessions, user_id, created=days(-30), token_expiries=[days(-10)])
    rotated_and_live = await add_session(
        sessions, user_id, created=days(-30), token_expiries=[days(-10), days(20)]
    )
    revoked_long_ago = await add_session(
        sessions, user_id, created=days(-30), token_expiries=[days(-8)], revoked=True
    )
    expired_lately = await add_session(sessions, user_id, created=days(-30), token_expiries=[days(-6)])
    fresh = await add_session(sessions, user_id, created=days(-1), token_expiries=[days(29)])
    old_published = await add_event(sessions, created=days(-10), published=days(-10))
    recent_published = await add_event(sessions, created=days(-1), published=days(-1))
    old_unpublished = await add_event(sessions, created=days(-30), published=None)
    housekeeping = Housekeeping(sessions, outbox, retention=RETENTION, clock=lambda: NOW)

    assert await housekeeping.run_once() == Pruned(events=1, sessions=2)

    async with engine.connect() as connection:
        families = set((await connection.execute(sa.select(RefreshTokenFamily.id))).scalars())
        token_families = set((await connection.execute(sa.select(RefreshToken.family_id))).scalars())
        events = set((await connection.execute(sa.select(outbox.c.seq))).scalars())
        users = (await connection.execute(sa.select(sa.func.count()).select_from(User))).scalar_one()
    assert families == {rotated_and_live, expired_lately, fresh}
    assert token_families == families, "the deleted sessions' tokens went with them"
    assert expired_long_ago not in families and revoked_long_ago not in families
    assert events == {recent_published, old_unpublished}, "an unpublished event stays, however old"
    assert old_published not in events
    assert users == 1

    assert await housekeeping.run_once() == Pruned(events=0, sessions=0)


async def test_deletes_go_in_bounded_batches(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    user_id = await new_user(sessions)
    for _ in range(5):
        await add_event(sessions, created=days(-10), published=days(-10))
        await add_session(sessions, user_id, created=days(-30), token_expiries=[days(-10)])

    assert await prune_published(sessions, outbox, before=days(-7), batch=2) == 5
    deleted = []
    for _ in range(4):
        async with sessions() as session, session.begin():
            deleted.append(
                await RefreshTokenRepository(session).delete_dead_families(before=days(-7), limit=2)
            )
    assert deleted == [2, 2, 1, 0]
