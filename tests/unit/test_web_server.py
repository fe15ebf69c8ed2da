"""The web app's server (coursegraph_cli/web.py): every file the import map names is served from the
project's own npm packages, nothing comes from another origin, and config.json says where the API is."""

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from coursegraph_cli.web import WebSettings, create_app

WEB_APP = Path(__file__).resolve().parents[2] / "web" / "app"


@pytest.fixture(scope="module")
def client() -> TestClient:
    settings = WebSettings(router_port=4100, rest_compat_port=8180, host="0.0.0.0")  # noqa: S104
    return TestClient(create_app(settings))


def import_map(client: TestClient) -> dict[str, str]:
    page = client.get("/app/").text
    found = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    assert found is not None, "index.html has an import map"
    imports: dict[str, str] = json.loads(found.group(1))["imports"]
    return imports


def test_every_module_the_import_map_names_is_served(client: TestClient) -> None:
    imports = import_map(client)
    assert {"preact", "preact/hooks", "htm/preact", "@urql/core", "graphql-ws"} <= set(imports)
    for name, path in imports.items():
        assert path.startswith("/app/vendor/"), f"{name}: served by the app itself, not {path}"
        response = client.get(path)
        assert response.status_code == 200, f"{name}: {path} answers {response.status_code}"
        assert "javascript" in response.headers["content-type"], (name, response.headers["content-type"])


def test_the_app_loads_nothing_from_another_origin() -> None:
    sources = [*WEB_APP.glob("*.js"), *WEB_APP.glob("*.html"), *WEB_APP.glob("*.css")]
    for source in sources:
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), f"{source.name} names another origin"
        assert not re.search(r"""from ['"]https?:""", text), f"{source.name} imports from another origin"


def test_config_points_at_this_hosts_api_and_the_root_redirects(client: TestClient) -> None:
    config = client.get("/app/config.json")
    assert config.headers["cache-control"] == "no-store"
    assert config.json() == {
        "graphqlUrl": "http://127.0.0.1:4100/graphql",
        "restUrl": "http://127.0.0.1:8180",
        "explorerUrl": "http://127.0.0.1:4100/graphql",
        "googleAuthorizeUrl": "https://accounts.google.com/o/oauth2/v2/auth",
        "githubAuthorizeUrl": "https://github.com/login/oauth/authorize",
    }
    redirect = client.get("/", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == "/app/"
    assert client.get("/app/nowhere.js").status_code == 404


def test_the_policy_allows_this_origin_the_api_and_the_import_map_alone(client: TestClient) -> None:
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in client.get("/app/").headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    script_sources = policy["script-src"].split()
    assert script_sources[0] == "'self'" and "'unsafe-inline'" not in script_sources
    assert len(script_sources) == 2 and script_sources[1].startswith("'sha256-")  # the one inline import map
    assert set(policy["connect-src"].split()) == {
        "'self'",
        "http://127.0.0.1:4100",
        "ws://127.0.0.1:4100",
        "http://127.0.0.1:8180",
    }
    assert client.get("/app/main.js").headers["x-content-type-options"] == "nosniff"
