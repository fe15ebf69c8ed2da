"""A report of `operations.py --json` as a Markdown table: baseline and this checkout side by side.

    uv run python bench/operations_table.py bench/results/operations-2026-12-01/demo-dev.json

p50 and p99 in milliseconds (p99 of 30 calls is the slowest call), then CPU milliseconds per call above
idle for the Python services and FerretDB. A report without a baseline run prints this checkout alone.
"""

import json
import sys
from typing import Any


def row(now: dict[str, Any], then: dict[str, Any] | None) -> str:
    cpu = now["cpu_ms_per_call_above_idle"]
    cells = [now["operation"]]
    if then is not None and then["p50_ms"] is None:  # the baseline failed at it: say so
        error = then.get("first_error", "").split(":")[0] or "failed"
        cells += [f"({error})", f"{now['p50_ms']:.1f}", "", "", f"{now['p99_ms']:.0f}", "",
                  f"{cpu['python services']:.1f}", "", f"{cpu['ferretdb']:.1f}"]  # fmt: skip
    elif then is None:
        cells += [
            f"{now['p50_ms']:.1f}",
            f"{now['p99_ms']:.0f}",
            f"{cpu['python services']:.1f}",
            f"{cpu['ferretdb']:.1f}",
        ]
    else:
        before = then["cpu_ms_per_call_above_idle"]
        cells += [
            f"{then['p50_ms']:,.0f}",
            f"{now['p50_ms']:.1f}",
            f"{now['p50_ms'] / then['p50_ms']:.3f}x",
            f"{then['p99_ms']:,.0f}",
            f"{now['p99_ms']:.0f}",
            f"{before['python services']:.1f}",
            f"{cpu['python services']:.1f}",
            f"{before['ferretdb']:,.0f}",
            f"{cpu['ferretdb']:.1f}",
        ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    report = json.load(open(sys.argv[1]))  # noqa: SIM115 (read once)
    runs = report["runs"]
    baseline = runs[0] if len(runs) == 2 else None
    current = runs[-1]
    if baseline is None:
        print("| operation | p50 ms | p99 ms | Python CPU ms | FerretDB CPU ms |")
        print("|---|---:|---:|---:|---:|")
    else:
        print(
            "| operation | p50 ms before | p50 now | ratio | p99 before | p99 now "
            "| Python CPU ms before | now | FerretDB CPU ms before | now |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    before = {r["operation"]: r for r in baseline["results"]} if baseline else {}
    for result in current["results"]:
        print(row(result, before.get(result["operation"]) if baseline else None))


if __name__ == "__main__":
    main()
