"""MongoDB for the document-backed services: the client, Beanie models, query counting, and the two
primitives every repository builds on: reading documents by id and the guarded (compare-and-set) update.

Locally the server is FerretDB v1, so models and queries stay within its subset: no transactions,
no $lookup/$facet, only $sum/$count accumulators, no partial/TTL/text indexes, no keys with `.` or `$`.
Two of its limits shape these primitives (ADR 0010, ADR 0014):

- It does not make a single-document update atomic: two concurrent conditional updates of one document
  can both apply (measured: two winners in 17 of 20 trials), where MongoDB applies exactly one. So on
  FerretDB a guarded update holds a per-document lock in this process, reads, checks and writes; correct
  for one instance of a service, and replicas need MongoDB itself (as compose.yml runs).
- Of all filters, it answers only a lone `_id` equality from an index (its SQLite backend, as the project
  builds it: upstream's lookup missed the index too; its PostgreSQL backend indexes nothing): any other
  filter decodes the whole collection. So on FerretDB every read and write of a request goes by `_id`
  alone, and a batch is that many lookups; on MongoDB the same calls use the `_id` index with their
  usual filters (`$in`, the guard).
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from coursegraph.metrics import Batch, count_store_call, in_batch, in_request
from coursegraph.tracing import mongo_listeners

logger = logging.getLogger(__name__)

D = TypeVar("D", bound=Document)

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


class _StoreProfile:
    """What the connected server can do; set once at start (every service of a process uses one)."""

    ferretdb = False


_store = _StoreProfile()


def is_ferretdb() -> bool:
    return _store.ferretdb


class _CountCommands(CommandListener):
    def __init__(self, service: str, shapes_log: Path | None) -> None:
        self.service = service
        self.shapes_log = shapes_log

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in _HOUSEKEEPING:
            return
        count_store_call(self.service, "mongodb", event.command_name)
        if self.shapes_log is not None:
            batch = in_batch.get()
            record = {
                "service": self.service,
                "origin": "request" if in_request.get() else "background",
                # Commands of one batch are one query (see coursegraph.metrics): one round trip on MongoDB.
                "batch": None if batch is None else batch.number,
            }
            with self.shapes_log.open("a") as log:
                log.write(json.dumps({**record, **command_shape(event.command_name, event.command)}) + "\n")

    def succeeded(self, event: CommandSucceededEvent) -> None:
        return None

    def failed(self, event: CommandFailedEvent) -> None:
        return None


def value_shape(value: Any) -> Any:
    """A filter or sort with every value replaced by its type: what an index can answer, no data."""
    if isinstance(value, Mapping):
        return {str(key): value_shape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, Mapping) for item in value):
            return [value_shape(item) for item in value]
        return "array"
    return type(value).__name__


def command_shape(name: str, command: Mapping[str, Any]) -> dict[str, Any]:
    """The collection and the shapes of the filters of one command (for the query-shape log)."""
    collection = command.get(name)
    filters: list[Any] = []
    if name in ("find", "count", "distinct"):
        filters = [command.get("filter", command.get("query", {}))]
    elif name == "findAndModify":
        filters = [command.get("query", {})]
    elif name == "update":
        filters = [statement.get("q", {}) for statement in command.get("updates", [])]
    elif name == "delete":
        filters = [statement.get("q", {}) for statement in command.get("deletes", [])]
    elif name == "aggregate":
        filters = [stage["$match"] for stage in command.get("pipeline", [])[:1] if "$match" in stage]
    return {
        "command": name,
        "collection": collection,
        "filters": [value_shape(f) for f in filters],
        "sort": list(command.get("sort", {})),
        "projection": value_shape(command.get("projection", command.get("fields", {}))),
        "stages": [next(iter(stage)) for stage in command.get("pipeline", [])],
    }


def mongo_client(
    url: str, *, service: str, shapes_log: Path | None = None
) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        url,
        appname=f"coursegraph-{service}",
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=10_000,
        event_listeners=[_CountCommands(service, shapes_log), *mongo_listeners(service)],
    )


async def init_models(
    client: AsyncMongoClient[dict[str, Any]], database: str, models: Sequence[type[Document]]
) -> None:
    """Bind the Beanie models to the database and create their indexes.

    Indexes are created one call each: FerretDB v1 drops the connection when one createIndexes call
    names several indexes that already exist (as Beanie does on every start); one at a time is a no-op.
    """
    if await detect_ferretdb(client):
        logger.info("FerretDB detected: documents are read and written by _id, writes serialised here")
    await init_beanie(database=client[database], document_models=list(models), skip_indexes=True)
    for model in models:
        collection = client[database][model.get_collection_name()]
        for index in getattr(model.Settings, "indexes", []):
            await collection.create_indexes([index])


async def detect_ferretdb(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        _store.ferretdb = True
    return _store.ferretdb


class _DocumentLocks:
    """One asyncio lock per document being written, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str, object], asyncio.Lock] = {}
        self._users: dict[tuple[str, str, object], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, collection: AsyncCollection[Any], document_id: object) -> AsyncIterator[None]:
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


def _field(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _meets(value: Any, expected: Any) -> bool:
    if isinstance(expected, Mapping) and list(expected) == ["$ne"]:
        # As MongoDB reads it: no element of an array, or the value itself, equals it.
        return expected["$ne"] not in value if isinstance(value, list) else value != expected["$ne"]
    return bool(value == expected)


def _matches(document: Mapping[str, Any], guard: Mapping[str, Any]) -> bool:
    """Whether `document` meets `guard`, equality (or `$ne`) conditions as a MongoDB filter reads them
    (a None expects the field null or missing)."""
    return all(_meets(_field(document, path), expected) for path, expected in guard.items())


async def guarded_update(
    collection: AsyncCollection[dict[str, Any]],
    document_id: object,
    guard: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    upsert: bool = False,
) -> bool:
    """Apply `update` to one document only while it still meets `guard` (equality conditions on values
    read earlier: a version, a lease, the head of the outbox; or `$ne`); return whether it applied.

    MongoDB decides in one filtered update. FerretDB reads by `_id`, checks, and writes by `_id` under
    this process's lock for the document (see the module docstring): one query, as MongoDB's.
    """
    if not _store.ferretdb:
        result = await collection.update_one({"_id": document_id, **guard}, dict(update), upsert=upsert)
        return result.modified_count == 1 or result.upserted_id is not None
    async with _locks.hold(collection, document_id):
        with _one_query():
            current = await collection.find_one({"_id": document_id}, _guarded_fields(guard))
            if current is None and not upsert:
                return False
            if current is not None and not _matches(current, guard):
                return False
            result = await collection.update_one({"_id": document_id}, dict(update), upsert=upsert)
            return result.modified_count == 1 or result.upserted_id is not None


async def guarded_update_returning(
    collection: AsyncCollection[dict[str, Any]],
    document_id: object,
    guard: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    projection: Mapping[str, Any],
) -> dict[str, Any] | None:
    """`guarded_update`, answering the document as written (within `projection`), or None when the guard
    did not hold. MongoDB: one findAndModify. FerretDB, which cannot project a findAndModify: under the
    lock, read, check, write and read again, one query."""
    if not _store.ferretdb:
        return await collection.find_one_and_update(
            {"_id": document_id, **guard},
            dict(update),
            projection=dict(projection),
            return_document=ReturnDocument.AFTER,
        )
    async with _locks.hold(collection, document_id):
        with _one_query():
            current = await collection.find_one({"_id": document_id}, _guarded_fields(guard))
            if current is None or not _matches(current, guard):
                return None
            await collection.update_one({"_id": document_id}, dict(update))
            return await collection.find_one({"_id": document_id}, dict(projection))


def _guarded_fields(guard: Mapping[str, Any]) -> dict[str, int]:
    """What a check of `guard` needs of the document: its fields, not (say) a course's lesson bodies."""
    return {path.split(".")[0]: 1 for path in guard} or {"_id": 1}


@contextlib.contextmanager
def _one_query() -> Iterator[None]:
    """The commands issued inside count as one query, as MongoDB is asked one (see coursegraph.metrics)."""
    token = in_batch.set(Batch())
    try:
        yield
    finally:
        in_batch.reset(token)


async def get_by_ids(model: type[D], ids: Sequence[object]) -> list[D]:
    """The documents with these ids that exist, in no particular order."""
    unique = list(dict.fromkeys(ids))
    # One `$in` per IN_BATCH ids: MongoDB answers it from the `_id` index, and so does the FerretDB the
    # project builds (upstream decodes the whole collection for it; ADR 0014).
    found: list[D] = []
    for start in range(0, len(unique), IN_BATCH):
        found += await model.find({"_id": {"$in": unique[start : start + IN_BATCH]}}).to_list()
    return found


# FerretDB v1 on SQLite deletes what a filter matched with one SQL `IN` naming every matched id, and SQLite
# limits the variables of one statement (32,766): a delete that matches more documents fails. An `$in` of
# more ids than the project's build pushes down (1,000) is tested against each document by walking the
# list (40,000 documents against 40,000 values: 115 s). So large deletes go by ranges of ids, and long
# lists of ids in short `$in`s.
DELETE_BATCH = 10_000
IN_BATCH = 500


async def delete_in_batches(collection: AsyncCollection[dict[str, Any]], query: Mapping[str, Any]) -> int:
    """Delete what `query` matches, at most `DELETE_BATCH` at a time (ranges of `_id`); how many."""
    ids = sorted([document["_id"] async for document in collection.find(query, {"_id": 1})])
    deleted = 0
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        within = {**query, "_id": {"$gte": batch[0], "$lte": batch[-1]}}
        deleted += (await collection.delete_many(within)).deleted_count
    return deleted


async def delete_ids(collection: AsyncCollection[dict[str, Any]], ids: Sequence[Any]) -> int:
    """Delete these documents, `IN_BATCH` ids at a time; how many there were."""
    deleted = 0
    for start in range(0, len(ids), IN_BATCH):
        result = await collection.delete_many({"_id": {"$in": list(ids[start : start + IN_BATCH])}})
        deleted += result.deleted_count
    return deleted
