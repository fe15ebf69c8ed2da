"""The gradebook's CSV export of a large course: resident memory while it streams, and the time.

Starts a test-profile stack (`coursegraph serve`: every Python service, rest-compat among them, in one
process, the router its child), creates a course through the graph as an admin, then writes the course's
class straight into the stores, in batches: `--learners` users (PostgreSQL), their enrollments, the
roster, the course's `--assessments` gradebook columns and every learner's grade record (the courses
store), as assessment.events would have left them. Then it asks one JSON page (warm-up), samples the
Python process's resident set size while idle, and streams `GET /courses/{id}/gradebook.csv` through
REST (read and dropped chunk by chunk) while sampling it every 20 ms: peak RSS above idle (the target is
30 MB), the time to the last byte, rows and bytes. The router (node) is measured apart.

    uv run python bench/gradebook_csv.py --learners 2000 --json run.json
    uv run python bench/gradebook_csv.py --smoke      # 50 learners

Needs `uv run coursegraph infra up`. Not a test: pytest does not collect it.
"""

import argparse
import asyncio
import csv
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pymongo import AsyncMongoClient
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import _proc_table, _tree, infra_urls, machine
from subgraphs.courses.models import enrollment_id, grade_record_id
from tests.support.stack import Stack, run_test_stack

BATCH = 500
PAGE_SIZE = 4096  # bytes per page on Linux (for /proc/<pid>/statm)
CREATE = """mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { course { id } errors { code } }
}"""
PUBLISH = """mutation($id: ID!) { publishCourse(id: $id) { course { id } errors { code } } }"""


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


class Sampler:
    """Samples resident memory of some processes every `every` seconds, in a thread; the peak of each."""

    def __init__(self, pids: dict[str, list[int]], every: float = 0.02) -> None:
        self.pids, self.every = pids, every
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pids in self.pids.items():
                self.peak[name] = max(self.peak[name], sum(rss_bytes(pid) for pid in pids))
            time.sleep(self.every)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def processes(stack: Stack) -> dict[str, list[int]]:
    """The Python services' process (rest-compat and courses among them) and the router (node)."""
    table = _proc_table()
    members = _tree(table, stack.process.pid)
    router = [pid for pid in members if table[pid][1].startswith("node")]
    python = [pid for pid in members if table[pid][1].startswith("python")]
    return {"python services (rest-compat, courses, ...)": python, "router (node)": router}


def settle(pid: int, timeout: float, busy: float = 0.15, window: float = 3.0) -> float:
    """Wait until the services' process uses less than `busy` of a core over `window` seconds (its
    consumers caught up); how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = _proc_table()[pid][2]
        time.sleep(window)
        if (_proc_table()[pid][2] - before) / window < busy:
            break
    return time.monotonic() - started


def idle(pids: dict[str, list[int]], seconds: float = 3.0) -> dict[str, int]:
    """Median resident memory of each group over a few seconds of nothing asked."""
    samples: dict[str, list[int]] = {name: [] for name in pids}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, group in pids.items():
            samples[name].append(sum(rss_bytes(pid) for pid in group))
        time.sleep(0.05)
    return {name: int(statistics.median(values)) for name, values in samples.items()}


async def write_class(
    database_url: str, mongodb_url: str, database: str, course_id: str, learners: int, assessments: int
) -> None:
    """The course's learners, enrollments, roster, gradebook columns and grade records, in batches."""
    now = datetime.now(UTC)
    user_ids = [str(uuid.uuid4()) for _ in range(learners)]
    engine = create_async_engine(database_url)
    users = [
        {
            "id": uuid.UUID(u),
            "email": f"bench-{u}@bench.example.org",
            "name": f"Learner {index:05d}" if index % 10 else f"=Formula {index}",
            "provider": "google",
            "provider_id": f"bench-{u}",
            "role": "learner",
            "created_at": now,
            "updated_at": now,
        }
        for index, u in enumerate(user_ids)
    ]
    insert = sa.text(
        "INSERT INTO users (id, email, name, provider, provider_id, role, created_at, updated_at) "
        "VALUES (:id, :email, :name, :provider, :provider_id, :role, :created_at, :updated_at)"
    )
    async with engine.begin() as connection:
        for start in range(0, learners, BATCH):
            await connection.execute(insert, users[start : start + BATCH])
    await engine.dispose()

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = client[database]
    columns = [
        {
            "id": uuid.uuid4().hex[:24],
            "title": f"Quiz {n + 1}",
            "score_policy": "best" if n % 2 else "latest",
            "max_score": 10.0,
        }
        for n in range(assessments)
    ]
    await db["course_gradings"].insert_one(
        {"_id": course_id, "assessments": columns, "weights": {}, "version": 1}
    )
    await db["rosters"].insert_one({"_id": course_id, "learners": user_ids, "complete": True})
    for start in range(0, learners, BATCH):
        batch = user_ids[start : start + BATCH]
        await db["enrollments"].insert_many(
            [
                {
                    "_id": enrollment_id(u, course_id),
                    "user_id": u,
                    "course_id": course_id,
                    "enrolled_at": now - timedelta(seconds=learners - start - i),
                    "progress": 0.0,
                    "completed_lessons": [],
                    "status": "active",
                    "passed_assessments": [],
                    "counted": True,
                    "version": 0,
                    "outbox": [],
                    "outbox_pending": False,
                }
                for i, u in enumerate(batch)
            ]
        )
        await db["grade_records"].insert_many(
            [
                {
                    "_id": grade_record_id(course_id, u),
                    "course_id": course_id,
                    "user_id": u,
                    "results": {
                        column["id"]: {
                            "attempts": [1, 2],
                            "best_attempt": 1,
                            "best_percent": float((i * 7 + n * 13) % 101),
                            "best_submitted_at": now,
                            "last_attempt": 2,
                            "last_percent": float((i * 3 + n * 11) % 101),
                            "last_submitted_at": now,
                        }
                        for n, column in enumerate(columns)
                        if (i + n) % 9  # some attempts missing
                    },
                    "excused": [],
                    "version": 1,
                }
                for i, u in enumerate(batch)
            ]
        )
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--assessments", type=int, default=5)
    parser.add_argument("--settle-timeout", type=float, default=900, help="seconds to wait for quiet")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--smoke", action="store_true", help="50 learners (tests/bench)")
    args = parser.parse_args()
    if args.smoke:
        args.learners = 50

    urls = infra_urls()
    admin = f"bench-admin-{uuid.uuid4().hex[:8]}@bench.example.org"
    env = {
        "COURSEGRAPH_DEV_SIGN_IN": "true",
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
        "COURSEGRAPH_LOG_LEVEL": "WARNING",
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-gradebook-") as data,
        run_test_stack(
            Path(data),
            database_url=urls["COURSEGRAPH_DATABASE_URL"],
            mongodb_url=urls["COURSEGRAPH_MONGODB_URL"],
            kafka_bootstrap=urls["COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"],
            admin_email=admin,
            env=env,
        ) as (stack, courses_database, _),
    ):
        signed_in = stack.rest("POST", "/auth/dev", json={"email": admin, "name": "Bench Admin"})
        signed_in.raise_for_status()
        token = str(signed_in.json()["data"]["access_token"])
        modules = [{"title": "M", "lessons": [{"title": "L", "content": "", "mediaUrl": None}]}]
        created = stack.graphql(
            CREATE, {"input": {"title": "Gradebook bench", "modules": modules}}, token=token
        )
        course_id = created.json()["data"]["createCourse"]["course"]["id"]
        stack.graphql(PUBLISH, {"id": course_id}, token=token).raise_for_status()
        started = time.monotonic()
        asyncio.run(
            write_class(
                urls["COURSEGRAPH_DATABASE_URL"],
                urls["COURSEGRAPH_MONGODB_URL"],
                courses_database,
                course_id,
                args.learners,
                args.assessments,
            )
        )
        written = time.monotonic() - started
        path = f"/courses/{course_id}/gradebook"
        stack.rest("GET", path, token=token, params={"first": 100}).raise_for_status()  # warm-up
        pids = processes(stack)
        settled = settle(stack.process.pid, args.settle_timeout)
        before = idle(pids)
        rows = size = 0
        first_byte: float | None = None
        with Sampler(pids) as sampler:
            began = time.monotonic()
            headers = {"authorization": f"Bearer {token}"}
            with httpx.stream(
                "GET", stack.rest_url + path + ".csv", headers=headers, timeout=600
            ) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    first_byte = first_byte or time.monotonic() - began
                    size += len(chunk)
                    rows += chunk.count(b"\n")
            elapsed = time.monotonic() - began
        # Parse a sample to check the export is what it should be (header + one row per learner).
        sample = stack.rest("GET", path + ".csv", token=token)
        parsed = list(csv.reader(io.StringIO(sample.text)))

    mib = 1024 * 1024
    result = {
        "command": " ".join(["uv run python bench/gradebook_csv.py", *sys.argv[1:]]),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "learners": args.learners,
        "assessments": args.assessments,
        "documents_written_seconds": round(written, 1),
        "settled_after_seconds": round(settled, 1),
        "csv": {
            "rows_with_header": rows,
            "parsed_rows": len(parsed),
            "bytes": size,
            "seconds_to_first_byte": round(first_byte or 0.0, 3),
            "seconds": round(elapsed, 2),
        },
        "rss_mib": {
            name: {
                "idle": round(before[name] / mib, 1),
                "peak": round(sampler.peak[name] / mib, 1),
                "peak_above_idle": round((sampler.peak[name] - before[name]) / mib, 1),
            }
            for name in pids
        },
    }
    assert len(parsed) == args.learners + 1, len(parsed)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
