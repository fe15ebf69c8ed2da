"""One CourseGraph Python service in a process of its own (`coursegraph serve <name>`, as production runs it),
next to a running stack: a test can stop it and start it again."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.servers import wait_until_ready
from tests.support.stack import REPO


class ServiceProcess:
    """`coursegraph serve <name>` with the stack's environment and `env` on top; `base_url` is where it
    listens (the port its setting names in `env`)."""

    def __init__(self, name: str, env: dict[str, str], base_url: str, log_path: Path) -> None:
        self.name = name
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
        self.env = {**inherited, **env}
        self.base_url = base_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_path: str = "/ready", timeout: float = 60) -> None:
        """Start it and wait until `ready_path` answers 200."""
        self.launch()
        process = self.process
        assert process is not None
        wait_until_ready(self.base_url + ready_path, timeout=timeout, alive=lambda: process.poll() is None)

    def launch(self) -> None:
        """Start it; do not wait (a test watches what happens meanwhile)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coursegraph_cli", "serve", self.name],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops it; SIGKILL if it does not stop within 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
