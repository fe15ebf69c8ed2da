"""Transactional outbox for PostgreSQL (and SQLite in dev): nothing published before commit, nothing lost.

A service adds the event row in the same transaction as its state change; `OutboxRelay` publishes rows in
order and marks them published. A crash between publish and mark means the row is published again:
delivery is at-least-once and consumers drop duplicates by `event_id`.
"""

import hashlib
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coursegraph.db import UTCDateTime
from coursegraph.events.envelope import Event
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.relay import Relay

logger = logging.getLogger(__name__)


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox_events",
        metadata,
        # SQLite autoincrements only an INTEGER primary key, hence seq (the order) is the key.
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.Uuid, nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Index(
            "ix_outbox_events_unpublished",
            "seq",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        ),
    )


async def add_to_outbox(session: AsyncSession, table: sa.Table, topic: str, key: str, event: Event) -> None:
    await session.execute(
        table.insert().values(
            id=event.event_id,
            topic=topic,
            key=key,
            payload=event.model_dump_json(),
            created_at=datetime.now(UTC),
        )
    )


async def prune_published(
    sessionmaker: async_sessionmaker[AsyncSession], table: sa.Table, *, before: datetime, batch: int = 1000
) -> int:
    """Delete rows published before `before`, in batches (short transactions); return how many.

    Published rows are an audit trail for a while, then only weight: the table would grow forever.
    Unpublished rows are never touched, however old.
    """
    deleted = 0
    while True:
        # Oldest first by seq (the primary key): old published rows sit at the low end of the index.
        oldest = (
            sa.select(table.c.seq)
            .where(table.c.published_at.is_not(None), table.c.published_at < before)
            .order_by(table.c.seq)
            .limit(batch)
            .correlate(None)  # its own FROM, not the DELETE's table
        )
        async with sessionmaker() as session, session.begin():
            result = await session.execute(table.delete().where(table.c.seq.in_(oldest)))
        count = int(result.rowcount)  # type: ignore[attr-defined]
        deleted += count
        if count < batch:
            return deleted


class OutboxRelay(Relay):
    """Publishes unpublished outbox rows in order; woken after each commit, else polls."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        table: sa.Table,
        publisher: EventPublisher,
        *,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, max_backoff_seconds=max_backoff_seconds)
        self._sessionmaker = sessionmaker
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size

    async def publish_pending(self) -> int:
        """Publish one batch in order; stop at the first failure so per-key order holds."""
        table = self._table
        async with self._sessionmaker() as session, session.begin():
            if not await self._lead(session):
                return 0  # another replica's relay is publishing; this one tries again at its next poll
            rows = (
                await session.execute(
                    sa.select(table.c.id, table.c.topic, table.c.key, table.c.payload)
                    .where(table.c.published_at.is_(None))
                    .order_by(table.c.seq)
                    .limit(self._batch_size)
                )
            ).all()
            published = 0
            failure: Exception | None = None
            for row in rows:
                try:
                    await self._publisher.publish(row.topic, row.key, Event.model_validate_json(row.payload))
                except Exception as exc:
                    failure = exc
                    await session.execute(
                        table.update()
                        .where(table.c.id == row.id)
                        .values(attempts=table.c.attempts + 1, last_error=repr(exc)[:2000])
                    )
                    break
                await session.execute(
                    table.update().where(table.c.id == row.id).values(published_at=datetime.now(UTC))
                )
                published += 1
        # Raised after the commit, so the rows published before the failure stay marked.
        if failure is not None and published == 0:
            raise failure
        return published

    async def _lead(self, session: AsyncSession) -> bool:
        """Whether this relay may publish now: one relay per table at a time, across replicas.

        Replicas splitting the rows between them (`SKIP LOCKED`) would publish a key's later event while
        another replica still held its earlier one; one publisher at a time keeps every key in order. The
        lock is a transaction-scoped advisory lock, released when the batch commits or the process dies.
        SQLite (the single-process dev profile) has no replicas and no such lock.
        """
        if session.get_bind().dialect.name != "postgresql":
            return True
        acquired = await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(self._lock_key)))
        return bool(acquired.scalar_one())

    @property
    def _lock_key(self) -> int:
        # A stable 64-bit key per outbox table (Python's hash() differs between processes).
        digest = hashlib.sha256(f"coursegraph.outbox:{self._table.fullname}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)
