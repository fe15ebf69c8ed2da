"""Every benchmark still runs: each in its `--smoke` mode (a tiny catalog, a second or two of load), as a
subprocess, against a real stack it starts itself, so that a bench that rots fails the suite.

A smoke run measures nothing worth keeping; it checks that the bench starts its stack, that its load
gets good answers (each bench checks its own and exits non-zero otherwise) and that it reports.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import REPO

pytestmark = pytest.mark.integration

# The infrastructure each one needs (the fixtures fail, never skip, when it is missing).
SMOKES = {
    "catalog": (["bench/catalog.py", "--smoke"], ("database_url", "kafka_bootstrap")),
    "operations": (["bench/operations.py", "--smoke"], ()),
    "media": (["bench/media.py", "--smoke"], ("database_url", "mongodb_url", "kafka_bootstrap")),
    "notifications": (
        ["bench/notifications.py", "--smoke"],
        ("database_url", "mongodb_url", "kafka_bootstrap"),
    ),
    "document_store": (["bench/document_store.py", "--smoke"], ()),
    "gradebook_csv": (
        ["bench/gradebook_csv.py", "--smoke"],
        ("database_url", "mongodb_url", "kafka_bootstrap"),
    ),
    "subscriptions": (
        ["bench/subscriptions.py", "--smoke"],
        ("database_url", "mongodb_url", "kafka_bootstrap"),
    ),
}


def run_bench(arguments: list[str], report: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *arguments, *([f"--json={report}"] if report else [])]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=420, check=False)
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-60:])
    assert run.returncode == 0, f"{' '.join(arguments)} exited {run.returncode}:\n{tail}"
    return run


@pytest.mark.timeout(450)
@pytest.mark.parametrize(
    "bench", ["media", "notifications", "document_store", "gradebook_csv", "subscriptions"]
)
def test_bench_runs_in_smoke_mode(bench: str, request: pytest.FixtureRequest) -> None:
    arguments, infrastructure = SMOKES[bench]
    for fixture in infrastructure:
        request.getfixturevalue(fixture)
    run_bench(arguments)


@pytest.mark.timeout(450)
def test_catalog_smoke_measures_every_target_while_writing(
    tmp_path: Path, database_url: str, kafka_bootstrap: str
) -> None:
    report_path = tmp_path / "catalog.json"
    run_bench(SMOKES["catalog"][0], report_path)
    report = json.loads(report_path.read_text())
    results = {result["target"]: result for result in report["results"]}
    assert set(results) == {"ceiling", "subgraph", "router", "rest"}
    assert all(result["requests"] > 0 and result["errors"] == 0 for result in results.values())
    # The course edits reached the stack while it was measured, and the ceiling row is the reference.
    assert all(results[name]["writes"] > 0 for name in ("subgraph", "router", "rest"))
    assert results["ceiling"]["rps_vs_ceiling"] == 1.0
    assert results["rest"]["cpu_vs_ceiling"] is not None


@pytest.mark.timeout(450)
def test_operations_smoke_answers_every_operation(tmp_path: Path) -> None:
    report_path = tmp_path / "operations.json"
    run_bench(SMOKES["operations"][0], report_path)
    (run,) = json.loads(report_path.read_text())["runs"]
    answered = {result["operation"] for result in run["results"] if result["errors"] == 0}
    assert answered == {result["operation"] for result in run["results"]}
    assert len(answered) == 12
