"""Prometheus metrics every service exposes at /metrics.

Store calls are counted separately for request work and background work (the outbox relay), so that a
test or an operator can tell how many queries one request cost: the N+1 check reads these.
"""

import itertools
from contextvars import ContextVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

# Set by the GraphQL context getter for the duration of a request.
in_request: ContextVar[bool] = ContextVar("in_request", default=False)

STORE_CALLS = Counter(
    "coursegraph_store_calls",
    "Database commands and statements issued, by store, operation and origin.",
    ["service", "store", "operation", "origin"],
    registry=REGISTRY,
)
STORE_QUERIES = Counter(
    "coursegraph_store_queries",
    "Queries asked of a store, by store, operation and origin: like store calls, except that a batch of "
    "lookups by id counts once (FerretDB is asked one lookup per id, MongoDB one $in).",
    ["service", "store", "operation", "origin"],
    registry=REGISTRY,
)
ENTITY_BATCHES = Counter(
    "coursegraph_entity_batches",
    "Batched loads of entity references (one per DataLoader batch).",
    ["service", "entity"],
    registry=REGISTRY,
)


class Batch:
    """Commands issued together for one query (lookups by id, concurrently; FerretDB's read, check and
    write of a guarded update): counted as one query."""

    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self.counted = False
        self.number = next(self._numbers)  # tells batches apart in the query-shape log


# Set while a batch is being issued; the concurrent tasks that issue it start with this context.
in_batch: ContextVar[Batch | None] = ContextVar("in_batch", default=None)


def count_store_call(service: str, store: str, operation: str) -> None:
    origin = "request" if in_request.get() else "background"
    STORE_CALLS.labels(service, store, operation, origin).inc()
    batch = in_batch.get()
    if batch is None or not batch.counted:
        STORE_QUERIES.labels(service, store, operation, origin).inc()
        if batch is not None:
            batch.counted = True


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
