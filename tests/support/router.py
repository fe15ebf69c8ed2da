"""One more router process (Hive Gateway, started as `coursegraph serve` starts it) in front of a running
stack's subgraphs: how tests run several router replicas on one set of services."""

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from coursegraph.settings import Profile, ServiceSettings
from coursegraph_cli.launcher import ROUTER_DIR, router_command, router_environment
from tests.support.servers import free_port, wait_until_ready
from tests.support.stack import Stack


@dataclass
class Router:
    router_url: str  # .../graphql
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def readiness(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/readiness", timeout=10)
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics, `name{label="value",...}` (labels sorted) -> value."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is released."""
        self.process.kill()
        self.process.wait()


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


@contextlib.contextmanager
def run_router(stack: Stack, env: dict[str, str], log_path: Path) -> Iterator[Router]:
    """A test-profile router on a free port in front of `stack`'s subgraphs, with `env` on top."""
    ports: dict[str, Any] = {f"{name}_port": _port(url) for name, url in stack.subgraph_urls.items()}
    settings = ServiceSettings.model_validate({"profile": Profile.TEST, "router_port": free_port(), **ports})
    full_env = {**router_environment(settings), **env}
    log = log_path.open("w")
    process = subprocess.Popen(
        router_command(settings), cwd=ROUTER_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{settings.router_port}"
    try:
        wait_until_ready(f"{base}/readiness", timeout=90, alive=lambda: process.poll() is None)
        yield Router(f"{base}/graphql", base, log_path, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
