"""How a MongoDB-wire server answers the courses service's query shapes, one at a time.

Not a test (pytest does not collect it). Run it against a server holding a seeded catalog
(`coursegraph seed`), e.g. the test infrastructure's FerretDB on SQLite and one on PostgreSQL:

    uv run python bench/document_store.py --mongodb-url mongodb://127.0.0.1:57017/
    uv run python bench/document_store.py --smoke    # a FerretDB of its own with a tiny seeded catalog

It reads what it needs from the catalog (the last course and enrollment stored, 20 course ids), runs each
query once to warm up and then `--repeat` times, and prints the median and the fastest time of each
(docs/adr/0014).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from rich.console import Console
from rich.table import Table

from bench.common import dedicated_ferretdb

REPO = Path(__file__).resolve().parents[1]


def measure(repeat: int, run: Callable[[], object]) -> tuple[float, float]:
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


@contextmanager
def smoke_catalog(database: str) -> Iterator[str]:
    """A FerretDB of its own holding a tiny catalog seeded by `coursegraph seed` (dev profile): its URL."""
    with tempfile.TemporaryDirectory(prefix="bench-document-store-") as scratch, ExitStack() as cleanup:
        url, _ = cleanup.enter_context(dedicated_ferretdb(Path(scratch) / "ferretdb"))
        env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
        env |= {
            "COURSEGRAPH_PROFILE": "dev",
            "COURSEGRAPH_DATA_DIR": str(Path(scratch) / "data"),
            "COURSEGRAPH_MONGODB_URL": url,
            "COURSEGRAPH_COURSES_DATABASE": database,
        }
        seed = [
            sys.executable,
            "-m",
            "coursegraph_cli",
            "seed",
            "--courses=20",
            "--learners=20",
            "--instructors=3",
        ]
        subprocess.run(seed, cwd=REPO, env=env, check=True, capture_output=True, timeout=300)  # noqa: S603
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mongodb-url", help="the server (required but with --smoke)")
    parser.add_argument("--database", default="coursegraph_courses")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--smoke", action="store_true", help="a FerretDB of its own, a tiny catalog, each query once"
    )
    args = parser.parse_args()
    if args.smoke and not args.mongodb_url:
        args.repeat = 1
        with smoke_catalog(args.database) as url:
            args.mongodb_url = url
            run(args)
    elif args.mongodb_url:
        run(args)
    else:
        parser.error("--mongodb-url, please (or --smoke)")


def run(args: argparse.Namespace) -> None:

    client: MongoClient[dict[str, Any]] = MongoClient(args.mongodb_url, tz_aware=True)
    db = client[args.database]
    courses, enrollments, learners = db["courses"], db["enrollments"], db["learners"]
    # The last documents stored: a lookup that scans finds the first ones early and would look fast.
    course_list = list(courses.find({}, {"_id": 1, "instructor_id": 1, "version": 1}))
    enrollment_list = list(enrollments.find({}, {"_id": 1, "user_id": 1, "course_id": 1}))
    if not course_list or not enrollment_list:
        raise SystemExit(f"no seeded catalog in {args.database}: run `coursegraph seed` first")
    course, enrollment = course_list[-1], enrollment_list[-1]
    twenty = [c["_id"] for c in course_list[-20:]]
    server = client.admin.command("buildInfo")
    backend = (
        f"FerretDB {server['ferretdbVersion']}"
        if "ferretdbVersion" in server
        else f"MongoDB {server['version']}"
    )

    queries: list[tuple[str, Callable[[], object]]] = [
        ("course by _id alone", lambda: courses.find_one({"_id": course["_id"]})),
        ("enrollment by _id alone", lambda: enrollments.find_one({"_id": enrollment["_id"]})),
        ("a learner's list by _id alone", lambda: learners.find_one({"_id": enrollment["user_id"]})),
        (
            "course by _id and version (a guarded write's filter)",
            lambda: courses.find_one({"_id": course["_id"], "version": course.get("version", 0)}),
        ),
        ("enrollments by user_id", lambda: list(enrollments.find({"user_id": enrollment["user_id"]}))),
        (
            "enrollment by user_id and course_id",
            lambda: list(
                enrollments.find({"user_id": enrollment["user_id"], "course_id": enrollment["course_id"]})
            ),
        ),
        ("courses by instructor_id", lambda: list(courses.find({"instructor_id": course["instructor_id"]}))),
        (
            "enrollments counted by course_id",
            lambda: enrollments.count_documents({"course_id": enrollment["course_id"]}),
        ),
        ("20 courses by _id $in", lambda: list(courses.find({"_id": {"$in": twenty}}))),
        (
            "published courses, newest first, 21",
            lambda: list(
                courses.find({"status": "published"}).sort([("created_at", -1), ("_id", -1)]).limit(21)
            ),
        ),
        (
            "enrollment counts of 20 courses ($group)",
            lambda: list(
                enrollments.aggregate(
                    [
                        {"$match": {"course_id": {"$in": [str(i) for i in twenty]}}},
                        {"$group": {"_id": "$course_id", "count": {"$sum": 1}}},
                    ]
                )
            ),
        ),
    ]
    table = Table(title=f"{backend} at {args.mongodb_url}, {courses.estimated_document_count()} courses, "
                  f"{enrollments.estimated_document_count()} enrollments")  # fmt: skip
    table.add_column("query")
    table.add_column("median ms", justify="right")
    table.add_column("fastest ms", justify="right")
    empty = []
    for name, query in queries:
        median, fastest = measure(args.repeat, query)
        table.add_row(name, f"{median:,.1f}", f"{fastest:,.1f}")
        if not query():  # each query looks for what the catalog holds: nothing found measures nothing
            empty.append(name)
    Console().print(table)
    client.close()
    if empty:
        raise SystemExit(f"found nothing: {', '.join(empty)}")


if __name__ == "__main__":
    main()
