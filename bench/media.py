"""Media uploads through REST: rest-compat's resident memory during a large upload, and the upload's
throughput against a direct PUT of the same bytes to the S3 emulator, in the same run.

Starts a test-profile stack (`coursegraph serve`, media in the S3 emulator the test infrastructure runs:
s3s-fs), and beside it a rest-compat of its own (`coursegraph serve rest-compat`, pointed at that stack's
router), so that its memory is rest-compat's alone. Then, `--runs` times each, alternating:

- **REST**: `POST /media/upload` of a `--megabytes` MB video (a real MP4 header, random bytes after),
  streamed from disk by the client; rest-compat spools it to a temporary file and streams it to storage
  under the presigned POST, then the media service reads it back to check and hash it. rest-compat's
  VmRSS is sampled every 5 ms from /proc; the figure is the peak above its idle RSS just before.
- **direct PUT** (the baseline): the same file PUT straight to the emulator with boto3.

    uv run python bench/media.py --megabytes 100 --runs 3 --json run.json
    uv run python bench/media.py --smoke        # one upload of 2 MB

Needs `uv run coursegraph infra up`. Not a test: pytest does not collect it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench.common import infra_urls, machine
from tests.support.files import mp4
from tests.support.servers import free_port, wait_until_ready
from tests.support.stack import REPO, Stack, run_test_stack

MB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class PeakRss:
    """Samples a process's resident memory in a thread while a block runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def own_rest_compat(stack: Stack, media_max: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COURSEGRAPH_")},
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_REST_COMPAT_PORT": str(port),
        "COURSEGRAPH_ROUTER_URL": stack.router_url,
        "COURSEGRAPH_MEDIA_MAX_BYTES": str(media_max),
        "COURSEGRAPH_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "coursegraph_cli", "serve", "rest-compat"],
        cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{base}/health", timeout=60, alive=lambda: process.poll() is None)
    return process, base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="one upload of 2 MB (tests/bench)")
    args = parser.parse_args()
    if args.smoke:
        args.megabytes, args.runs = 2, 1

    urls = infra_urls()
    s3_env = {
        k: os.environ.get(k) or read(k)
        for k in (
            "COURSEGRAPH_S3_ENDPOINT_URL",
            "COURSEGRAPH_S3_ACCESS_KEY_ID",
            "COURSEGRAPH_S3_SECRET_ACCESS_KEY",
        )
    }
    os.environ.update({k: v for k, v in s3_env.items() if v})
    media_max = (args.megabytes + 10) * MB
    admin = f"bench-admin-{uuid.uuid4().hex[:8]}@bench.example.org"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_env["COURSEGRAPH_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=s3_env["COURSEGRAPH_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["COURSEGRAPH_S3_SECRET_ACCESS_KEY"],
    )
    rest_runs: list[dict[str, float]] = []
    put_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-media-") as scratch:
        data = Path(scratch)
        (data / "stack").mkdir()
        video = data / "video.mp4"
        video.write_bytes(mp4(args.megabytes * MB - 32))
        size = video.stat().st_size
        env = {
            "COURSEGRAPH_DEV_SIGN_IN": "true",
            "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
            "COURSEGRAPH_MEDIA_MAX_BYTES": str(media_max),
            "COURSEGRAPH_LOG_LEVEL": "WARNING",
        }
        with run_test_stack(
            data / "stack",
            database_url=urls["COURSEGRAPH_DATABASE_URL"],
            mongodb_url=urls["COURSEGRAPH_MONGODB_URL"],
            kafka_bootstrap=urls["COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"],
            admin_email=admin,
            env=env,
        ) as (stack, _, _):
            process, base = own_rest_compat(stack, media_max, data / "rest-compat.log")
            try:
                signed_in = httpx.post(f"{base}/auth/dev", json={"email": admin, "name": "Bench"}, timeout=30)
                headers = {"authorization": f"Bearer {signed_in.json()['data']['access_token']}"}
                warm = httpx.post(f"{base}/media/upload", headers=headers, timeout=60,
                                  files={"file": ("warm.mp4", mp4(1000), "video/mp4")})  # fmt: skip
                assert warm.status_code == 201, warm.text
                for _ in range(args.runs):
                    time.sleep(1.0)
                    idle = rss_kib(process.pid)
                    with video.open("rb") as file, PeakRss(process.pid) as peak:
                        started = time.monotonic()
                        answer = httpx.post(f"{base}/media/upload", headers=headers, timeout=600,
                                            files={"file": ("video.mp4", file, "video/mp4")})  # fmt: skip
                        elapsed = time.monotonic() - started
                    assert answer.status_code == 201, answer.text
                    rest_runs.append(
                        {
                            "seconds": elapsed,
                            "idle_mib": idle / 1024,
                            "peak_above_idle_mib": (peak.peak - idle) / 1024,
                        }
                    )
                    started = time.monotonic()
                    with video.open("rb") as file:
                        s3.put_object(
                            Bucket="coursegraph-media",
                            Key=f"bench/{uuid.uuid4().hex}",
                            Body=file,
                            ContentType="video/mp4",
                        )
                    put_runs.append(time.monotonic() - started)
            finally:
                process.terminate()
                process.wait(timeout=20)

    rest_s = statistics.median(r["seconds"] for r in rest_runs)
    put_s = statistics.median(put_runs)
    result: dict[str, Any] = {
        "command": " ".join(["uv run python bench/media.py", *sys.argv[1:]]),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bytes": size,
        "rest_upload_runs": rest_runs,
        "direct_put_seconds": put_runs,
        "median": {
            "rest_upload_mib_per_s": round(size / MB / rest_s, 1),
            "direct_put_mib_per_s": round(size / MB / put_s, 1),
            "ratio": round(put_s / rest_s, 3),
            "peak_rss_above_idle_mib": round(
                statistics.median(r["peak_above_idle_mib"] for r in rest_runs), 1
            ),
            "max_peak_rss_above_idle_mib": round(max(r["peak_above_idle_mib"] for r in rest_runs), 1),
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def read(key: str) -> str | None:
    from coursegraph_cli.infra.paths import env_file, read_env_file

    return read_env_file(env_file()).get(key)


if __name__ == "__main__":
    main()
