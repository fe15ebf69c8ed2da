"""JSON logs carrying the request id.

asgi-correlation-id reads (or makes) `x-request-id` per request; the router forwards that header to the
subgraphs, so one id follows a request across services and appears on every log line it causes.
"""

import logging
import sys
from typing import Any

from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"

__all__ = ["REQUEST_ID_HEADER", "configure_logging", "request_id_middleware_options"]


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CorrelationIdFilter(default_value=None))
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
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


def request_id_middleware_options() -> dict[str, Any]:
    # Accept any short opaque id (the router's and other gateways' ids are not all UUIDs).
    return {
        "header_name": REQUEST_ID_HEADER,
        "validator": lambda value: 0 < len(value) <= 128 and value.isprintable(),
    }


RequestIdMiddleware = CorrelationIdMiddleware
