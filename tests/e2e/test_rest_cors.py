"""rest-compat allows the web app's origins by CORS (COURSEGRAPH_CORS_ORIGINS, the router's setting), so
the app can export and import CSV from another origin in dev; any other origin is not allowed."""

import pytest

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

APP = "http://127.0.0.1:3000"  # the default, as the router's


def preflight(stack: E2EStack, origin: str) -> dict[str, str]:
    response = stack.rest(
        "OPTIONS",
        "/courses/c1/gradebook.csv",
        headers={
            "origin": origin,
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization",
        },
    )
    return dict(response.headers)


def test_the_web_apps_origin_may_call_with_a_token(stack: E2EStack) -> None:
    allowed = preflight(stack, APP)
    assert allowed["access-control-allow-origin"] == APP
    assert "authorization" in allowed["access-control-allow-headers"].lower()
    # The answer itself names the origin and lets the app read the file's name.
    response = stack.rest("GET", "/courses", headers={"origin": APP})
    assert response.headers["access-control-allow-origin"] == APP
    assert "content-disposition" in response.headers["access-control-expose-headers"].lower()


def test_another_origin_is_not_allowed(stack: E2EStack) -> None:
    refused = preflight(stack, "https://evil.example")
    assert "access-control-allow-origin" not in refused
    response = stack.rest("GET", "/courses", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
