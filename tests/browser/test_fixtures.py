"""The browser fixtures themselves: what they record, refuse and save, on pages served from loopback."""

import http.server
import threading
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page

from tests.support.browser import (
    NewPage,
    artifact_dir,
    assert_accessible,
    assert_loopback_only,
    axe_violations,
    record,
    shot,
    traffic,
)
from tests.support.servers import free_port

# A page with one image from a CDN, one without a text alternative (axe-core: image-alt, critical), and a
# script that logs an error and throws.
PAGE = b"""<!doctype html><html lang="en"><head><title>Fixture page</title></head><body><main>
<h1>Fixture page</h1><img src="https://cdn.example.com/logo.png"><img src="/missing.png">
<script>console.error("logged on purpose"); throw new Error("thrown on purpose");</script>
</main></body></html>"""
ACCESSIBLE = b"""<!doctype html><html lang="en"><head><title>Fine</title></head><body><main>
<h1>Fine</h1><label>Name <input name="name"></label></main></body></html>"""


class Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"/": PAGE, "/fine": ACCESSIBLE}.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


async def test_a_request_off_loopback_is_recorded_and_fails_fast(browser: Browser, site: str) -> None:
    # A context of its own (not `page`): the `page` fixture would fail this test at teardown, as it should.
    context = await browser.new_context()
    try:
        recorded = record(context, artifact_dir("fixtures-self-test"))
        page = await context.new_page()
        await page.goto(
            site, wait_until="load", timeout=5_000
        )  # the CDN image fails at once: no DNS but loopback
        assert recorded.off_loopback() == ["GET https://cdn.example.com/logo.png"]
        with pytest.raises(AssertionError, match=r"cdn\.example\.com"):
            assert_loopback_only(page)
        assert any("logged on purpose" in error for error in recorded.console_errors)
        assert any("thrown on purpose" in error for error in recorded.page_errors)
        critical = [v["id"] for v in await axe_violations(page) if v["impact"] == "critical"]
        assert "image-alt" in critical
        with pytest.raises(AssertionError, match="image-alt"):
            await assert_accessible(page)
    finally:
        await context.close()


async def test_page_records_saves_screenshots_and_passes_an_accessible_page(page: Page, site: str) -> None:
    await page.goto(site + "/fine")
    path = await shot(page, "fine")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert path.parent.name == "test_page_records_saves_screenshots_and_passes_an_accessible_page"
    assert (path.parent / "axe.json").exists() is False
    assert await assert_accessible(page) == []
    assert (path.parent / "axe.json").read_text().strip() == "[]"
    assert traffic(page).requests == [f"GET {site}/fine"]
    assert_loopback_only(page)


async def test_two_contexts_share_nothing(new_page: NewPage, site: str) -> None:
    first, second = await new_page(), await new_page()
    await first.goto(site + "/fine")
    await first.evaluate("() => localStorage.setItem('who', 'first')")
    await second.goto(site + "/fine")
    assert await second.evaluate("() => localStorage.getItem('who')") is None
    assert traffic(first) is not traffic(second)
