"""The catalog scenario: one page of courses with instructor names and enrollment counts, four ways.

Same data, same run:
  (ceiling)  a plain FastAPI endpoint (bench/ceiling.py, its own process) answering the REST pages'
             very bytes from memory: what one Python worker can do with nothing behind it
  (subgraph) the courses subgraph directly (instructor ids only: names live in the users subgraph)
  (router)   the same operation through the router, `instructor { id name }` federated to users
  (rest)     rest-compat `GET /courses?first=N`, which runs the router's operation through the router

It provisions its own catalog (a throwaway PostgreSQL database on the test infrastructure and a FerretDB
of its own, seeded with the measured checkout's `coursegraph seed`), starts that checkout's whole stack on
free loopback ports in the test profile, checks that the targets answer the same pages, then drives each
with wrk (Debian's, installed if missing; a Lua script asks the pages in turn and checks every answer) at a
fixed concurrency for a fixed duration, or with this process's own httpx loop (`--client httpx`, which
spends as much CPU as the server it measures), while a writer edits published courses through the router
(`--write-rate` a second, so that whatever caches pages is invalidated for real), and reports req/s,
latency percentiles, the CPU time each process spent per request, and each target's ratios to the ceiling.

`--baseline-ref REF` also runs a worktree of REF (bench/checkout.py, as operations.py does) with its own
stores and stack, both up at once, and alternates them target by target (`--rounds`, reversed order
every other round); it adds this ÷ baseline for req/s, CPU per request and p50.

    uv run python bench/catalog.py --duration 15                     # the tables
    uv run python bench/catalog.py --duration 15 --json run.json     # and the report as JSON
    uv run python bench/catalog.py --baseline-ref HEAD~1 --write-rate 1 --json run.json
    uv run python bench/catalog.py --smoke                           # a tiny catalog, a few seconds

Needs the test infrastructure (`uv run coursegraph infra up`). Not a test: pytest does not collect it
(tests/bench/test_smoke.py runs it with `--smoke`).
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop
from rest_compat import courses as rest_operations
from rich.console import Console
from rich.table import Table

from bench.checkout import REPO, Checkout, RunningStack, open_checkout, serve, worktree
from bench.common import ProcessGroups, idle_cpu, machine, percentile, stores, write_report
from coursegraph_cli.infra.services import apt_install
from tests.support.otlp import run_otlp_receiver
from tests.support.servers import free_port, wait_until_ready

# The router and rest-compat run exactly this operation (rest-compat's own, so router and REST do the same
# work); the subgraph is asked for the same fields except the instructor's name.
ROUTER_QUERY = rest_operations.COURSES
SUBGRAPH_QUERY = ROUTER_QUERY.replace("instructor { id name }", "instructor { id }")
# `--outline`: each course's outline too, as `GET /courses` listed it before ADR 0015 (REST no longer does).
OUTLINE = "instructor { id name }\n  modules { id title order lessons { id title order mediaUrl } }"
CURSOR_QUERY = """query Cursors($first: Int!, $after: String) {
  courses(first: $first, after: $after) { edges { cursor node { id title } } pageInfo { hasNextPage } }
}"""
UPDATE_COURSE = """mutation Edit($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id } errors { code message } }
}"""
assert SUBGRAPH_QUERY != ROUTER_QUERY, (
    "rest-compat's catalog operation no longer selects instructor { id name }"
)
CURRENT = "this checkout"  # the system name of the checkout the bench runs from
WRITER_EMAIL = "bench-writer@bench.example.org"  # an admin of each stack (COURSEGRAPH_ADMIN_EMAILS)
TARGETS = ("ceiling", "subgraph", "router", "rest")
LABELS = {
    "ceiling": "plain FastAPI, same bytes",
    "subgraph": "subgraph (direct)",
    "router": "router (GraphQL)",
    "rest": "rest-compat (REST)",
}
SERVER_GROUPS = ("python services", "router (node)", "ferretdb", "postgresql")  # not the load client
# --smoke: a tiny catalog and a second of load per target; the stack, the checks and the writer are real.
SMOKE = {
    "courses": 40, "instructors": 4, "learners": 20, "enrollments_per_learner": 1, "duration": 1.0,
    "warmup": 0.3, "settle": 0.5, "idle": 0.5, "pages": 3, "page_size": 5, "concurrency": 4, "rounds": 1,
}  # fmt: skip


# --- what is measured -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One way to ask for a catalog page; request `i` asks for page `i mod len(after)`."""

    name: str  # one of TARGETS
    system: str  # the stack that answers ("this checkout", "baseline REF") or "ceiling"
    url: str
    query: str | None  # GraphQL operation; None for REST (and the ceiling)
    first: int
    after: list[str | None]  # the cursor of each page in this target's spelling (None: the first page)
    ok_marker: bytes  # present in every good answer (the bodies are not parsed in the loop)

    @property
    def label(self) -> str:
        return LABELS[self.name]

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
class Writer:
    """Edits published courses of the measured pages through the router as an admin, `rate` a second:
    each write changes a title (then changes it back to another edit), as an instructor's edit would."""

    router_url: str
    token: str
    courses: list[tuple[str, str]]  # (id, title as seeded)
    rate: float
    writes: int = 0
    errors: int = 0
    first_error: str = ""

    async def run(self, deadline: float) -> None:
        started = time.perf_counter()
        headers = {"authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=60.0) as client:
            for n in range(1_000_000):
                due = started + n / self.rate
                if due >= deadline:
                    return
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                course_id, title = self.courses[(self.writes + self.errors) % len(self.courses)]
                variables = {"id": course_id, "input": {"title": f"{title} (edit {self.writes + 1})"}}
                try:
                    response = await client.post(
                        self.router_url,
                        json={"query": UPDATE_COURSE, "variables": variables},
                        headers=headers,
                    )
                    body = response.json()
                    good = response.status_code == 200 and not body.get("errors")
                    good = good and not body["data"]["updateCourse"]["errors"]
                    problem = f"{response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    good, problem = False, repr(exc)
                if good:
                    self.writes += 1
                else:
                    self.errors += 1
                    self.first_error = self.first_error or problem


async def drive(
    target: Target, *, concurrency: int, duration: float, writer: Writer | None = None
) -> tuple[list[float], int, str, float, float]:
    """`concurrency` workers send requests back to back for `duration` seconds (and `writer` writes
    meanwhile); latencies in seconds."""
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
        writing = [writer.run(deadline)] if writer is not None else []
        await asyncio.gather(*(worker() for _ in range(concurrency)), *writing)
        elapsed = time.perf_counter() - started
    return latencies, errors, first_error, elapsed, 0.0  # this process's CPU is the load client's already


# wrk (C, a few microseconds of CPU a request) is the default load client: on two cores the Python loop
# above spends about 2.3 ms of CPU a request, as much as the router path it measures, and so caps req/s.
WRK_SCRIPT = """
local requests, threads = {}, {}
-- globals: wrk's thread:get and thread:set reach only those
offset, n, bad, first = 0, 0, 0, ""
function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end
function init(args)
  for i, r in ipairs(REQUESTS) do requests[i] = wrk.format(r[1], r[2], r[3], r[4]) end
end
function request()
  n = n + 1
  return requests[(n + offset) % #requests + 1]
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, MARKER, 1, true) or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
    if first == "" then first = status .. ": " .. string.sub(body, 1, 200) end
  end
end
function done(summary, latency, requests)
  local failed, firsts = 0, ""
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("bad")
    if firsts == "" then firsts = thread:get("first") end
  end
  local e = summary.errors
  local parts = {}
  for p = 1, 99 do table.insert(parts, latency:percentile(p)) end
  table.insert(parts, latency:percentile(99.9))
  io.write("WRK-REPORT ", summary.requests, " ", summary.duration, " ",
    failed + e.connect + e.read + e.write + e.timeout, " ", table.concat(parts, ","), "\\n")
  io.write("WRK-FIRST-ERROR ", firsts, "\\n")
end
"""


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def wrk_script(target: Target) -> str:
    """The Lua that makes wrk ask `target`'s pages in turn and check each answer as `Target.ok` does."""
    path = httpx.URL(target.url).raw_path.decode()
    rows = []
    for index in range(len(target.after)):
        after = target.after[index]
        if target.query is None:
            params: dict[str, Any] = {"first": target.first} | ({"after": after} if after else {})
            url = httpx.URL(target.url, params=params)
            rows.append(f'{{"GET", {_lua_string(url.raw_path.decode())}, {{}}, nil}}')
        else:
            variables = {"first": target.first, "after": after, "filter": None}
            body = json.dumps({"query": target.query, "variables": variables})
            headers = '{["Content-Type"] = "application/json"}'
            rows.append(f'{{"POST", {_lua_string(path)}, {headers}, {_lua_string(body)}}}')
    return (
        f"REQUESTS = {{{', '.join(rows)}}}\nMARKER = {_lua_string(target.ok_marker.decode())}\n" + WRK_SCRIPT
    )


def wrk_binary() -> str:
    """wrk from Debian, installed on first use as the infrastructure's servers are."""
    found = shutil.which("wrk")
    if found is None:
        apt_install("wrk")
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed and could not be installed")
    return found


async def drive_wrk(
    target: Target, *, concurrency: int, duration: float, writer: Writer | None = None
) -> tuple[list[float], int, str, float, float]:
    """wrk keeps `concurrency` connections busy for `duration` seconds, rounded to whole seconds as wrk
    counts them (and `writer` writes meanwhile).
    Latencies come back as wrk's percentiles (1 to 99, and 99.9), each standing for the share of requests
    it describes; and wrk's own CPU seconds."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(target))
    url = httpx.URL(target.url)
    command = [
        wrk_binary(), "-t", str(max(1, min(2, concurrency))), "-c", str(concurrency),
        "-d", f"{max(1, round(duration))}s", "--timeout", "120s", "-s", script.name, f"{url.scheme}://{url.host}:{url.port}",
    ]  # fmt: skip
    deadline = time.perf_counter() + max(1, round(duration))
    writing = asyncio.ensure_future(writer.run(deadline)) if writer else None
    try:
        code, output, cpu = await asyncio.to_thread(_run_counting_cpu, command)
    finally:
        if writing is not None:
            await writing
        os.unlink(script.name)
    lines = output.splitlines()
    report = next((line.split(" ", 4) for line in lines if line.startswith("WRK-REPORT ")), None)
    if code != 0 or report is None:
        raise SystemExit(f"wrk failed ({code}): {output[-2000:]}")
    _, count, micros, failed, percentiles = report
    first_error = next((line[16:] for line in lines if line.startswith("WRK-FIRST-ERROR ")), "")
    good = max(0, int(count) - int(failed))
    points = [float(value) / 1e6 for value in percentiles.split(",")]
    # Each of the 100 points stands for a hundredth of the good requests.
    latencies = [points[min(len(points) - 1, i * len(points) // max(1, good))] for i in range(good)]
    return latencies, int(failed), first_error, int(micros) / 1e6, cpu


def _run_counting_cpu(command: list[str]) -> tuple[int, str, float]:
    """Run a command to its end: its exit code, its output, and the CPU seconds it used."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, output, usage.ru_utime + usage.ru_stime


@dataclass
class System:
    """What answers a target: one checkout's stack (with its stores), or the ceiling's server."""

    name: str
    groups: ProcessGroups
    targets: dict[str, Target] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    writer: Writer | None = None


@dataclass
class Tally:
    """One target's measured periods, summed over the rounds."""

    requests: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds by process group
    writes: int = 0
    write_errors: int = 0
    first_write_error: str = ""


@dataclass
class Result:
    target: str
    system: str
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
    writes: int
    write_errors: int
    first_write_error: str
    cpu_ms_per_request: dict[str, float]  # by process group, raw
    idle_cores: dict[str, float]  # the system's idle use (share of one core) by group
    cpu_ms_above_idle: dict[str, float]
    server_cpu_ms: float  # above idle, every process of the system but the load client
    rps_vs_ceiling: float | None = None
    cpu_vs_ceiling: float | None = None


def measure_once(
    target: Target, system: System, tally: Tally, args: argparse.Namespace, say: Callable[[str], None]
) -> None:
    say(f"{target.system}: {target.label}: warm-up {args.warmup:g}s, then {args.duration:g}s")
    load = drive_wrk if args.client == "wrk" else drive
    uvloop.run(load(target, concurrency=args.concurrency, duration=args.warmup))
    writer = system.writer if target.name != "ceiling" else None
    writes_before = (writer.writes, writer.errors) if writer else (0, 0)
    before = system.groups.cpu()
    latencies, errors, first_error, elapsed, client_cpu = uvloop.run(
        load(target, concurrency=args.concurrency, duration=args.duration, writer=writer)
    )
    after = system.groups.cpu()
    after["load client"] += client_cpu
    tally.requests += len(latencies)
    tally.errors += errors
    tally.first_error = tally.first_error or first_error
    tally.seconds += elapsed
    tally.latencies += latencies
    for group, seconds in after.items():
        # A process that exits (e.g. a database backend) takes its CPU time with it: never below 0.
        tally.cpu[group] = tally.cpu.get(group, 0.0) + max(0.0, seconds - before[group])
    if writer is not None:
        tally.writes += writer.writes - writes_before[0]
        tally.write_errors += writer.errors - writes_before[1]
        tally.first_write_error = tally.first_write_error or writer.first_error


def result_of(target: Target, system: System, tally: Tally) -> Result:
    ordered = sorted(tally.latencies)
    count, handled = len(ordered), max(1, tally.requests + tally.errors)
    raw = {group: seconds * 1000 / handled for group, seconds in tally.cpu.items()}
    net = {
        group: max(0.0, ms - system.idle.get(group, 0.0) * tally.seconds * 1000 / handled)
        for group, ms in raw.items()
    }
    return Result(
        target=target.name,
        system=target.system,
        label=target.label,
        requests=count,
        errors=tally.errors,
        first_error=tally.first_error,
        seconds=round(tally.seconds, 3),
        rps=round(count / tally.seconds, 1) if tally.seconds else float("nan"),
        p50_ms=round(percentile(ordered, 0.50) * 1000, 2),
        p95_ms=round(percentile(ordered, 0.95) * 1000, 2),
        p99_ms=round(percentile(ordered, 0.99) * 1000, 2),
        mean_ms=round(sum(ordered) / max(1, count) * 1000, 2),
        writes=tally.writes,
        write_errors=tally.write_errors,
        first_write_error=tally.first_write_error,
        cpu_ms_per_request={group: round(ms, 3) for group, ms in raw.items()},
        idle_cores=system.idle,
        cpu_ms_above_idle={group: round(ms, 3) for group, ms in net.items()},
        server_cpu_ms=round(sum(net.get(group, 0.0) for group in SERVER_GROUPS), 3),
    )


def _ratio(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or now != now or then != then or not then:
        return None
    return round(now / then, 3)


# --- the stacks, their pages and the ceiling --------------------------------------------------------


def cursors(subgraph_url: str, count: int) -> list[tuple[str, str, str]]:
    """(graph cursor, course id, title) of the first `count` courses of the catalog, newest first."""
    found: list[tuple[str, str, str]] = []
    after = None
    while len(found) < count:
        variables = {"first": min(100, count - len(found)), "after": after}
        response = httpx.post(subgraph_url, json={"query": CURSOR_QUERY, "variables": variables}, timeout=60)
        page = response.json()["data"]["courses"]
        found += [(edge["cursor"], edge["node"]["id"], edge["node"]["title"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"] or not page["edges"]:
            break
        after = found[-1][0]
    return found


def stack_targets(
    stack: RunningStack, system: str, first: int, pages: int, *, outline: bool
) -> tuple[dict[str, Target], list[tuple[str, str]]]:
    """The stack's three targets, each asking for the same `pages` pages in the same order, and the
    courses those pages list (id, title).

    Pages are windows of the catalog that start one course apart, so that requests in flight at the
    same time differ: the router merges identical subgraph requests in flight into one, and a loop that
    sends one request over and over would measure that merging rather than the work of a page."""
    listed = cursors(stack.subgraph_urls["courses"], first + pages - 1)
    if len(listed) < first:
        raise SystemExit(f"fewer than {first} published courses: seed more")
    # After None: the first page; after the k-th course's cursor: the page starting at course k + 1.
    windows: list[str | None] = [None, *(cursor for cursor, _, _ in listed[: len(listed) - first])][:pages]
    rest_windows = [rest_operations.rest_cursor(cursor) for cursor in windows]
    router_query = ROUTER_QUERY.replace("instructor { id name }", OUTLINE) if outline else ROUTER_QUERY
    subgraph_query = router_query.replace("instructor { id name }", "instructor { id }")
    courses = stack.subgraph_urls["courses"]
    targets = {
        "subgraph": Target("subgraph", system, courses, subgraph_query, first, windows, b'"edges"'),
        "router": Target("router", system, stack.router_url, router_query, first, windows, b'"edges"'),
        "rest": Target("rest", system, f"{stack.rest_url}/courses", None, first, rest_windows, b'"items"'),
    }
    return targets, [(course_id, title) for _, course_id, title in listed]


def check_same_pages(targets: dict[str, Target]) -> None:
    """The stack's targets answer the same courses in the same order, router and REST with the same
    instructor names (checked on the first and the last page)."""
    for index in sorted({0, len(targets["subgraph"].after) - 1}):
        pages: dict[str, list[tuple[str, str | None, int]]] = {}
        for target in targets.values():
            response = asyncio.run(_once(target, index))
            body = response.json()
            if response.status_code != 200 or body.get("errors") or not target.ok(response):
                raise SystemExit(
                    f"{target.system}: {target.label} answered {response.status_code}: {response.text[:500]}"
                )
            if target.query is None:
                courses = [
                    (c["id"], c["instructor"].get("name"), c["enrollment_count"])
                    for c in body["data"]["items"]
                ]
            else:
                nodes = [edge["node"] for edge in body["data"]["courses"]["edges"]]
                courses = [(c["id"], c["instructor"].get("name"), c["enrollmentCount"]) for c in nodes]
            pages[target.name] = courses
        subgraph = pages["subgraph"]
        for name, page in pages.items():
            if [(i, n) for i, _, n in page] != [(i, n) for i, _, n in subgraph]:
                raise SystemExit(f"{name} answered another page {index + 1} than the subgraph")
        if pages["router"] != pages["rest"] or not all(name for _, name, _ in pages["router"]):
            raise SystemExit(f"router and rest-compat disagree on instructor names (page {index + 1})")


async def _once(target: Target, index: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60.0) as client:
        return await target.send(client, index)


def start_ceiling(rest: Target, scratch: Path, cleanup: ExitStack, say: Callable[[str], None]) -> System:
    """bench/ceiling.py in a process of its own, answering the REST target's pages as REST answered them."""
    recorded = {}
    for index, after in enumerate(rest.after):
        response = asyncio.run(_once(rest, index))
        if not rest.ok(response):
            raise SystemExit(f"rest-compat answered {response.status_code}: {response.text[:500]}")
        recorded[after or ""] = response.text
    pages = scratch / "ceiling-pages.json"
    pages.write_text(json.dumps(recorded))
    port = free_port()
    say(f"starting the ceiling (plain FastAPI, {len(recorded)} recorded REST pages)")
    log = (scratch / "ceiling.log").open("w")
    cleanup.callback(log.close)
    command = [
        sys.executable, "-m", "uvicorn", "bench.ceiling:app", "--host", "127.0.0.1", f"--port={port}",
        "--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 (uvicorn of this checkout, fixed arguments)
        command,
        cwd=REPO,
        env={**os.environ, "BENCH_CEILING_PAGES": str(pages)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    cleanup.callback(lambda: (process.terminate(), process.wait(timeout=10)))
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{base}/health", timeout=30, alive=lambda: process.poll() is None)
    target = Target("ceiling", "ceiling", f"{base}/courses", None, rest.first, rest.after, b'"items"')
    for index, after in enumerate(rest.after):
        if asyncio.run(_once(target, index)).text != recorded[after or ""]:
            raise SystemExit("the ceiling answered other bytes than rest-compat")
    return System("ceiling", ProcessGroups(process.pid, None, None), {"ceiling": target})


def start_stack(
    checkout: Checkout,
    system: str,
    args: argparse.Namespace,
    scratch: Path,
    cleanup: ExitStack,
    extra_env: dict[str, str],
    say: Callable[[str], None],
) -> tuple[System, RunningStack]:
    """Stores of its own, seeded by the checkout's seed, and the checkout's stack on them."""
    directory = scratch / system.replace(" ", "-")
    directory.mkdir(parents=True)
    store_env, ferretdb_pid, postgres_pid = cleanup.enter_context(
        stores("test", directory, say, mongodb_url=args.mongodb_url, baseline=system != CURRENT)
    )
    env = {
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_DATA_DIR": str(directory / "data"),
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",  # one client sends everything: no per-IP limit
        "COURSEGRAPH_DEV_SIGN_IN": "true",  # the writer signs in
        "COURSEGRAPH_ADMIN_EMAILS": WRITER_EMAIL,
        "COURSEGRAPH_ACCESS_TOKEN_TTL_SECONDS": "86400",
        **store_env,
        **extra_env,
    }
    options = [
        f"--instructors={args.instructors}", f"--courses={args.courses}", f"--learners={args.learners}",
        f"--enrollments-per-learner={args.enrollments_per_learner}", f"--seed={args.seed}",
    ]  # fmt: skip
    say(f"{system}: seeding {args.courses} courses, {args.learners} learners ({checkout.path})")
    checkout.seed(env, options, directory / "seed.log")
    say(f"{system}: starting the stack (router, rest-compat, subgraphs)")
    stack = cleanup.enter_context(serve(checkout, env, directory / "stack.log", timeout=args.start_timeout))
    targets, listed = stack_targets(stack, system, args.page_size, args.pages, outline=args.outline)
    check_same_pages(targets)
    writer = None
    if args.write_rate > 0:
        signed_in = httpx.post(
            f"{stack.rest_url}/auth/dev", json={"email": WRITER_EMAIL, "name": "Bench Writer"}, timeout=60
        )
        if signed_in.status_code != 200:
            raise SystemExit(f"{system}: the writer could not sign in: {signed_in.text[:300]}")
        token = signed_in.json()["data"]["access_token"]
        writer = Writer(stack.router_url, token, listed, args.write_rate)
    groups = ProcessGroups(stack.pid, ferretdb_pid, postgres_pid)
    return System(system, groups, targets, writer=writer), stack


# --- the report -----------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None or value != value else f"{value:,.{digits}f}{suffix}"


def print_results(report: dict[str, Any], console: Console) -> None:
    results = report["results"]
    table = Table(title="catalog: one page of courses (same data, same run)", title_justify="left")
    columns = (
        "target", "system", "requests", "errors", "writes", "req/s", "p50 ms", "p95 ms", "p99 ms",
        "CPU ms/req", "req/s ÷ ceiling", "CPU ÷ ceiling",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "system") else "right")
    for r in results:
        table.add_row(
            r["label"],
            r["system"],
            f"{r['requests']:,}",
            str(r["errors"]) if not r["errors"] else f"[red]{r['errors']}[/red]",
            f"{r['writes']}" + (f" ([red]{r['write_errors']} failed[/red])" if r["write_errors"] else ""),
            _f(r["rps"], 0),
            _f(r["p50_ms"]),
            _f(r["p95_ms"]),
            _f(r["p99_ms"]),
            _f(r["server_cpu_ms"], 2),
            _f(r["rps_vs_ceiling"], 3, "x"),
            _f(r["cpu_vs_ceiling"], 1, "x"),
        )
    console.print(table)
    cpu = Table(title="CPU time per request above idle, by process (ms)", title_justify="left")
    cpu.add_column("target")
    cpu.add_column("system")
    groups = list(results[0]["cpu_ms_above_idle"])
    for group in groups:
        cpu.add_column(group, justify="right")
    for r in results:
        cpu.add_row(r["label"], r["system"], *(_f(r["cpu_ms_above_idle"][g], 2) for g in groups))
    console.print(cpu)
    if report["versus_baseline"]:
        versus = Table(title="this checkout ÷ baseline (same run)", title_justify="left")
        for column in ("target", "req/s", "CPU ms/req", "p50 ms"):
            versus.add_column(column, justify="left" if column == "target" else "right")
        for row in report["versus_baseline"]:
            versus.add_row(
                LABELS[row["target"]], *(_f(row[key], 3, "x") for key in ("rps", "server_cpu_ms", "p50_ms"))
            )
        console.print(versus)
    for r in results:
        for problem in (r["first_error"], r["first_write_error"]):
            if problem:
                console.print(f"  [red]{r['system']}: {r['label']}[/red]: {problem[:400]}", highlight=False)
    config = report["config"]
    console.print(
        f"catalog: {config['courses']} courses, {config['instructors']} instructors, {config['learners']} "
        f"learners; {config['pages']} pages of {config['page_size']} asked in turn, concurrency "
        f"{config['concurrency']}, {config['duration']:g}s per target and round after {config['warmup']:g}s "
        f"of warm-up, {config['rounds']} round(s); {config['write_rate']:g} course edit(s)/s while measured"
    )
    for name, idle in report["idle_cores"].items():
        shares = ", ".join(f"{group} {share * 100:.0f}%" for group, share in idle.items())
        console.print(f"idle, before the load ({name}; share of one core): {shares}")
    console.print(f"document store: {config['document_store']}")
    for run in report["checkouts"]:
        changes = (
            f" + {run['changed_files']} changed files ({run['changes']})" if run["changed_files"] else ""
        )
        console.print(f"{run['system']}: {run['commit'][:9]}{changes} ({run['subject'][:70]})")
    load = report["load_average"]
    console.print(f"load average (1 min) before {load['before']:.2f}, after {load['after']:.2f}")
    console.print("machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()))


# --- the run --------------------------------------------------------------------------------------------


# A courses replica reads the whole catalog again 30 s after it starts (ADR 0025): idle CPU is measured
# after that, or the read counts as idle and is taken off every request's CPU.
SETTLE_SECONDS = 45.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per target and round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target and round")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help="seconds to wait once up")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measurement then")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--page-size", type=int, default=20, help="courses per page")
    parser.add_argument(
        "--pages", type=int, default=20, help="distinct pages asked in turn (1: every request the same)"
    )
    parser.add_argument(
        "--write-rate", type=float, default=0.0, help="course edits per second (as an admin) while measured"
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma-separated subset of " + ", ".join(TARGETS)
    )
    parser.add_argument("--baseline-ref", help="also measure this git ref (a worktree in the cache)")
    parser.add_argument("--rounds", type=int, help="times each target is measured (1; with a baseline 2)")
    parser.add_argument("--instructors", type=int, default=50)
    parser.add_argument("--courses", type=int, default=500)
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--enrollments-per-learner", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds for a stack to start")
    parser.add_argument("--max-errors", type=int, default=0, help="failed requests allowed per target")
    parser.add_argument(
        "--mongodb-url",
        help="the document store to use (e.g. a real MongoDB); default: a FerretDB started for each stack",
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
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk",
        help="the load client: wrk (C, Debian's; installed if missing) or this process's httpx loop",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny catalog and about a second of load per target"
    )
    parser.add_argument(
        "--json", nargs="?", const="-", help="write the report as JSON to this file (no file: stdout)"
    )
    args = parser.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.write_rate = args.write_rate or 2.0
    args.rounds = args.rounds or (2 if args.baseline_ref else 1)
    selected = [name.strip() for name in args.targets.split(",") if name.strip()]
    if set(selected) - set(TARGETS) or not selected:
        parser.error(f"--targets: a comma-separated subset of {', '.join(TARGETS)}")
    if args.duration <= 0 or args.concurrency < 1 or not 1 <= args.page_size <= 100 or args.pages < 1:
        parser.error("--duration > 0, --concurrency >= 1, --page-size 1..100 and --pages >= 1, please")

    to_stderr = args.json == "-"
    console = Console(
        stderr=to_stderr, width=None if (sys.stderr if to_stderr else sys.stdout).isatty() else 180
    )
    progress = Console(stderr=True)

    def say(message: str) -> None:
        progress.print(f"[dim]{message}[/dim]")

    load_before = os.getloadavg()
    checkouts: list[tuple[str, Checkout]] = []
    if args.baseline_ref:
        checkouts.append(
            (f"baseline {args.baseline_ref}", open_checkout(worktree(args.baseline_ref, say), say))
        )
    checkouts.append((CURRENT, open_checkout(REPO, say)))
    described = [{"system": name, **checkout.describe()} for name, checkout in checkouts]
    with tempfile.TemporaryDirectory(prefix="coursegraph-bench-") as scratch_dir, ExitStack() as cleanup:
        scratch = Path(scratch_dir)
        extra_env: dict[str, str] = {}
        receiver = cleanup.enter_context(run_otlp_receiver()) if args.tracing else None
        if receiver is not None:
            # The receiver decodes what it gets in this process: its CPU counts as the load client's.
            extra_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        systems: list[System] = []
        for name, checkout in checkouts:
            system, _ = start_stack(checkout, name, args, scratch, cleanup, extra_env, say)
            systems.append(system)
        current = systems[-1]
        pages = len(current.targets["subgraph"].after)
        if pages < args.concurrency:
            say(
                f"note: {pages} distinct pages for {args.concurrency} workers: the router will merge "
                "identical requests in flight (seed more courses for more pages)"
            )
        ceiling = (
            start_ceiling(current.targets["rest"], scratch, cleanup, say) if "ceiling" in selected else None
        )
        everything = [*systems, *([ceiling] if ceiling else [])]
        # The outbox relays scan their collections when they start, the consumers catch up: not idle.
        say(f"letting the stacks settle ({args.settle:g}s)")
        time.sleep(args.settle)
        for system in everything:
            say(f"{system.name}: measuring idle CPU ({args.idle:g}s)")
            system.idle = idle_cpu(system.groups, args.idle) if args.idle > 0 else {}
        tallies: dict[tuple[str, str], Tally] = {}
        for round_number in range(args.rounds):
            order = systems if round_number % 2 == 0 else systems[::-1]
            for name in selected:
                for system in [ceiling] if name == "ceiling" else order:
                    assert system is not None
                    target = system.targets[name]
                    measure_once(target, system, tallies.setdefault((name, system.name), Tally()), args, say)
        by_name = {system.name: system for system in everything}
        results = [
            result_of(by_name[system].targets[name], by_name[system], tally)
            for (name, system), tally in sorted(
                tallies.items(), key=lambda item: (TARGETS.index(item[0][0]), item[0][1] != systems[0].name)
            )
        ]
        spans_received = None if receiver is None else len(receiver.spans)

    top = next((r for r in results if r.target == "ceiling"), None)
    for r in results:
        if top is not None:
            r.rps_vs_ceiling = _ratio(r.rps, top.rps)
            r.cpu_vs_ceiling = _ratio(r.server_cpu_ms, top.server_cpu_ms)
    versus = []
    if args.baseline_ref:
        for name in selected:
            if name == "ceiling":
                continue
            then, now = (next(r for r in results if r.target == name and r.system == s.name) for s in systems)
            versus.append(
                {"target": name}
                | {
                    key: _ratio(getattr(now, key), getattr(then, key))
                    for key in ("rps", "server_cpu_ms", "p50_ms")
                }
            )
    report = {
        "scenario": "catalog",
        "command": "uv run python bench/catalog.py " + " ".join(sys.argv[1:]),
        "config": {
            "duration": args.duration,
            "warmup": args.warmup,
            "settle": args.settle,
            "idle": args.idle,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "page_size": args.page_size,
            "pages": pages,
            "write_rate": args.write_rate,
            "targets": selected,
            "baseline_ref": args.baseline_ref,
            "instructors": args.instructors,
            "courses": args.courses,
            "learners": args.learners,
            "enrollments_per_learner": args.enrollments_per_learner,
            "seed": args.seed,
            "document_store": "given MongoDB server"
            if args.mongodb_url
            else "FerretDB v1 (SQLite backend), one per stack, dedicated to the run",
            "tracing": args.tracing,
            "outline": args.outline,
            "spans_received": spans_received,
            "smoke": args.smoke,
            "client": args.client,
        },
        "checkouts": described,
        "idle_cores": {system.name: system.idle for system in everything},
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "machine": machine(),
        "results": [asdict(r) for r in results],
        "versus_baseline": versus,
    }
    print_results(report, console)
    if args.json:
        write_report(report, args.json)
    failed = [
        f"{r.system}: {r.label} ({r.errors} failed requests, {r.write_errors} failed writes)"
        for r in results
        if r.errors > args.max_errors or r.write_errors > args.max_errors or not r.requests
    ]
    if failed:
        progress.print(f"[red bold]over --max-errors {args.max_errors}: {'; '.join(failed)}[/red bold]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
