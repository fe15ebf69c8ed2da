"""Prometheus metrics every service exposes at /metrics.

Store calls are counted separately for request work and background work (the outbox relay), so that a
test or an operator can tell how many queries one request cost: the N+1 check reads these.
"""

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
ENTITY_BATCHES = Counter(
    "coursegraph_entity_batches",
    "Batched loads of entity references (one per DataLoader batch).",
    ["service", "entity"],
    registry=REGISTRY,
)


def count_store_call(service: str, store: str, operation: str) -> None:
    origin = "request" if in_request.get() else "background"
    STORE_CALLS.labels(service, store, operation, origin).inc()


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
