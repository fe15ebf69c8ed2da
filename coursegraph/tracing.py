"""OpenTelemetry tracing: one TracerProvider per service, off unless an OTLP endpoint is configured.

Configured by the standard variables only: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT` turns tracing on (OTLP over HTTP/protobuf); the SDK reads the rest itself
(`OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`, ...);
`OTEL_SDK_DISABLED=true` turns it off. With no endpoint nothing is instrumented and no exporter exists.

The launcher serves several services in one process, so the global TracerProvider is never set: each
service gets its own (its own `service.name`), and the instrumentations are attached per object (app,
HTTP client, engine, MongoDB client) with that provider. See docs/adr/0011-tracing.md.
"""

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import strawberry
from fastapi import FastAPI
from opentelemetry import context, metrics, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.pymongo import CommandTracer
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pymongo.monitoring import CommandListener
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension

__all__ = [
    "current_traceparent",
    "instrument_app",
    "instrument_engine",
    "instrument_graphql",
    "instrument_http_client",
    "mongo_listeners",
    "shutdown_tracing",
    "span_continuing",
    "tracer_for",
    "tracer_provider",
    "tracing_enabled",
    "untraced",
]

# Probes and scrapes are not requests anyone wants to follow.
_EXCLUDED_URLS = r"/health$,/ready$,/metrics$"
_TRACE_CONTEXT = TraceContextTextMapPropagator()
_providers: dict[str, TracerProvider] = {}


def tracing_enabled() -> bool:
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return False
    return bool(
        os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "").strip()
        or os.environ.get(OTEL_EXPORTER_OTLP_ENDPOINT, "").strip()
    )


def tracer_provider(service: str) -> TracerProvider | None:
    """The service's provider, made on first use; None when tracing is off."""
    if not tracing_enabled():
        return None
    provider = _providers.get(service)
    if provider is None:
        # The explicit name wins over OTEL_SERVICE_NAME: one process may hold several services.
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _providers[service] = provider
    return provider


async def shutdown_tracing(service: str) -> None:
    """Export what is buffered and stop the service's provider (on app shutdown)."""
    provider = _providers.pop(service, None)
    if provider is not None:
        # The exporter's last POST blocks; other services in the process keep serving meanwhile.
        await asyncio.to_thread(provider.shutdown)


@contextmanager
def untraced() -> Iterator[None]:
    """Store and HTTP calls made in here, and in tasks started in here, make no spans.

    For background loops (outbox relays, sweepers) and probes: a root span for every poll would bury
    the traces of requests. Tasks copy the context they are created in, so this covers them too.
    """
    with suppress_instrumentation():
        yield


def instrument_app(app: FastAPI, service: str) -> None:
    """A server span for each HTTP request and WebSocket (no-op when tracing is off)."""
    provider = tracer_provider(service)
    if provider is not None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, excluded_urls=_EXCLUDED_URLS, exclude_spans=["receive", "send"]
        )


def instrument_graphql(schema: strawberry.Schema, service: str) -> None:
    """Spans for the GraphQL operation, its parsing and its validation (no-op when off).

    Not one per resolver: measured on the catalog page, resolver spans multiplied the services' CPU per
    request by about 5 (docs/performance.md), because every field becomes awaitable and a span. Store
    and HTTP client spans still show where an operation's time goes. Argument values are never recorded;
    the document is. The schema is module-level and shared by every app made from it: the previous
    app's tracing extension is replaced, not stacked.
    """
    provider = tracer_provider(service)
    if provider is None:
        return

    def extension() -> SchemaExtension:
        return _OperationSpans(tracer_provider=provider)

    extension.coursegraph_tracing = True  # type: ignore[attr-defined]
    kept = [ext for ext in schema.extensions if not getattr(ext, "coursegraph_tracing", False)]
    schema.extensions = (*kept, extension)


class _OperationSpans(OpenTelemetryExtension):
    # The base class's resolve hook: Strawberry then installs no per-field middleware at all.
    resolve = SchemaExtension.resolve  # type: ignore[assignment]


def instrument_http_client(client: httpx.AsyncClient, service: str) -> None:
    """A client span per request, with W3C `traceparent` injected (no-op when off)."""
    provider = tracer_provider(service)
    if provider is not None:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def instrument_engine(engine: AsyncEngine, service: str) -> None:
    """A span per SQL statement (the statement's text, never its parameters); no-op when off."""
    provider = tracer_provider(service)
    if provider is None:
        return
    # SQLAlchemyInstrumentor().instrument() is a process-wide singleton that also patches
    # create_engine for every later engine, whatever its service: use its per-engine tracer instead.
    meter = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy")
    usage = meter.create_up_down_counter("db.client.connections.usage", unit="connections")
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def mongo_listeners(service: str) -> list[CommandListener]:
    """The listener that makes a span per MongoDB command (no statements recorded); none when off."""
    provider = tracer_provider(service)
    if provider is None:
        return []
    # Like SQLAlchemy's, PymongoInstrumentor registers one global listener for every client.
    return [CommandTracer(provider.get_tracer("opentelemetry.instrumentation.pymongo"))]


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to carry the trace across Kafka; None outside one."""
    carrier: dict[str, str] = {}
    _TRACE_CONTEXT.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span_continuing(
    tracer: trace.Tracer | None,
    name: str,
    traceparent: str | None,
    *,
    kind: trace.SpanKind,
    attributes: dict[str, str],
) -> Iterator[None]:
    """A span whose parent is `traceparent` (a new trace without one), current inside the block.

    It starts from an empty context, not the caller's: consumers run in tasks started untraced.
    """
    if tracer is None:
        yield
        return
    parent = _TRACE_CONTEXT.extract({"traceparent": traceparent} if traceparent else {}, context.Context())
    token = context.attach(parent)
    try:
        with tracer.start_as_current_span(name, kind=kind, attributes=attributes):
            yield
    finally:
        context.detach(token)


def tracer_for(service: str, name: str) -> trace.Tracer | None:
    provider = tracer_provider(service)
    return None if provider is None else provider.get_tracer(name)
