"""Idle keep-alive connections to the Python services stay usable longer than their clients keep them.

A server that closes an idle connection just as a client reuses it fails that request ("socket hang
up" at the router). The services keep idle connections 75 s and announce 60 s (`Keep-Alive`), so the
clients (the router honours the hint; httpx drops idle ones after 5 s) always let go first.
"""

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

IDLE_SECONDS = 6  # longer than uvicorn's default keep-alive (5 s)


async def _health_twice_on_one_connection(base_url: str) -> list[bytes]:
    """GET /health, stay idle, GET /health again on the same connection; the two status lines."""
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    status_lines, headers = [], b""
    try:
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(IDLE_SECONDS)
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            status_lines.append(head.split(b"\r\n", 1)[0])
            headers = head.lower()
            length = int(
                next(line for line in headers.split(b"\r\n") if line.startswith(b"content-length:"))[15:]
            )
            await reader.readexactly(length)
        assert b"keep-alive: timeout=60" in headers, headers
    finally:
        writer.close()
    return status_lines


async def test_idle_connections_outlive_the_clients_idle_limits(stack: E2EStack) -> None:
    urls = [stack.subgraph_urls[name].removesuffix("/graphql") for name in ("auth", "courses")] + [
        stack.rest_url
    ]
    results = await asyncio.gather(*(_health_twice_on_one_connection(url) for url in urls))
    for url, status_lines in zip(urls, results, strict=True):
        assert status_lines == [b"HTTP/1.1 200 OK"] * 2, (url, status_lines)
