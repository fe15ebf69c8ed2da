"""HTTP caching of anonymous REST reads (ADR 0024, "REST"), through a stack that follows the catalog signal
on the real Redis: ETag and 304, `Cache-Control` for a CDN, invalidation within a second of a course edit,
and never one caller's answer for another."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.e2e.conftest import E2EStack
from tests.e2e.test_assessments_flow import COMPLETE, ENROLL

pytestmark = pytest.mark.e2e

PUBLIC = "public, max-age=5, s-maxage=5"
UPDATE_COURSE = """mutation($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id title } errors { code message } }
}"""


@pytest.fixture(scope="module")
def instructor(stack: E2EStack, redis_url: str) -> dict[str, Any]:
    # The stack follows the catalog signal on Redis (COURSEGRAPH_REDIS_URL reaches it), not a stand-in.
    for ready in (
        httpx.get(f"{stack.rest_url}/ready", timeout=10).json(),
        httpx.get(stack.subgraph_urls["courses"].removesuffix("/graphql") + "/ready", timeout=10).json(),
    ):
        assert ready["catalog_signal"]["backend"] == "redis" and ready["catalog_signal"]["healthy"], ready
    return stack.sign_in_as("instructor", name=f"Cache Instructor {uuid.uuid4().hex[:6]}")


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def within(seconds: float, probe: Callable[[], bool]) -> float:
    """Seconds until `probe()` held; fails after `seconds`."""
    begin = time.monotonic()
    while not probe():
        if time.monotonic() - begin > seconds:
            pytest.fail(f"not within {seconds}s")
        time.sleep(0.02)
    return time.monotonic() - begin


def signal_version(stack: E2EStack) -> int:
    version: int = httpx.get(f"{stack.rest_url}/ready", timeout=10).json()["catalog_signal"]["version"]
    return version


def assert_public(response: httpx.Response) -> str:
    assert response.headers["cache-control"] == PUBLIC
    assert "Authorization" in response.headers["vary"]
    etag = response.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"'), etag  # weak: each envelope has its own timestamp
    return etag


@pytest.mark.parametrize("path", ["/courses?first=3", "/courses/{id}", "/certificates/{code}"])
def test_anonymous_reads_answer_an_etag_and_304(
    stack: E2EStack, instructor: dict[str, Any], path: str
) -> None:
    course = stack.create_course(instructor["access_token"], lessons=1)
    learner = stack.sign_in()
    stack.graphql(ENROLL, {"c": course["id"]}, token=learner["access_token"])
    lesson = course["modules"][0]["lessons"][0]["id"]
    done = stack.graphql(COMPLETE, {"c": course["id"], "l": lesson}, token=learner["access_token"]).json()
    code = done["data"]["completeLesson"]["enrollment"]["certificate"]["code"]
    path = path.format(id=course["id"], code=code)

    first = stack.rest("GET", path)
    etag = assert_public(first)
    again = stack.rest("GET", path)
    assert assert_public(again) == etag and data(again) == data(first)
    assert again.json()["success"] is True and again.json()["error"] is None and again.json()["timestamp"]

    for tags in (etag, f'"other", {etag}', etag.removeprefix("W/"), "*"):
        unchanged = stack.rest("GET", path, headers={"if-none-match": tags})
        assert unchanged.status_code == 304, (tags, unchanged.text)
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag and unchanged.headers["cache-control"] == PUBLIC
        assert "Authorization" in unchanged.headers["vary"]
    changed = stack.rest("GET", path, headers={"if-none-match": 'W/"something-else"'})
    assert data(changed) == data(first)

    # Signed in: the caller's own answer, kept by nobody, and never a 304 for the anonymous ETag.
    own = stack.rest("GET", path, token=learner["access_token"], headers={"if-none-match": etag})
    assert own.status_code == 200, own.text
    assert own.headers["cache-control"] == "private, no-store" and "etag" not in own.headers
    assert "Authorization" in own.headers["vary"]


def test_a_course_edit_shows_in_the_anonymous_catalog_and_course_page_within_a_second(
    stack: E2EStack, instructor: dict[str, Any]
) -> None:
    token, instructor_id = instructor["access_token"], instructor["user"]["id"]
    course = stack.create_course(token, title="Before the edit", lessons=1)
    catalog = f"/courses?instructor_id={instructor_id}&first=5"
    page = f"/courses/{course['id']}"

    def titles() -> tuple[str, str]:
        """The newest of the instructor's courses in the catalog, and the course's own page."""
        newest = data(stack.rest("GET", catalog))["items"][0]["title"]
        return newest, data(stack.rest("GET", page))["title"]

    # The instructor's name comes from the users service, which announces nothing: a kept answer shows
    # the old name after a rename, while a signed-in caller sees the new one. (The test Redis may be shared
    # with other stacks, whose announces also empty this cache: then try again.)
    for attempt in range(5):
        name = f"Renamed {attempt} {uuid.uuid4().hex[:6]}"
        kept = signal_version(stack)
        assert titles() == ("Before the edit", "Before the edit")  # both kept now
        renamed = stack.rest("PUT", f"/users/{instructor_id}", token=token, json={"name": name})
        assert renamed.status_code == 200, renamed.text
        anonymous = data(stack.rest("GET", page))["instructor"]["name"]
        assert data(stack.rest("GET", page, token=token))["instructor"]["name"] == name
        if signal_version(stack) == kept:
            assert anonymous != name
            break
    else:
        pytest.fail("the catalog version changed under every attempt")

    edit = {"id": course["id"], "input": {"title": "After the edit"}}
    edited = stack.graphql(UPDATE_COURSE, edit, token=token)
    assert edited.json()["data"]["updateCourse"]["errors"] == [], edited.text
    # A catalog change makes every kept answer unreachable: the new title, and the new name with it.
    assert within(1.0, lambda: titles() == ("After the edit", "After the edit")) < 1.0
    assert data(stack.rest("GET", page))["instructor"]["name"] == name


def test_signed_in_and_anonymous_answers_are_never_shared(
    stack: E2EStack, instructor: dict[str, Any]
) -> None:
    token, instructor_id = instructor["access_token"], instructor["user"]["id"]
    published = stack.create_course(token, lessons=1)
    draft = stack.create_course(token, lessons=1, publish=False)
    catalog = f"/courses?instructor_id={instructor_id}&first=100"

    def listed(access_token: str | None) -> set[str]:
        return {c["id"] for c in data(stack.rest("GET", catalog, token=access_token))["items"]}

    # Anonymous first (kept), then the instructor, then anonymous again: each sees its own.
    for _ in range(2):
        anonymous = listed(None)
        assert published["id"] in anonymous and draft["id"] not in anonymous
        mine = listed(token)
        assert {published["id"], draft["id"]} <= mine

    # Lesson content: only for the enrolled, whoever asked before.
    learner = stack.sign_in()
    stack.graphql(ENROLL, {"c": published["id"]}, token=learner["access_token"])
    page = f"/courses/{published['id']}"

    def contents(access_token: str | None) -> list[str | None]:
        course = data(stack.rest("GET", page, token=access_token))
        return [lesson["content"] for m in course["modules"] for lesson in m["lessons"]]

    for _ in range(2):
        assert contents(None) == [None]
        assert contents(learner["access_token"]) == ["Content 1"]
    # A draft is nobody's business anonymously, kept or not.
    assert stack.rest("GET", f"/courses/{draft['id']}").status_code == 404


@pytest.mark.parametrize("path", [f"/courses/{ObjectId()}", "/certificates/CG-NOPE-NOPE"])
def test_a_missing_resource_is_a_404_envelope_never_kept(stack: E2EStack, path: str) -> None:
    for headers in ({}, {"if-none-match": "*"}):
        missing = stack.rest("GET", path, headers=headers)
        assert missing.status_code == 404, missing.text
        body = missing.json()
        assert body["success"] is False and body["data"] is None and body["error"]["code"] == "NOT_FOUND"
        assert missing.headers["cache-control"] == "no-store" and "etag" not in missing.headers
