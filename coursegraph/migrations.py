"""Run a service's Alembic migrations on an async engine (at start-up, or from the CLI)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine, script_location: Path) -> None:
    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(script_location, connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
