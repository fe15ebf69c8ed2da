"""Browser tests' helpers: Debian's chromium driven by Playwright for Python (ADR 0034).

tests/browser/conftest.py makes the fixtures (`browser`, `new_page`, `page`); these helpers work on any page
those fixtures opened:

    await shot(page, "catalog")          a full-page screenshot, an artifact of the test
    traffic(page)                        every request, WebSocket, console error and page error of its context
    assert_loopback_only(page)           nothing the page loaded left 127.0.0.1 / localhost
    await axe_violations(page)           axe-core's violations on the page as it is now
    await assert_accessible(page)        fails on serious or critical violations

Playwright's async API, on the suite's session event loop: its sync API keeps an event loop running in the
main thread for as long as the browser is open, which stops every asyncio test after it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Request, WebSocket

REPO = Path(__file__).resolve().parents[2]
# Debian's `chromium` package (make install installs it); Playwright's own browser downloads are never used.
CHROMIUM = Path(os.environ.get("COURSEGRAPH_CHROMIUM", "/usr/bin/chromium"))
# axe-core from npm, pinned by tests/browser/package-lock.json (make install runs its `npm ci`).
AXE_SCRIPT = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots and axe reports, one directory per test (gitignored with the rest of .coursegraph/).
ARTIFACTS = REPO / ".coursegraph" / "artifacts" / "browser"

# The `new_page` fixture: `await new_page(**context_options)` opens a page in a browser context of its own.
NewPage = Callable[..., Awaitable[Page]]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Not network: the page's own data, blobs and blank frames.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})

LAUNCH_ARGS = (
    # No calls home: updates, field trials, sync, safe-browsing lists, metrics.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    # Any other host fails to resolve at once, so a stray CDN link fails fast instead of hanging (and is
    # still recorded as a request, which fails the test).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


async def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian chromium with background networking off."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: `make install` installs Debian's chromium package")
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=list(LAUNCH_ARGS))


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOOPBACK


@dataclass
class Traffic:
    """What one browser context's pages did, in order."""

    artifacts: Path
    requests: list[str] = field(default_factory=list)  # "GET http://…" of every request, WebSockets too
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions

    def off_loopback(self) -> list[str]:
        return [request for request in self.requests if not is_loopback(request.split(" ", 1)[1])]


_traffic: WeakKeyDictionary[BrowserContext, Traffic] = WeakKeyDictionary()


def record(context: BrowserContext, artifacts: Path) -> Traffic:
    """Start recording `context`'s traffic (the fixtures do it for every context they open)."""
    traffic = Traffic(artifacts)
    _traffic[context] = traffic

    def on_request(request: Request) -> None:
        traffic.requests.append(f"{request.method} {request.url}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            traffic.console_errors.append(f"{message.text} ({where})" if where else message.text)

    def on_websocket(socket: WebSocket) -> None:
        traffic.requests.append(f"WEBSOCKET {socket.url}")

    def on_page(page: Page) -> None:
        page.on("console", on_console)
        page.on("pageerror", lambda error: traffic.page_errors.append(str(error)))
        page.on("websocket", on_websocket)

    context.on("request", on_request)
    context.on("page", on_page)
    return traffic


def traffic(page: Page) -> Traffic:
    """The recorded traffic of `page`'s context."""
    try:
        return _traffic[page.context]
    except KeyError:
        raise LookupError("this page was not opened by the `page` or `new_page` fixture") from None


def artifact_dir(name: str) -> Path:
    """A test's artifact directory, emptied (a name from its node id, safe as a path)."""
    directory = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


async def shot(page: Page, step: str) -> Path:
    """Save a full-page screenshot of `page` as `<test's artifacts>/<step>.png`; returns its path."""
    path = traffic(page).artifacts / f"{step}.png"
    await page.screenshot(path=path, full_page=True)
    return path


def assert_loopback_only(page: Page) -> None:
    """Every request of the page's context went to this machine (no CDN, no third-party script)."""
    leaving = traffic(page).off_loopback()
    assert not leaving, f"requests left 127.0.0.1/localhost: {leaving}"


async def axe_violations(
    page: Page, *, include: Sequence[str] = (), exclude: Sequence[str] = (), report: str = "axe"
) -> list[dict[str, Any]]:
    """Run axe-core on the page (injected on first use) and return its violations, each with `id`, `impact`,
    `help`, `helpUrl` and `nodes` (`target`, `html`). `include`/`exclude`: CSS selectors narrowing what is
    checked. The whole result is saved as `<test's artifacts>/<report>.json`."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        # evaluate() runs in the page's main world without a <script> tag, so a page's CSP cannot block it.
        await page.evaluate(AXE_SCRIPT.read_text())
    scope: dict[str, list[list[str]]] = {"exclude": [[selector] for selector in exclude]}
    if include:
        scope["include"] = [[selector] for selector in include]
    result: dict[str, Any] = await page.evaluate(
        "([scope, options]) => axe.run(scope, options)",
        [scope, {"resultTypes": ["violations"]}],
    )
    (traffic(page).artifacts / f"{report}.json").write_text(json.dumps(result["violations"], indent=2))
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: Iterable[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} ({v['helpUrl']}) at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in violations
    )


async def assert_accessible(
    page: Page,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    impacts: Iterable[str] = ("serious", "critical"),
    report: str = "axe",
) -> list[dict[str, Any]]:
    """Fail when axe-core finds a violation of one of `impacts` on the page (within `include`, outside
    `exclude`); returns every violation found, the minor ones included."""
    violations = await axe_violations(page, include=include, exclude=exclude, report=report)
    failing = [v for v in violations if v["impact"] in set(impacts)]
    assert not failing, f"axe-core: {len(failing)} violation(s) on {page.url}:\n{describe(failing)}"
    return violations
