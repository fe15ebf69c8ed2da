"""The web app in headless Chromium (issue 18's acceptance): a learner from sign-in to a certificate with
a live progress bar, an instructor watching the course's activity from a second browser context, a learner
refused the activity view, axe-core on the catalog, course, quiz and gradebook pages.

The app runs beside a stack of its own, whose router and rest-compat allow the app's origin (CORS); its
sign-in buttons go to the fake OAuth provider's authorization endpoint, which sends the browser back with a
code for the person the test presets (tests/fakes/oauth_provider.py)."""

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect

from tests.support.browser import NewPage, assert_accessible, shot, traffic
from tests.support.e2e import E2EStack, StartStack, unique_email
from tests.support.servers import free_port
from tests.support.web import serve_web_app

pytestmark = pytest.mark.e2e

LIVE_MS = 1000  # the acceptance: the bar and the activity feed move within 1 s
CREATE_QUIZ = """
mutation($course: ID!, $input: AssessmentInput!) {
  createAssessment(courseId: $course, input: $input) { assessment { id } errors { code message } }
}"""


@dataclass
class WebApp:
    url: str  # …/app/
    stack: E2EStack


@pytest.fixture(scope="module")
def web(start_stack: StartStack) -> Iterator[WebApp]:
    port = free_port()
    env = {"COURSEGRAPH_CORS_ORIGINS": f"http://127.0.0.1:{port}", "COURSEGRAPH_ROUTER_RATE_LIMIT": "0"}
    with start_stack("web-app", env) as stack, serve_web_app(stack.stack, stack.provider, port) as url:
        yield WebApp(url, stack)


@dataclass
class Course:
    id: str
    title: str
    quiz_id: str
    instructor_email: str


@pytest.fixture
def course(web: WebApp) -> Course:
    """A published course of two lessons and a required quiz that full marks pass."""
    email = unique_email("instructor")
    tokens = web.stack.sign_in(email, name="Ivy Instructor")
    admin = web.stack.sign_in_admin()
    promoted = web.stack.rest(
        "PUT", f"/users/{tokens['user']['id']}", token=admin["access_token"], json={"role": "instructor"}
    )
    assert promoted.status_code == 200, promoted.text
    token = web.stack.sign_in(email)["access_token"]
    created = web.stack.create_course(token, lessons=2, title=f"Web course {uuid.uuid4().hex[:8]}")
    quiz = {
        "title": "Final quiz",
        "passingScore": 100,
        "requiredForCompletion": True,
        "timeLimitSeconds": 600,
        "questions": [
            {
                "type": "SINGLE_CHOICE",
                "prompt": "2 + 2?",
                "options": [{"text": "3"}, {"text": "4", "correct": True}],
            },
            {"type": "TRUE_FALSE", "prompt": "The sky is blue.", "correctBool": True},
        ],
    }
    answer: dict[str, Any] = web.stack.graphql(
        CREATE_QUIZ, {"course": created["id"], "input": quiz}, token=token
    ).json()
    assert answer.get("errors") is None and not answer["data"]["createAssessment"]["errors"], answer
    return Course(
        created["id"], created["title"], answer["data"]["createAssessment"]["assessment"]["id"], email
    )


async def sign_in_with_google(web: WebApp, page: Page, email: str, name: str) -> None:
    """The real button: the fake provider's consent page sends the browser back with a code."""
    web.stack.provider.authorize_as("google", email=email, name=name)
    await page.goto(web.url)
    button = page.get_by_role("button", name="Sign in with Google")
    try:
        await button.wait_for()
    except PlaywrightError as exc:
        seen = traffic(page)
        raise AssertionError(
            f"no sign-in page: {seen.page_errors} {seen.console_errors} {seen.requests}"
        ) from exc
    await button.click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_role("heading", name="Course catalog")).to_be_visible()


async def expect_live(page: Page, text: str, started: float, what: str) -> float:
    """Wait (at most LIVE_MS from `started`) for the progress text; the seconds it took."""
    left = max(1, int(LIVE_MS - (time.monotonic() - started) * 1000))
    await expect(page.get_by_test_id("progress-text"), f"{what} within 1 s").to_have_text(text, timeout=left)
    return time.monotonic() - started


async def test_a_learner_goes_from_sign_in_to_a_certificate_while_an_instructor_watches(
    web: WebApp, course: Course, new_page: NewPage
) -> None:
    instructor, learner = await new_page(), await new_page()
    await sign_in_with_google(web, instructor, course.instructor_email, "Ivy Instructor")
    await instructor.goto(f"{web.url}#/teach/{course.id}/activity")
    await expect(instructor.get_by_text("Live: learners' progress")).to_be_visible()
    feed = instructor.get_by_role("log", name="Course activity")

    await sign_in_with_google(web, learner, unique_email(), "Lea Learner")
    await shot(learner, "01-signed-in")
    await learner.get_by_label("Search courses").fill(course.title)
    await learner.get_by_role("button", name="Search").click()
    await expect(learner.get_by_role("link", name=course.title)).to_be_visible()
    await shot(learner, "02-catalog")
    await assert_accessible(learner, report="axe-catalog")

    await learner.get_by_role("link", name=course.title).click()
    await learner.get_by_role("button", name="Enroll").click()
    await expect(learner.get_by_test_id("progress-text")).to_have_text("0% complete")
    await shot(learner, "03-enrolled")
    await assert_accessible(learner, report="axe-course")
    await learner.reload()  # the tab's session survives a reload (its refresh token is in sessionStorage)
    await expect(learner.get_by_test_id("progress-text")).to_have_text("0% complete")
    await learner.keyboard.press("Tab")  # keyboard users start at the skip link
    await expect(learner.get_by_role("link", name="Skip to content")).to_be_focused()
    await expect(feed.get_by_text("Lea Learner enrolled")).to_be_visible()

    for number, (lesson, percent) in enumerate([("Lesson 1", 50), ("Lesson 2", 100)], start=1):
        started = time.monotonic()
        await learner.get_by_role("button", name=f"Mark “{lesson}” complete").click()
        took = await expect_live(learner, f"{percent}% complete", started, f"the bar at {percent}%")
        left = max(1, int(LIVE_MS - (time.monotonic() - started) * 1000))
        await expect(
            feed.get_by_text(f"progress {percent}%").first, "the instructor sees it within 1 s"
        ).to_be_visible(timeout=left)
        print(f"lesson {number}: bar {took * 1000:.0f} ms, feed {(time.monotonic() - started) * 1000:.0f} ms")
        await shot(learner, f"04-lesson-{number}")
    await shot(instructor, "instructor-after-lessons")

    await learner.get_by_role("link", name="Final quiz").click()
    await learner.get_by_role("button", name="Start quiz").click()
    await expect(learner.get_by_text("Time left")).to_be_visible()
    await assert_accessible(learner, report="axe-quiz")
    await learner.get_by_label("4", exact=True).check()
    await learner.get_by_label("True", exact=True).check()
    await learner.get_by_role("button", name="Save answers").click()
    await expect(learner.get_by_text("Answers saved")).to_be_visible()
    await shot(learner, "05-quiz")
    started = time.monotonic()
    await learner.get_by_role("button", name="Submit quiz").click()
    await expect(learner.get_by_role("heading", name="Passed")).to_be_visible()
    left = max(1, int(LIVE_MS - (time.monotonic() - started) * 1000))
    result = feed.locator("li", has_text=re.compile(r"score 100% · passed"))
    await expect(result.first, "the quiz result within 1 s").to_be_visible(timeout=left)
    await shot(learner, "06-quiz-passed")
    await shot(instructor, "instructor-after-quiz")

    await learner.get_by_role("link", name=f"Back to {course.title}").click()
    await learner.get_by_role("link", name="View certificate").click()
    await expect(learner.get_by_text("This certifies that")).to_be_visible()
    await expect(learner.locator(".certificate").get_by_text("Lea Learner", exact=True)).to_be_visible()
    await shot(learner, "07-certificate")
    # The whole journey ran under the app's Content-Security-Policy (coursegraph_cli/web.py) without a breach.
    for seen in (traffic(learner), traffic(instructor)):
        assert not [e for e in seen.console_errors if "Content Security Policy" in e], seen.console_errors


async def test_the_content_security_policy_refuses_an_injected_script(web: WebApp, page: Page) -> None:
    """Markup that slipped past the sanitiser could not run: an inline script not in the policy is refused."""
    await page.goto(web.url)
    await expect(page.get_by_role("heading", level=1).first).to_be_visible()
    ran = await page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation', () => resolve(window.injected === true));
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.append(script);
        })"""
    )
    assert ran is False


async def test_a_learner_cannot_open_the_activity_view(web: WebApp, course: Course, page: Page) -> None:
    await sign_in_with_google(web, page, unique_email(), "Curious Learner")
    await page.goto(f"{web.url}#/courses/{course.id}")
    await page.get_by_role("button", name="Enroll").click()
    await page.goto(f"{web.url}#/teach/{course.id}/activity")
    refusal = page.get_by_role("alert")
    await expect(refusal).to_contain_text("FORBIDDEN")
    await shot(page, "refused")


async def test_the_gradebook_is_accessible_and_exports_csv(
    web: WebApp, course: Course, new_page: NewPage
) -> None:
    learner_email = unique_email()
    learner = web.stack.sign_in(learner_email, name="Graded Learner")
    enrolled = web.stack.graphql(
        "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }",
        {"c": course.id},
        token=learner["access_token"],
    ).json()
    assert enrolled.get("errors") is None, enrolled
    page = await new_page(accept_downloads=True)
    await sign_in_with_google(web, page, course.instructor_email, "Ivy Instructor")
    await page.goto(f"{web.url}#/teach/{course.id}/gradebook")
    await expect(page.get_by_role("rowheader", name="Graded Learner")).to_be_visible()
    await shot(page, "gradebook")
    await assert_accessible(page, report="axe-gradebook")
    async with page.expect_download() as download:
        await page.get_by_role("button", name="Export CSV").click()
    path = await (await download.value).path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [row["learner_name"] for row in rows] == ["Graded Learner"], rows


async def test_an_instructor_builds_a_course_imports_a_roster_and_posts_an_announcement(
    web: WebApp, course: Course, page: Page
) -> None:
    learner_email = unique_email()
    learner = web.stack.sign_in(learner_email, name="Imported Learner")
    await sign_in_with_google(web, page, course.instructor_email, "Ivy Instructor")
    await page.get_by_role("link", name="Teaching").click()
    await page.get_by_label("New course title").fill("Built in the browser")
    await page.get_by_role("button", name="Create course").click()
    await expect(page.get_by_role("heading", name="Edit “Built in the browser”")).to_be_visible()
    await page.get_by_role("button", name="Add a module").click()
    await page.get_by_role("button", name="Add a lesson").click()
    await page.get_by_label("Lesson 1 content").fill("Read this first.")
    await page.get_by_role("button", name="Save course").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_text("Status: published")).to_be_visible()
    await shot(page, "editor")

    await page.get_by_role("link", name="Roster").click()
    unknown = unique_email("nobody")
    await page.get_by_label("Or paste the rows").fill(f"{learner_email}\n{unknown}")
    await page.get_by_role("button", name="Import").click()
    report = page.get_by_role("status")
    await expect(report).to_contain_text("2 rows: 1 enrolled, 0 already enrolled, 1 unknown")
    await expect(page.get_by_role("rowheader", name="Imported Learner")).to_be_visible()
    await shot(page, "roster")

    await page.get_by_role("link", name="Announcements").click()
    await page.get_by_label("Title").fill("Welcome")
    await page.get_by_label("Message (Markdown)").fill("Start with **lesson 1**.")
    await page.get_by_role("button", name="Post to learners").click()
    await expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    await shot(page, "announcements")
    # The imported learner reads it on their course page's query.
    course_id = page.url.split("/teach/")[1].split("/")[0]
    seen = web.stack.graphql(
        "query($id: ID!) { course(id: $id) { announcements { edges { node { title } } } } }",
        {"id": course_id},
        token=learner["access_token"],
    ).json()
    assert seen["data"]["course"]["announcements"]["edges"] == [{"node": {"title": "Welcome"}}], seen
