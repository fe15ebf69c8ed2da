"""Run an ASGI app for a test on a free loopback port, in a thread with its own event loop.

Its own thread keeps the server answering while a test blocks its loop (or runs sync code).
"""

import asyncio
import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for port 0 can be taken by
# any outgoing connection (a stack's own clients, starting while its servers bind) before the server
# that was meant to listen on it binds. The process id spreads concurrent test processes apart.
_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before by this process."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serve_in_thread(app: Any, *, port: int | None = None, ready_path: str = "/health") -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) once `ready_path` answers; stop on exit."""
    port = port or free_port()
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, loop="asyncio")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base + ready_path, timeout=30, alive=thread.is_alive)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_until_ready(url: str, *, timeout: float, alive: Any = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"server for {url} exited before it was ready")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s (last: {last!r})")
