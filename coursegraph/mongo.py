"""MongoDB for the document-backed services: the client, Beanie models, query counting, write locks.

Locally the server is FerretDB v1, so models and queries stay within its subset: no transactions,
no $lookup/$facet, only $sum/$count accumulators, no partial/TTL/text indexes, no keys with `.` or `$`.

FerretDB v1 also does not make a single-document update atomic: two concurrent conditional updates of
one document can both apply (measured: two winners in 17 of 20 trials, with either backend), where
MongoDB applies exactly one. On FerretDB, writes to one document are therefore serialised inside the
process (`document_lock`), which is correct for one instance of a service; running several replicas
needs MongoDB itself (as compose.yml does). See docs/adr/0010.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from coursegraph.metrics import count_store_call
from coursegraph.tracing import mongo_listeners

logger = logging.getLogger(__name__)

# Commands the driver issues for itself, not for our queries.
_HOUSEKEEPING = {
    "hello",
    "ismaster",
    "isMaster",
    "ping",
    "endSessions",
    "buildInfo",
    "saslStart",
    "saslContinue",
}


class _CountCommands(CommandListener):
    def __init__(self, service: str) -> None:
        self.service = service

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name not in _HOUSEKEEPING:
            count_store_call(self.service, "mongodb", event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        return None

    def failed(self, event: CommandFailedEvent) -> None:
        return None


def mongo_client(url: str, *, service: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        url,
        appname=f"coursegraph-{service}",
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=10_000,
        event_listeners=[_CountCommands(service), *mongo_listeners(service)],
    )


async def init_models(
    client: AsyncMongoClient[dict[str, Any]], database: str, models: Sequence[type[Document]]
) -> None:
    """Bind the Beanie models to the database and create their indexes.

    Indexes are created one call each: FerretDB v1 drops the connection when one createIndexes call
    names several indexes that already exist (as Beanie does on every start); one at a time is a no-op.
    """
    if await detect_ferretdb(client):
        logger.info("FerretDB detected: single-document writes are serialised in this process")
    await init_beanie(database=client[database], document_models=list(models), skip_indexes=True)
    for model in models:
        collection = client[database][model.get_collection_name()]
        for index in getattr(model.Settings, "indexes", []):
            await collection.create_indexes([index])


def utc_now() -> datetime:
    """Now, to the millisecond: what BSON dates keep, so a timestamp reads back as it was written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class _DocumentLocks:
    """One asyncio lock per document being written, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self.enabled = False
        self._locks: dict[tuple[str, str, object], asyncio.Lock] = {}
        self._users: dict[tuple[str, str, object], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, collection: AsyncCollection[Any], document_id: object) -> AsyncIterator[None]:
        if not self.enabled:
            yield
            return
        key = (collection.database.name, collection.name, document_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key], self._locks[key]


_locks = _DocumentLocks()


def document_lock(
    collection: AsyncCollection[Any], document_id: object
) -> contextlib.AbstractAsyncContextManager[None]:
    """Hold around every read-modify-write of one document (a no-op on MongoDB, which is atomic)."""
    return _locks.hold(collection, document_id)


async def detect_ferretdb(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    info = await client.admin.command("buildInfo")
    is_ferretdb = "ferretdbVersion" in info
    if is_ferretdb:
        _locks.enabled = True
    return is_ferretdb
