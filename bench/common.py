"""What the benchmarks share: CPU time per process from /proc, throwaway stores for one run, the machine.

`catalog.py`, `operations.py`, `media.py` and `notifications.py` import these; nothing here measures on
its own. Not a test: pytest does not collect it.
"""

import asyncio
import json
import math
import os
import platform
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from coursegraph_cli.infra.paths import env_file, read_env_file
from coursegraph_cli.infra.services import FerretDB, Postgres
from tests.support.servers import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, round(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# --- CPU time per process ---------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds) for every process we can read."""
    table: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return table


def _tree(table: dict[int, tuple[int, str, float]], root: int) -> set[int]:
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        members.update(children)
        frontier.extend(children)
    return members


@dataclass(frozen=True)
class ProcessGroups:
    """Which processes are which part of the system: CPU is read per group, before and after a target."""

    stack_pid: int  # `coursegraph serve` (the Python services, the router its child), or one server
    ferretdb_pid: int | None
    postgres_pid: int | None

    def cpu(self) -> dict[str, float]:
        table = _proc_table()
        stack = _tree(table, self.stack_pid) if self.stack_pid in table else set()
        router = {pid for pid in stack if table[pid][1].startswith("node")}
        groups = {
            "python services": stack - router,
            "router (node)": router,
            "ferretdb": _tree(table, self.ferretdb_pid) if self.ferretdb_pid in table else set(),
            "postgresql": _tree(table, self.postgres_pid) if self.postgres_pid in table else set(),
        }
        seconds = {name: sum(table[pid][2] for pid in pids if pid in table) for name, pids in groups.items()}
        seconds["load client"] = time.process_time()
        return seconds


async def create_stores(database_url: str) -> tuple[str, str]:
    """A fresh PostgreSQL database (and the name of a fresh MongoDB database): (users URL, name)."""
    name = f"bench_catalog_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(database_url).set(database=name).render_as_string(hide_password=False), name


async def drop_stores(database_url: str, mongodb_url: str, name: str) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    await mongo.drop_database(name)
    await mongo.close()
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    pretty = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', os_release, re.MULTILINE)
    try:
        node = subprocess.run(
            ["node", "--version"],  # noqa: S607 (node from PATH, as the launcher runs it)
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except OSError:
        node = "not found"
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "memory_gib": f"{int(memory.group(1)) / 1024 / 1024:.1f}" if memory else "?",
        "os": f"{pretty.group(1) if pretty else platform.system()} (kernel {platform.release()})",
        "python": platform.python_version(),
        "node": node,
    }


INFRA_KEYS = ("COURSEGRAPH_DATABASE_URL", "COURSEGRAPH_MONGODB_URL", "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS")
# Passed on when the infrastructure has them (not every checkout a bench measures knows them).
OPTIONAL_INFRA_KEYS = ("COURSEGRAPH_REDIS_URL",)


def infra_urls() -> dict[str, str]:
    """The test infrastructure's URLs: this environment's, else `coursegraph infra up`'s env file."""
    urls = read_env_file(env_file())
    values = {}
    for key in INFRA_KEYS:
        value = os.environ.get(key) or urls.get(key)
        if not value:
            raise SystemExit(f"{key} is not set: run `uv run coursegraph infra up` first")
        values[key] = value
    for key in OPTIONAL_INFRA_KEYS:
        if value := os.environ.get(key) or urls.get(key):
            values[key] = value
    return values


def write_report(report: dict[str, Any], destination: str) -> None:
    """The report as JSON: to stdout when `destination` is "-", else to that file."""
    text = json.dumps(without_nan(report), indent=2)
    if destination == "-":
        print(text)
    else:
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        Path(destination).write_text(text + "\n")


def without_nan(value: Any) -> Any:
    """The report as strict JSON: a measure that has no value (no good answer at all) is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


@contextmanager
def dedicated_ferretdb(directory: Path) -> Iterator[tuple[str, int]]:
    """FerretDB (the test profile's document store) for this run alone: (URL, pid).

    Its own process, so no other client of the shared one slows it down or shows in its CPU time."""
    ferretdb = FerretDB()
    ferretdb.ensure_installed()
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "ferretdb.log").open("w") as log:
        process = subprocess.Popen(  # noqa: S603 (the binary the infra provisions, fixed arguments)
            ferretdb.command(port, directory), stdout=log, stderr=subprocess.STDOUT, cwd=directory
        )
    url = f"mongodb://127.0.0.1:{port}/"
    try:
        asyncio.run(_wait_for_mongodb(url, process))
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_for_mongodb(url: str, process: "subprocess.Popen[bytes]") -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, serverSelectionTimeoutMS=500)
    try:
        for _ in range(60):
            if process.poll() is not None:
                raise SystemExit(f"FerretDB exited ({process.returncode}) before it answered")
            try:
                await client.admin.command("ping")
                return
            except PyMongoError:
                await asyncio.sleep(0.5)
        raise SystemExit(f"FerretDB did not answer at {url}")
    finally:
        await client.close()


def idle_cpu(groups: ProcessGroups, seconds: float) -> dict[str, float]:
    """Share of one core each part uses while nothing is asked of it (background work: relays, polls)."""
    before = groups.cpu()
    time.sleep(seconds)
    after = groups.cpu()
    return {
        name: round(max(0.0, after[name] - before[name]) / seconds, 3)
        for name in after
        if name != "load client"
    }


@contextmanager
def stores(
    profile: str,
    scratch: Path,
    say: Callable[[str], None],
    *,
    mongodb_url: str | None = None,
    baseline: bool = False,
) -> Iterator[tuple[dict[str, str], int | None, int | None]]:
    """A FerretDB for this run, unless `mongodb_url` names a server (and, in the test profile, a
    throwaway PostgreSQL database and the infrastructure's Kafka): the stack's store settings and the
    FerretDB and PostgreSQL pids.

    A `baseline` stack's Kafka consumer groups are named apart from this checkout's (which keep the
    default names), so that the two stacks of one run do not share out each other's partitions. The
    names are the same from run to run: a new group starts at the topic's beginning, and replaying every
    event the test suites ever published would be measured as the stack's idle work."""
    with ExitStack() as cleanup:
        ferretdb_pid = None
        if mongodb_url is None:
            say("starting a FerretDB (SQLite backend) for this run")
            mongodb_url, ferretdb_pid = cleanup.enter_context(dedicated_ferretdb(scratch / "ferretdb"))
        if profile == "dev":
            yield {"COURSEGRAPH_MONGODB_URL": mongodb_url}, ferretdb_pid, None
            return
        urls = infra_urls()
        database_url = urls["COURSEGRAPH_DATABASE_URL"]
        users_url, database = asyncio.run(create_stores(database_url))
        cleanup.callback(lambda: asyncio.run(drop_stores(database_url, mongodb_url, database)))
        env = {
            **urls,
            "COURSEGRAPH_DATABASE_URL": users_url,
            "COURSEGRAPH_MONGODB_URL": mongodb_url,
            "COURSEGRAPH_COURSES_DATABASE": database,
            "COURSEGRAPH_ASSESSMENTS_DATABASE": database,
        }
        if baseline:
            env["COURSEGRAPH_KAFKA_CONSUMER_GROUP_PREFIX"] = "bench-baseline-"
        yield env, ferretdb_pid, Postgres().pid()
