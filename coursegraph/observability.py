"""JSON logs carrying the request id and the trace context.

asgi-correlation-id reads (or makes) `x-request-id` per request; the router forwards that header to the
subgraphs, so one id follows a request across services and appears on every log line it causes. With
tracing on (coursegraph/tracing.py), each line also names the trace and span it was written in, so a
trace leads to its logs and back.
"""

import logging
import sys
from typing import Any

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from opentelemetry import trace
from opentelemetry.trace import format_span_id, format_trace_id
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"

__all__ = ["REQUEST_ID_HEADER", "TraceContextFilter", "configure_logging", "request_id_middleware_options"]


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CorrelationIdFilter(default_value=None))
    handler.addFilter(TraceContextFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(trace_id)s %(span_id)s",
                rename_fields={
                    "asctime": "time",
                    "levelname": "level",
                    "name": "logger",
                    "correlation_id": "request_id",
                },
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each plugin at INFO on every start; only its migrations matter.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` (hex, as trace backends show them) of the current span, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format_trace_id(span_context.trace_id)
            record.span_id = format_span_id(span_context.span_id)
        else:
            record.trace_id = record.span_id = None
        return True


def request_id_middleware_options() -> dict[str, Any]:
    # Accept any short opaque id (the router's and other gateways' ids are not all UUIDs).
    return {
        "header_name": REQUEST_ID_HEADER,
        "validator": lambda value: 0 < len(value) <= 128 and value.isprintable(),
    }


RequestIdMiddleware = CorrelationIdMiddleware
