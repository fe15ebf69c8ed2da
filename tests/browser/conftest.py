"""Browser fixtures: one headless Debian chromium per session, a fresh context (cookies, storage) per page.

Playwright's async API (tests/support/browser.py says why), so browser tests are `async def`:

    async def test_docs(stack: E2EStack, page: Page) -> None:
        await page.goto(stack.rest_url + "/docs")
        await shot(page, "docs")              # .coursegraph/artifacts/browser/<test>/docs.png
        await assert_accessible(page)         # axe-core: no serious or critical violation

    async def test_two_people(stack: E2EStack, new_page: NewPage) -> None:
        learner, instructor = await new_page(), await new_page()   # two contexts, nothing shared

Every request a page makes is recorded (`traffic(page)`); a test whose pages reached anything but
127.0.0.1/localhost fails at teardown. The helpers are in tests/support/browser.py; `stack` is the suite's
session stack (tests/support/e2e.py).
"""

from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.browser import NewPage, Traffic, artifact_dir, launch_chromium, record, shot

# Long enough for a page of the test stack on a busy machine; short next to the test's own timeout.
DEFAULT_TIMEOUT_MS = 15_000
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Lets `new_page` see whether the test failed, to keep a screenshot of where.
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian chromium (tests/support/browser.py LAUNCH_ARGS), shared by the session's tests."""
    async with async_playwright() as playwright:
        launched = await launch_chromium(playwright)
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """`await new_page(**context_options)`: a page in a new browser context of its own (Playwright's
    `Browser.new_context` options: `base_url`, `viewport`, `locale`, ...), recorded. At teardown: a
    `failure-<n>.png` of each page when the test failed, and a failure when a request left loopback."""
    artifacts = artifact_dir(request.node.name)
    opened: list[tuple[BrowserContext, Traffic]] = []

    async def open_page(**context_options: Any) -> Page:
        context = await browser.new_context(**context_options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        opened.append((context, record(context, artifacts)))
        return await context.new_page()

    yield open_page

    leaving: list[str] = []
    for number, (context, traffic) in enumerate(opened, start=1):
        if request.node.stash.get(FAILED, False):
            for page in context.pages:
                await shot(page, f"failure-{number}")
        leaving += traffic.off_loopback()
        await context.close()
    if leaving:
        pytest.fail(f"requests left 127.0.0.1/localhost: {leaving}", pytrace=False)


@pytest.fixture
async def page(new_page: NewPage) -> Page:
    """A page in a fresh browser context (see `new_page`)."""
    return await new_page()
