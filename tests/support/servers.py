"""Run an ASGI app for a test on a free loopback port, in a thread with its own event loop.

Its own thread keeps the server answering while a test blocks its loop (or runs sync code).
"""

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
