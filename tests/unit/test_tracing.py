"""Tracing is off without an OTLP endpoint, and per service with one (coursegraph/tracing.py).

The end-to-end trace through every service is tests/e2e/test_tracing.py; this checks the switch.
"""

import logging
import secrets
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_SDK_DISABLED,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from coursegraph.events.envelope import Event
from coursegraph.observability import TraceContextFilter
from coursegraph.tracing import (
    instrument_http_client,
    mongo_listeners,
    shutdown_tracing,
    tracer_for,
    tracer_provider,
    tracing_enabled,
)
from tests.support.otlp import CLIENT, OtlpReceiver, run_otlp_receiver

TRACE_ID, CALLER_SPAN_ID = secrets.token_hex(16), secrets.token_hex(8)
CALLER_TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SDK_DISABLED):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def otlp(no_endpoint: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with run_otlp_receiver() as receiver:
        monkeypatch.setenv(OTEL_EXPORTER_OTLP_ENDPOINT, receiver.url)
        yield receiver


@pytest.fixture
def in_callers_trace() -> Iterator[None]:
    """Run the test inside a sampled span of a remote caller, as a request handler would."""
    caller = SpanContext(
        int(TRACE_ID, 16), int(CALLER_SPAN_ID, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(caller)))
    yield
    context.detach(token)


async def headers_sent_by(service: str) -> httpx.Headers:
    """The headers an upstream receives from `service`'s (instrumented) HTTP client."""
    received: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        instrument_http_client(client, service)
        await client.get("http://upstream.test/graphql")
    return received[0].headers


@pytest.mark.usefixtures("no_endpoint", "in_callers_trace")
async def test_without_an_endpoint_nothing_is_instrumented() -> None:
    assert not tracing_enabled()
    assert tracer_provider("users") is None
    assert tracer_for("courses", "test") is None
    assert mongo_listeners("courses") == []
    # An instrumented client would inject a traceparent even with no SDK (the API's no-op span carries
    # the caller's context); none is sent, so no instrumentation ran.
    headers = await headers_sent_by("rest-compat")
    assert "traceparent" not in headers


@pytest.mark.usefixtures("in_callers_trace")
async def test_with_an_endpoint_each_service_exports_under_its_own_name(otlp: OtlpReceiver) -> None:
    assert tracing_enabled()
    assert tracer_provider("alpha") is not tracer_provider("beta")

    headers = await headers_sent_by("alpha")
    beta = tracer_for("beta", "test")
    assert beta is not None
    beta.start_span("beta work").end()
    await shutdown_tracing("alpha")
    await shutdown_tracing("beta")

    spans = {span.service: span for span in otlp.in_trace(TRACE_ID)}
    assert set(spans) == {"alpha", "beta"}
    assert spans["alpha"].kind == CLIENT and spans["alpha"].parent_span_id == CALLER_SPAN_ID
    # The upstream is told the client span is its parent.
    assert headers["traceparent"] == f"00-{TRACE_ID}-{spans['alpha'].span_id}-01"
    assert spans["beta"].name == "beta work" and spans["beta"].parent_span_id == CALLER_SPAN_ID


def test_sdk_disabled_wins_over_an_endpoint(no_endpoint: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "http://127.0.0.1:9/v1/traces")
    assert tracing_enabled()
    monkeypatch.setenv(OTEL_SDK_DISABLED, "true")
    assert not tracing_enabled() and tracer_provider("users") is None


@pytest.mark.usefixtures("in_callers_trace")
def test_events_and_log_lines_made_in_a_trace_name_it() -> None:
    assert Event(event_type="X", source="test").traceparent == CALLER_TRACEPARENT
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "message", None, None)
    assert TraceContextFilter().filter(record)
    assert (record.__dict__["trace_id"], record.__dict__["span_id"]) == (TRACE_ID, CALLER_SPAN_ID)


def test_events_and_log_lines_outside_a_trace_name_none() -> None:
    assert Event(event_type="X", source="test").traceparent is None
    record = logging.LogRecord("test", logging.INFO, __file__, 1, "message", None, None)
    assert TraceContextFilter().filter(record)
    assert (record.__dict__["trace_id"], record.__dict__["span_id"]) == (None, None)
