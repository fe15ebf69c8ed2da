"""An OTLP/HTTP trace receiver in the test process: what a collector would receive from CourseGraph.

It accepts `POST /v1/traces` (protobuf, as the Python SDK and the router's exporter send it), decodes it
with opentelemetry-proto's `ExportTraceServiceRequest` and keeps every span with its service's name.
"""

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.servers import serve_in_thread

SERVER, CLIENT, CONSUMER = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_CONSUMER


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int  # Span.SPAN_KIND_*
    trace_id: str  # hex, as in traceparent and in our logs
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any]


@dataclass
class OtlpReceiver:
    url: str  # what OTEL_EXPORTER_OTLP_ENDPOINT points at
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spans: list[ReceivedSpan]) -> None:
        with self._lock:
            self.spans.extend(spans)
            self.requests += 1

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def wait_for(
        self, trace_id: str, done: Callable[[list[ReceivedSpan]], bool], *, timeout: float = 30.0
    ) -> list[ReceivedSpan]:
        """The trace's spans once `done(spans)` holds; the spans so far (for the assertion) on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.in_trace(trace_id)
            if done(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    items: list[KeyValue] = list(pairs)
    return {pair.key: _value(pair.value) for pair in items}


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        attributes=_attributes(span.attributes),
                    )
                )
    return spans


def _app(receiver: list[OtlpReceiver]) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if "protobuf" not in request.headers.get("content-type", ""):
            return Response(status_code=415)
        receiver[0].add(decode(body))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    return app


@contextmanager
def run_otlp_receiver() -> Iterator[OtlpReceiver]:
    holder: list[OtlpReceiver] = []
    with serve_in_thread(_app(holder)) as url:
        holder.append(OtlpReceiver(url=url))
        yield holder[0]
