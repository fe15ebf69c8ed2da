"""MongoDB for the document-backed services: the client, Beanie models, and query counting.

Locally the server is FerretDB v1, so models and queries stay within its subset: no transactions,
no $lookup/$facet, only $sum/$count accumulators, no partial/TTL/text indexes, no keys with `.` or `$`.
"""

from collections.abc import Sequence
from typing import Any

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from coursegraph.metrics import count_store_call

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
        event_listeners=[_CountCommands(service)],
    )


async def init_models(
    client: AsyncMongoClient[dict[str, Any]], database: str, models: Sequence[type[Document]]
) -> None:
    """Bind the Beanie models to the database and create their indexes.

    Indexes are created one call each: FerretDB v1 drops the connection when one createIndexes call
    names several indexes that already exist (as Beanie does on every start); one at a time is a no-op.
    """
    await init_beanie(database=client[database], document_models=list(models), skip_indexes=True)
    for model in models:
        collection = client[database][model.get_collection_name()]
        for index in getattr(model.Settings, "indexes", []):
            await collection.create_indexes([index])
