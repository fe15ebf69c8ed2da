"""HTTP rules a REST client relies on (issue 8, findings 18 and 19)."""

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
