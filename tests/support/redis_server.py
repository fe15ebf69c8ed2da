"""A Redis server of a test's own (Debian's redis-server on a free loopback port, nothing persisted), which
the test may stop and start again: never the shared one of the test infrastructure."""

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator

from tests.support.servers import free_port


class RedisServer:
    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed: `coursegraph infra up` installs them")
        self._server, self._cli = server, cli
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # Nothing persisted: a restarted server starts empty, as a lost one would.
        argv = [
            self._server,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def cli(self, *args: str) -> str:
        """One redis-cli command's answer (raw), or "" when nothing answers."""
        done = subprocess.run(
            [self._cli, "-h", "127.0.0.1", "-p", str(self.port), "--raw", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started RedisServer of the caller's own, stopped on exit."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
