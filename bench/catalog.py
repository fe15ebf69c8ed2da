"""The catalog scenario: one page of courses with instructor names and enrollment counts, three ways.

Same data, same run:
  (a) baseline   the courses subgraph directly (instructor ids only: names live in the users subgraph)
  (b) router     the same operation through the router, `instructor { name }` federated to users
  (c) rest       rest-compat `GET /courses?first=N`, which runs (b)'s operation through the router

It provisions its own catalog (a throwaway PostgreSQL database on the test infrastructure, a FerretDB of
its own unless `--mongodb-url` names a server, both seeded with `coursegraph seed`), starts the whole
stack on free loopback ports in the test profile (as the end-to-end tests do), checks that the three
targets answer the same pages, warms each up, then drives each with a bounded async loop (httpx, fixed
concurrency, fixed duration; successive requests ask for different pages) and reports req/s, latency
percentiles, the ratio of each target to the baseline, and the CPU time each process spent per request.

    uv run python bench/catalog.py --duration 15            # the tables
    uv run python bench/catalog.py --duration 15 --json     # the same as JSON on stdout

Needs the test infrastructure (`uv run coursegraph infra up`). Not a test: pytest does not collect it.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvloop
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from rest_compat import courses as rest_operations
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from coursegraph_cli.infra.paths import env_file, read_env_file
from coursegraph_cli.infra.services import FerretDB, Postgres
from tests.support.otlp import run_otlp_receiver
from tests.support.servers import free_port
from tests.support.stack import REPO, Stack, run_stack

# The router and rest-compat run exactly this operation (rest-compat's own, so (b) and (c) do the same
# work); the baseline asks the subgraph for the same fields except the instructor's name.
ROUTER_QUERY = rest_operations.COURSES
BASELINE_QUERY = ROUTER_QUERY.replace("instructor { id name }", "instructor { id }")
# `--outline`: each course's outline too, as `GET /courses` listed it before ADR 0015 (REST no longer does).
OUTLINE = "instructor { id name }\n  modules { id title order lessons { id title order mediaUrl } }"
CURSOR_QUERY = """query Cursors($first: Int!) { courses(first: $first) { edges { cursor } } }"""
assert BASELINE_QUERY != ROUTER_QUERY, (
    "rest-compat's catalog operation no longer selects instructor { id name }"
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- what is measured -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One way to ask for a catalog page; request `i` asks for page `i mod len(after)`."""

    name: str
    label: str
    url: str
    query: str | None  # GraphQL operation; None for REST
    first: int
    after: list[str | None]  # the cursor of each page (None: the first page)
    ok_marker: bytes  # present in every good answer (the bodies are not parsed in the loop)

    async def send(self, client: httpx.AsyncClient, index: int = 0) -> httpx.Response:
        after = self.after[index % len(self.after)]
        headers = {"x-request-id": f"bench-{uuid.uuid4().hex}"}  # one per request, as clients send
        if self.query is None:
            params: dict[str, Any] = {"first": self.first} | ({"after": after} if after else {})
            return await client.get(self.url, params=params, headers=headers)
        variables = {"first": self.first, "after": after, "filter": None}
        return await client.post(
            self.url, json={"query": self.query, "variables": variables}, headers=headers
        )

    def ok(self, response: httpx.Response) -> bool:
        body = response.content
        return response.status_code == 200 and self.ok_marker in body and b'"errors"' not in body


@dataclass
class Result:
    target: str
    label: str
    requests: int
    errors: int
    first_error: str  # status and start of the body (or the exception) of the first failed request
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    rps_ratio: float = 1.0  # to the baseline
    p50_ratio: float = 1.0
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, round(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def drive(target: Target, *, concurrency: int, duration: float) -> tuple[list[float], int, str, float]:
    """`concurrency` workers send requests back to back for `duration` seconds; latencies in seconds."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sent_count = 0
    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors, sent_count, first_error
            while time.perf_counter() < deadline:
                index, sent_count = sent_count, sent_count + 1
                sent = time.perf_counter()
                try:
                    response = await target.send(client, index)
                    good, problem = target.ok(response), f"{response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    good, problem = False, repr(exc)
                if good:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1
                    first_error = first_error or problem

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, first_error, elapsed


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

    stack_pid: int
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


# --- the catalog and the stack ------------------------------------------------------------------------


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


def seed_catalog(env: dict[str, str], args: argparse.Namespace) -> float:
    command = [
        sys.executable, "-m", "coursegraph_cli", "seed",
        f"--instructors={args.instructors}", f"--courses={args.courses}", f"--learners={args.learners}",
        f"--enrollments-per-learner={args.enrollments_per_learner}", f"--seed={args.seed}",
    ]  # fmt: skip
    started = time.perf_counter()
    run = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"seeding failed:\n{run.stdout}\n{run.stderr}")
    return time.perf_counter() - started


@contextmanager
def stack_for(env: dict[str, str], log_dir: Path) -> Iterator[Stack]:
    stack_env = {key: value for key, value in env.items() if key.startswith(("COURSEGRAPH_", "OTEL_"))}
    with run_stack(stack_env, log_dir / "stack.log") as stack:
        yield stack


def targets(stack: Stack, first: int, pages: int, *, outline: bool = False) -> list[Target]:
    """The three targets, each asking for the same `pages` pages in the same order.

    Pages are windows of the catalog that start one course apart, so that requests in flight at the
    same time differ: the router merges identical subgraph requests in flight into one, and a loop that
    sends one request over and over would measure that merging rather than the work of a page."""
    response = httpx.post(
        stack.subgraph_urls["courses"],
        json={"query": CURSOR_QUERY, "variables": {"first": min(100, first + pages)}},
        timeout=60,
    )
    cursors = [edge["cursor"] for edge in response.json()["data"]["courses"]["edges"]]
    if len(cursors) < first:
        raise SystemExit(f"fewer than {first} published courses: seed more")
    # After None: the first page; after the k-th course's cursor: the page starting at course k + 1.
    windows: list[str | None] = [None, *cursors[: len(cursors) - first]][:pages]
    router_query = ROUTER_QUERY.replace("instructor { id name }", OUTLINE) if outline else ROUTER_QUERY
    baseline_query = router_query.replace("instructor { id name }", "instructor { id }")
    return [
        Target("baseline", "subgraph (direct)", stack.subgraph_urls["courses"], baseline_query, first,
               windows, b'"edges"'),
        Target("router", "router (GraphQL)", stack.router_url, router_query, first, windows, b'"edges"'),
        Target("rest", "rest-compat (REST)", f"{stack.rest_url}/courses", None, first, windows, b'"items"'),
    ]  # fmt: skip


def check_same_pages(all_targets: list[Target]) -> None:
    """The three targets answer the same courses in the same order, router and REST with the same
    instructor names (checked on the first and the last page)."""
    for index in sorted({0, len(all_targets[0].after) - 1}):
        pages: dict[str, list[tuple[str, str | None, int]]] = {}
        for target in all_targets:
            response = asyncio.run(_once(target, index))
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise SystemExit(f"{target.label} answered {response.status_code}: {response.text[:500]}")
            if target.query is None:
                courses = [
                    (c["id"], c["instructor"].get("name"), c["enrollment_count"])
                    for c in body["data"]["items"]
                ]
            else:
                nodes = [edge["node"] for edge in body["data"]["courses"]["edges"]]
                courses = [(c["id"], c["instructor"].get("name"), c["enrollmentCount"]) for c in nodes]
            pages[target.name] = courses
        baseline = pages["baseline"]
        for name, page in pages.items():
            if [(i, n) for i, _, n in page] != [(i, n) for i, _, n in baseline]:
                raise SystemExit(f"{name} answered another page {index + 1} than the baseline")
        if pages["router"] != pages["rest"] or not all(name for _, name, _ in pages["router"]):
            raise SystemExit(f"router and rest-compat disagree on instructor names (page {index + 1})")


async def _once(target: Target, index: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60.0) as client:
        return await target.send(client, index)


# --- the machine ----------------------------------------------------------------------------------------


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


# --- the run --------------------------------------------------------------------------------------------


def infra_urls() -> dict[str, str]:
    urls = read_env_file(env_file())
    values = {}
    for key in ("COURSEGRAPH_DATABASE_URL", "COURSEGRAPH_MONGODB_URL", "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"):
        value = os.environ.get(key) or urls.get(key)
        if not value:
            raise SystemExit(f"{key} is not set: run `uv run coursegraph infra up` first")
        values[key] = value
    return values


def measure(
    all_targets: list[Target], groups: ProcessGroups, args: argparse.Namespace, say: Callable[[str], None]
) -> list[Result]:
    results: list[Result] = []
    for target in all_targets:
        say(f"warming up {target.label} ({args.warmup:g}s)")
        uvloop.run(drive(target, concurrency=args.concurrency, duration=args.warmup))
        say(f"measuring {target.label} ({args.duration:g}s, {args.concurrency} concurrent)")
        before = groups.cpu()
        latencies, errors, first_error, elapsed = uvloop.run(
            drive(target, concurrency=args.concurrency, duration=args.duration)
        )
        after = groups.cpu()
        latencies.sort()
        count = len(latencies)
        results.append(
            Result(
                target=target.name,
                label=target.label,
                requests=count,
                errors=errors,
                first_error=first_error,
                seconds=round(elapsed, 3),
                rps=round(count / elapsed, 1),
                p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
                p95_ms=round(percentile(latencies, 0.95) * 1000, 2),
                p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
                mean_ms=round(sum(latencies) / max(1, count) * 1000, 2),
                # A process that exits (e.g. a database backend) takes its CPU time with it: never below 0.
                cpu_ms_per_request={
                    name: round(max(0.0, after[name] - before[name]) * 1000 / max(1, count + errors), 3)
                    for name in after
                },
            )
        )
    baseline = results[0]
    for result in results:
        result.rps_ratio = round(result.rps / baseline.rps, 3) if baseline.rps else float("nan")
        result.p50_ratio = round(result.p50_ms / baseline.p50_ms, 3) if baseline.p50_ms else float("nan")
    return results


def without_nan(value: Any) -> Any:
    """The report as strict JSON: a measure that has no value (no good answer at all) is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nan(item) for item in value]
    return value


def above_idle(result: dict[str, Any], idle_cores: dict[str, float]) -> dict[str, float]:
    """CPU ms per request once the background work measured while idle (outbox relays polling the
    stores) is taken off: at a few requests per second it would otherwise dominate the store's share."""
    handled = max(1, result["requests"] + result["errors"])
    return {
        group: max(0.0, ms - idle_cores.get(group, 0.0) * result["seconds"] * 1000 / handled)
        for group, ms in result["cpu_ms_per_request"].items()
    }


def print_results(report: dict[str, Any], console: Console) -> None:
    results = [Result(**r) for r in report["results"]]
    table = Table(title="catalog: one page of courses (same data, same run)", title_justify="left")
    for column in (
        "target",
        "requests",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "req/s ÷ base",
        "p50 ÷ base",
    ):
        table.add_column(column, justify="left" if column == "target" else "right")
    for r in results:
        table.add_row(
            r.label,
            f"{r.requests:,}",
            str(r.errors),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.rps_ratio:.2f}x",
            f"{r.p50_ratio:.2f}x",
        )
    console.print(table)
    cpu = Table(title="CPU time per request above idle, by process (ms)", title_justify="left")
    cpu.add_column("target")
    groups = list(results[0].cpu_ms_per_request)
    for group in groups:
        cpu.add_column(group, justify="right")
    for r, raw in zip(results, report["results"], strict=True):
        net = above_idle(raw, report["idle_cores"])
        cpu.add_row(r.label, *(f"{net[g]:.2f}" for g in groups))
    console.print(cpu)
    config = report["config"]
    console.print(
        f"catalog: {config['courses']} courses, {config['instructors']} instructors, {config['learners']} "
        f"learners (seeded in {report['seed_seconds']:.1f}s); "
        f"{config['pages']} pages of {config['page_size']} asked in turn, "
        f"concurrency {config['concurrency']}, {config['duration']:g}s per target "
        f"after {config['warmup']:g}s of warm-up"
    )
    if report["idle_cores"]:
        idle = ", ".join(f"{name} {share * 100:.0f}%" for name, share in report["idle_cores"].items())
        console.print(f"idle, before the load (share of one core): {idle}")
    console.print(f"document store: {config['document_store']}")
    load = report["load_average"]
    console.print(f"load average (1 min) before {load['before']:.2f}, after {load['after']:.2f}")
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per target")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measurement first")
    parser.add_argument("--concurrency", type=int, default=10, help="requests in flight")
    parser.add_argument("--page-size", type=int, default=20, help="courses per page")
    parser.add_argument(
        "--pages", type=int, default=20, help="distinct pages asked in turn (1: every request the same)"
    )
    parser.add_argument("--instructors", type=int, default=50)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--enrollments-per-learner", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mongodb-url",
        help="the document store to use (e.g. a real MongoDB); default: a FerretDB started for this run",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="turn OpenTelemetry tracing on, exporting to an OTLP receiver in this process (its cost)",
    )
    parser.add_argument(
        "--outline",
        action="store_true",
        help="the subgraph and the router also list each course's outline (REST lists summaries)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = parser.parse_args()
    if args.duration <= 0 or args.concurrency < 1 or not 1 <= args.page_size <= 100:
        parser.error("--duration > 0, --concurrency >= 1 and --page-size 1..100, please")

    console = Console(stderr=True)

    def say(message: str) -> None:
        console.print(f"[dim]{message}[/dim]")

    urls = infra_urls()
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
    database_url = urls["COURSEGRAPH_DATABASE_URL"]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="coursegraph-bench-") as scratch, ExitStack() as cleanup:
        if args.mongodb_url:
            mongodb_url, ferretdb_pid = args.mongodb_url, None
            document_store = "given MongoDB server"
        else:
            say("starting a FerretDB for this run")
            mongodb_url, ferretdb_pid = cleanup.enter_context(dedicated_ferretdb(Path(scratch) / "ferretdb"))
            document_store = "FerretDB v1 (SQLite backend), dedicated to the run"
        users_url, database = asyncio.run(create_stores(database_url))
        cleanup.callback(lambda: asyncio.run(drop_stores(database_url, mongodb_url, database)))
        env = {
            **inherited,
            **urls,
            "COURSEGRAPH_PROFILE": "test",
            "COURSEGRAPH_DATA_DIR": str(Path(scratch) / "data"),
            "COURSEGRAPH_DATABASE_URL": users_url,
            "COURSEGRAPH_MONGODB_URL": mongodb_url,
            "COURSEGRAPH_COURSES_DATABASE": database,
            "COURSEGRAPH_ASSESSMENTS_DATABASE": database,
            "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",  # one client sends everything: no per-IP limit
        }
        say(f"seeding {args.courses} courses, {args.learners} learners into {database}")
        seed_seconds = seed_catalog(env, args)
        # After seeding: only the stack is traced.
        receiver = cleanup.enter_context(run_otlp_receiver()) if args.tracing else None
        if receiver is not None:
            # The receiver decodes what it gets in this process: its CPU counts as the load client's.
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        say("starting the stack (router, rest-compat, subgraphs)")
        with stack_for(env, Path(scratch)) as stack:
            assert stack.process is not None
            groups = ProcessGroups(stack.process.pid, ferretdb_pid or FerretDB().pid(), Postgres().pid())
            all_targets = targets(stack, args.page_size, args.pages, outline=args.outline)
            if len(all_targets[0].after) < args.concurrency:
                say(
                    f"note: {len(all_targets[0].after)} distinct pages for {args.concurrency} workers: "
                    "the router will merge identical requests in flight (seed more courses for more pages)"
                )
            check_same_pages(all_targets)
            say(f"measuring idle CPU ({args.idle:g}s)")
            idle = idle_cpu(groups, args.idle) if args.idle > 0 else {}
            results = measure(all_targets, groups, args, say)
        spans_received = None if receiver is None else len(receiver.spans)

    report = {
        "scenario": "catalog",
        "command": "uv run python bench/catalog.py " + " ".join(sys.argv[1:]),
        "config": {
            "duration": args.duration,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "page_size": args.page_size,
            "pages": len(all_targets[0].after),
            "instructors": args.instructors,
            "courses": args.courses,
            "learners": args.learners,
            "enrollments_per_learner": args.enrollments_per_learner,
            "seed": args.seed,
            "document_store": document_store,
            "tracing": args.tracing,
            "outline": args.outline,
            "spans_received": spans_received,
        },
        "seed_seconds": round(seed_seconds, 2),
        "idle_cores": idle,
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "machine": machine(),
        "results": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(without_nan(report), indent=2))
    else:
        print_results(report, Console() if sys.stdout.isatty() else Console(width=160))


if __name__ == "__main__":
    main()
