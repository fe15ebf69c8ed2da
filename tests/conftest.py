"""Shared pytest setup."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from coursegraph_cli.infra.paths import read_env_file

# The stack fixtures (`stack`, `start_stack`, ...) serve tests/e2e and tests/browser alike: one session stack.
pytest_plugins = ["tests.support.e2e"]

# ---------------------------------------------------------------------------------------------
# Backing services (provisioned by `uv run coursegraph infra up`, which `make test` runs).
#
# `up` writes <repo>/.coursegraph/infra/env; load it at import time so every test and every
# settings object sees the URLs. Variables already set win: that is how CI or a developer
# points the tests at services supplied from outside.
# ---------------------------------------------------------------------------------------------

REPO_ROOT = Path(os.environ.get("COURSEGRAPH_REPO_ROOT", Path(__file__).resolve().parents[1]))
for _key, _value in read_env_file(REPO_ROOT / ".coursegraph" / "infra" / "env").items():
    os.environ.setdefault(_key, _value)

_HOW_TO_FIX = "run `make test`, or `uv run coursegraph infra up` before pytest"


def _service_url(env_key: str) -> str:
    """The URL in `env_key`, failing (never skipping) when it is missing or nothing listens there."""
    url = os.environ.get(env_key)
    if not url:
        pytest.fail(f"{env_key} is not set: {_HOW_TO_FIX}", pytrace=False)
    first = url.split(",")[0]
    parts = urlsplit(first if "://" in first else f"tcp://{first}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or {"https": 443, "redis": 6379, "rediss": 6379}.get(parts.scheme, 80)
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        pytest.fail(f"{env_key}={url} is unreachable ({exc}): {_HOW_TO_FIX}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def database_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL (`postgresql+asyncpg://...`)."""
    return _service_url("COURSEGRAPH_DATABASE_URL")


@pytest.fixture(scope="session")
def mongodb_url() -> str:
    """URL of the MongoDB-wire server (FerretDB locally)."""
    return _service_url("COURSEGRAPH_MONGODB_URL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Kafka bootstrap servers (`host:port[,host:port]`)."""
    return _service_url("COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """Endpoint URL of the S3 API (s3s-fs locally)."""
    return _service_url("COURSEGRAPH_S3_ENDPOINT_URL")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis (`redis://127.0.0.1:56379/0` locally)."""
    return _service_url("COURSEGRAPH_REDIS_URL")


# --------------------------------- end of backing services ---------------------------------
