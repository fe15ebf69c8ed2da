"""Where things live: the clone's runtime state and the machine-wide download cache."""

import os
from pathlib import Path

ENV_KEYS = (
    "COURSEGRAPH_DATABASE_URL",
    "COURSEGRAPH_MONGODB_URL",
    "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS",
    "COURSEGRAPH_S3_ENDPOINT_URL",
    "COURSEGRAPH_S3_ACCESS_KEY_ID",
    "COURSEGRAPH_S3_SECRET_ACCESS_KEY",
    "COURSEGRAPH_REDIS_URL",
)


def repo_root() -> Path:
    """The clone we act for: `COURSEGRAPH_REPO_ROOT`, else the nearest parent with pyproject.toml."""
    if override := os.environ.get("COURSEGRAPH_REPO_ROOT"):
        return Path(override).resolve()
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    # Run from outside any clone: fall back to the clone this package was loaded from.
    return Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """Data dirs, logs and pid files: per clone, so two clones never share a database."""
    return repo_root() / ".coursegraph" / "infra"


def env_file() -> Path:
    return state_dir() / "env"


def cache_dir() -> Path:
    """Downloads and builds: outside the clone, so a fresh clone reuses them."""
    override = os.environ.get("COURSEGRAPH_CACHE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "coursegraph"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the `KEY=VALUE` lines that `up` writes."""
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key and not key.startswith("#"):
                values[key] = value
    return values
