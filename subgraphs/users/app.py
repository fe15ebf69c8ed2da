"""The users subgraph app: PostgreSQL (SQLite in dev) store, outbox relay to user.events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request, WebSocket
from pydantic import Field

from coursegraph.clock import system_clock
from coursegraph.db import create_engine, read_session_factory, session_factory, sqlite_url
from coursegraph.events.outbox import OutboxRelay
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.wiring import publisher_from_settings
from coursegraph.migrations import upgrade_to_head
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import Periodic
from subgraphs.users.context import UsersContext
from subgraphs.users.housekeeping import Housekeeping
from subgraphs.users.loaders import make_loaders
from subgraphs.users.models import outbox
from subgraphs.users.schema import schema

MIGRATIONS = Path(__file__).parent / "migrations"


class UsersSettings(ServiceSettings):
    migrate_on_start: bool = True
    database_pool_size: int = 10
    # Published events and sessions whose refresh tokens all expired are kept this long, then deleted.
    users_retention_hours: float = Field(default=7 * 24, gt=0)
    users_housekeeping_seconds: float = Field(default=3600, gt=0)

    @property
    def users_database_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / "users.db")


def create_app(settings: UsersSettings | None = None, publisher: EventPublisher | None = None) -> FastAPI:
    settings = settings or UsersSettings()
    engine = create_engine(
        settings.users_database_url, service="users", pool_size=settings.database_pool_size
    )
    sessions = session_factory(engine)
    read_sessions = read_session_factory(engine)
    publisher = publisher or publisher_from_settings(settings, client_id="users")
    relay = OutboxRelay(
        sessions,
        outbox,
        publisher,
        poll_seconds=settings.outbox_poll_seconds,
        max_backoff_seconds=settings.outbox_max_backoff_seconds,
    )

    housekeeping = Housekeeping(
        sessions,
        outbox,
        retention=timedelta(hours=settings.users_retention_hours),
        clock=system_clock,
    )
    housekeeping_task = Periodic(
        "users housekeeping", housekeeping.run_once, interval_seconds=settings.users_housekeeping_seconds
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await upgrade_to_head(engine, MIGRATIONS)
        relay.start()
        housekeeping_task.start()
        try:
            yield
        finally:
            await housekeeping_task.stop()
            await relay.stop()
            await publisher.close()
            await engine.dispose()

    async def build_context(_: Request | WebSocket, actor: Actor) -> UsersContext:
        return UsersContext(
            actor=actor,
            sessions=sessions,
            read_sessions=read_sessions,
            relay=relay,
            loaders=make_loaders(read_sessions, actor),
        )

    async def database() -> None:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))

    app = create_service_app(
        name="users",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[database],
    )
    # Tests and benchmarks reach the store through the app (e.g. to count statements).
    app.state.engine = engine
    app.state.relay = relay
    return app
