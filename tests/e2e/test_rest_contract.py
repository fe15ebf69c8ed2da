"""HTTP rules a REST client relies on (issue 8, findings 9, 18 and 19)."""

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import E2EStack, unique_email

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/courses", {"GET", "POST"}), ("PUT", "/courses/" + "a" * 24 + "/enroll", {"POST"})],
)
def test_a_method_not_allowed_names_the_allowed_ones(
    stack: E2EStack, method: str, path: str, allowed: set[str]
) -> None:
    response = stack.rest(method, path)
    assert response.status_code == 405, response.text
    assert {m.strip() for m in response.headers["allow"].split(",")} >= allowed  # RFC 9110 §15.5.6
    assert response.json()["success"] is False


def test_token_responses_are_never_cached(stack: E2EStack) -> None:
    signed_in = stack.rest("POST", "/auth/google", json=stack.google_code(unique_email()))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    assert signed_in.headers["pragma"] == "no-cache"
    refreshed = stack.rest(
        "POST", "/auth/refresh", json={"refresh_token": signed_in.json()["data"]["refresh_token"]}
    )
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"


LIMIT = 8 * 1024 * 1024  # rest-compat's default COURSEGRAPH_MAX_BODY_BYTES


@pytest.mark.parametrize("chunked", [False, True], ids=["announced", "chunked"])
def test_a_body_over_the_limit_is_refused_however_it_is_sent(stack: E2EStack, chunked: bool) -> None:
    """Finding 9: the cap held only for a Content-Length; a chunked body was read whole."""
    instructor = stack.sign_in_as("instructor")["access_token"]
    title = f"Too big {uuid.uuid4().hex[:8]}"
    body = json.dumps({"title": title, "description": "x" * (LIMIT + 1)}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    response = stack.rest(
        "POST",
        "/courses",
        token=instructor,
        content=chunks() if chunked else body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "BAD_USER_INPUT"
    listed = stack.rest("GET", "/courses", token=instructor, params={"search": title})
    assert listed.json()["data"]["items"] == [], "nothing was created"


def test_a_course_in_the_requirements_shape_is_accepted_and_its_lessons_placed_by_order(
    stack: E2EStack,
) -> None:
    """Finding 16: the requirements' course document has `order` on each lesson."""
    instructor = stack.sign_in_as("instructor")["access_token"]
    lessons = [
        {"title": "Third", "content": "c", "media_url": None, "order": 3},
        {"title": "First", "content": "a", "media_url": None, "order": 1},
        {"title": "Second", "content": "b", "media_url": None, "order": 2},
    ]
    body = {"title": f"Ordered {uuid.uuid4().hex[:6]}", "modules": [{"title": "Only", "lessons": lessons}]}
    created = stack.rest("POST", "/courses", token=instructor, json=body)
    assert created.status_code == 201, created.text
    placed = created.json()["data"]["modules"][0]["lessons"]
    assert [(lesson["title"], lesson["order"]) for lesson in placed] == [
        ("First", 1),
        ("Second", 2),
        ("Third", 3),
    ]


@pytest.mark.parametrize(
    "orders", [[1, 1], [1, None], [0, 1], [1, 101]], ids=["twice", "partly", "zero", "too-far"]
)
def test_lesson_orders_that_cannot_place_the_lessons_are_refused(
    stack: E2EStack, orders: list[int | None]
) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    title = f"Misordered {uuid.uuid4().hex[:6]}"
    lessons = [{"title": f"L{i}", **({} if o is None else {"order": o})} for i, o in enumerate(orders)]
    response = stack.rest(
        "POST",
        "/courses",
        token=instructor,
        json={"title": title, "modules": [{"title": "M", "lessons": lessons}]},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "BAD_USER_INPUT", response.text
    assert any(
        field.startswith("modules.0.lessons") for field in response.json()["error"]["details"]["fields"]
    )
    listed = stack.rest("GET", "/courses", token=instructor, params={"search": title})
    assert listed.json()["data"]["items"] == [], "nothing was created"
