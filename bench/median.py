"""Medians of several `bench/catalog.py --json` reports of the same configuration, as a Markdown table.

uv run python bench/median.py run-1.json run-2.json run-3.json

Reports of catalog.py since issue 15 (with the ceiling row); older ones in results/ have another shape.
"""

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def _number(value: float | None) -> float:
    return float("nan") if value is None else value


COLUMNS = ("rps", "p50_ms", "p95_ms", "p99_ms", "rps_vs_ceiling", "cpu_vs_ceiling")


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    # null (no good answer at all) reads back as NaN, which the medians carry through.
    reports: list[dict[str, Any]] = [
        json.loads(Path(path).read_text().replace(": null", ": NaN")) for path in sys.argv[1:]
    ]
    # What a run measured about itself (spans received) is not configuration.
    configs = {
        json.dumps({k: v for k, v in report["config"].items() if k != "spans_received"}, sort_keys=True)
        for report in reports
    }
    if len(configs) != 1:
        raise SystemExit("the reports are of different configurations")
    print(f"{len(reports)} runs: `{reports[0]['command']}`\n")
    print(
        "| target | system | req/s | p50 ms | p95 ms | p99 ms | req/s vs ceiling | CPU vs ceiling | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    targets = [result["target"] for result in reports[0]["results"]]
    for index, target in enumerate(targets):
        results = [report["results"][index] for report in reports]
        assert all(result["target"] == target for result in results)
        median = {
            column: statistics.median(_number(result[column]) for result in results) for column in COLUMNS
        }
        errors = sum(result["errors"] for result in results)
        cells = (
            f"{median['rps']:.1f}",
            f"{median['p50_ms']:.0f}",
            f"{median['p95_ms']:.0f}",
            f"{median['p99_ms']:.0f}",
            f"{median['rps_vs_ceiling']:.3f}x",
            f"{median['cpu_vs_ceiling']:.1f}x",
            str(errors),
        )
        print(f"| {results[0]['label']} | {results[0]['system']} | " + " | ".join(cells) + " |")
    groups = list(reports[0]["results"][0]["cpu_ms_per_request"])
    print("\nCPU time per request above idle, by process (ms, median):\n")
    print("| target | " + " | ".join(groups) + " |")
    print("|---|" + "---:|" * len(groups))
    for index in range(len(targets)):
        cpu = [report["results"][index]["cpu_ms_above_idle"] for report in reports]
        cpu_cells = [f"{statistics.median(c[group] for c in cpu):.1f}" for group in groups]
        print(f"| {reports[0]['results'][index]['label']} | " + " | ".join(cpu_cells) + " |")
    for system in reports[0]["idle_cores"]:
        idle = {
            group: statistics.median(report["idle_cores"][system][group] for report in reports)
            for group in reports[0]["idle_cores"][system]
        }
        shares = ", ".join(f"{g} {v * 100:.0f}%" for g, v in idle.items())
        print(f"\nIdle, {system} (share of one core, median): {shares}")
    loads = ", ".join(f"{r['load_average']['before']:.1f}→{r['load_average']['after']:.1f}" for r in reports)
    print(f"Load average (1 min) before→after each run: {loads}")


if __name__ == "__main__":
    main()
