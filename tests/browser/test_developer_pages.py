"""The developer pages in headless Chromium with no way out of the machine: rest-compat's /docs (Swagger UI
from the project's own pinned assets) and the router's explorer (Hive Gateway's laboratory, test profile)."""

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import assert_accessible, assert_loopback_only, describe, shot, traffic
from tests.support.e2e import E2EStack

pytestmark = pytest.mark.e2e

# Serious axe-core findings on /docs that come from Swagger UI's rendering and FastAPI's page template, not
# from anything this project writes (checked with axe-core 4.14.1 on swagger-ui 5.32, fastapi-offline 1.7.7):
# - color-contrast: Swagger UI's stylesheet (grey version stamps, the base URL, method badges);
# - nested-interactive: Swagger UI puts the copy/expand buttons inside each operation's summary button;
# - html-has-lang: FastAPI's Swagger UI template writes `<html>` without a language.
# Any other serious or critical finding fails (our OpenAPI text is what the rest of the page shows).
THIRD_PARTY_DOCS_FINDINGS = {"color-contrast", "nested-interactive", "html-has-lang"}


async def test_docs_render_offline_and_try_it_out_reaches_the_api(stack: E2EStack, page: Page) -> None:
    instructor = stack.sign_in_as("instructor")
    course = stack.create_course(instructor["access_token"], title="Docs in a browser")
    operations = sum(len(methods) for methods in stack.rest("GET", "/openapi.json").json()["paths"].values())

    await page.goto(stack.rest_url + "/docs")
    await expect(page.locator(".opblock")).to_have_count(operations)
    await expect(page.locator(".info .title")).to_contain_text("CourseGraph REST compatibility API")
    await shot(page, "operations")

    # A public read, tried out from the page against the running API.
    get_course = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/courses/{course_id}"]')
    )
    await get_course.locator(".opblock-summary-control").click()
    await get_course.get_by_role("button", name="Try it out").click()
    await get_course.locator('input[placeholder="course_id"]').fill(course["id"])
    await get_course.get_by_role("button", name="Execute").click()
    response = get_course.locator(".live-responses-table")
    await expect(response.locator("tbody .response-col_status").first).to_have_text("200")
    await expect(response.locator(".response-col_description .microlight").first).to_contain_text(
        "Docs in a browser"
    )
    await shot(page, "try-it-out")

    assert_loopback_only(page)
    requests = traffic(page).requests
    # Swagger UI itself came from the API's origin (the pinned wheel's copy), and so did the call.
    assert f"GET {stack.rest_url}/static-offline-docs/swagger-ui-bundle.js" in requests
    assert f"GET {stack.rest_url}/courses/{course['id']}" in requests
    assert traffic(page).console_errors == []
    assert traffic(page).page_errors == []


def test_redoc_is_not_served(stack: E2EStack) -> None:
    # ReDoc's bundle loads its attribution logo from its vendor's CDN: /docs is the one documentation page.
    response = stack.rest("GET", "/redoc")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_docs_accessibility(stack: E2EStack, page: Page) -> None:
    await page.goto(stack.rest_url + "/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    # Every finding is saved as the test's axe.json; none is critical.
    violations = await assert_accessible(page, impacts=("critical",))
    serious = [v for v in violations if v["impact"] == "serious"]
    ours = [v for v in serious if v["id"] not in THIRD_PARTY_DOCS_FINDINGS]
    assert not ours, describe(ours)
    # Our own text (the API's description, each operation's summary) passes on its own; the version
    # badges and base URL beside the title are Swagger UI's styling (color-contrast above).
    await assert_accessible(
        page, include=[".info .description", ".opblock-summary-description"], report="axe-our-text"
    )


async def test_explorer_runs_a_query_offline(stack: E2EStack, page: Page) -> None:
    instructor = stack.sign_in_as("instructor")
    stack.create_course(instructor["access_token"], title="Explorer in a browser")

    await page.goto(stack.router_url)
    await page.get_by_role("button", name="Add operation").first.click()
    editor = page.get_by_role("textbox", name="Editor content").first
    await editor.focus()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.press("Delete")
    # insert_text types no keystrokes, so the editor's auto-closing brackets add nothing.
    await page.keyboard.insert_text("query Catalog { courses(first: 5) { totalCount } }")
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_text(re.compile(r'"totalCount":\s*[1-9]'))).to_be_visible()
    await shot(page, "query-run")

    assert_loopback_only(page)
    assert f"POST {stack.router_url}" in traffic(page).requests
    assert traffic(page).page_errors == []
