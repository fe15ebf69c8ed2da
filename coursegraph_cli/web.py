"""The web app's server: the files under web/app and the npm packages they import, at /app/ (ADR 0035).

Nothing is built: the browser loads ES modules, and the import map in web/app/index.html names the files
under /app/vendor/ (web/node_modules, installed by `npm ci --prefix web` from the lockfile). The app reads
where the API is from /app/config.json, made here from the settings.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from coursegraph.settings import ServiceSettings
from coursegraph_cli.launcher import WEB_DIR


class WebSettings(ServiceSettings):
    # Where the browser finds the API. Unset: this host's router and rest-compat (dev). Behind the Ingress
    # they are paths of the same origin (`/graphql`); the app resolves them against its own URL.
    web_graphql_url: str | None = None
    web_rest_url: str | None = None
    # The providers' authorization endpoints (the app sends the browser there; tests point them at a fake).
    web_google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    web_github_authorize_url: str = "https://github.com/login/oauth/authorize"
    # The GraphQL explorer, linked for developers; unset: the GraphQL URL (the router serves it in dev).
    web_explorer_url: str | None = None

    def public_config(self) -> dict[str, Any]:
        graphql = self.web_graphql_url or self.router_url  # dev: the router this host runs
        return {
            "graphqlUrl": graphql,
            "restUrl": self.web_rest_url or f"http://{_url_host(self.host)}:{self.rest_compat_port}",
            "explorerUrl": self.web_explorer_url or graphql,
            "googleAuthorizeUrl": self.web_google_authorize_url,
            "githubAuthorizeUrl": self.web_github_authorize_url,
        }


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (a listen-all address is no URL)


def content_security_policy(config: dict[str, Any], page: str) -> str:
    """Scripts only from this origin plus the page's inline import map (by its hash); connections only to
    this origin and the API the config names (http and its WebSocket twin); no frames, no plugins."""
    inline = re.findall(r"<script type=\"importmap\">(.*?)</script>", page, re.S)
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline]
    api = set()
    for url, websocket in ((config["graphqlUrl"], True), (config["restUrl"], False)):
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:  # relative: this origin, 'self' covers it (ws too, CSP 3)
            api.add(f"{parts.scheme}://{parts.netloc}")
            if websocket:  # subscriptions: graphql-ws on the same URL
                api.add(f"{parts.scheme.replace('http', 'ws', 1)}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *hashes]),
            "style-src 'self'",
            # Announcements are sanitised HTML (coursegraph/rich_text.py) that may show https images.
            "img-src 'self' data: https:",
            " ".join(["connect-src 'self'", *sorted(api)]),
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders(BaseHTTPMiddleware):
    def __init__(self, app: Any, policy: str) -> None:
        super().__init__(app)
        self.policy = policy

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = self.policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def create_app(settings: WebSettings | None = None) -> Starlette:
    settings = settings or WebSettings()
    config = settings.public_config()
    policy = content_security_policy(config, (WEB_DIR / "app" / "index.html").read_text())
    if not (WEB_DIR / "node_modules" / "preact").is_dir():
        raise RuntimeError(f"the web app's packages are missing: run `npm ci --prefix {WEB_DIR}`")

    async def config_json(_: Request) -> Response:
        # Read on every load of the app: no cache, so a changed setting shows at the next reload.
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    async def ready(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def to_app(_: Request) -> Response:
        return RedirectResponse("/app/")

    return Starlette(
        middleware=[Middleware(SecurityHeaders, policy=policy)],
        routes=[
            Route("/", to_app),
            Route("/app", to_app),
            Route("/ready", ready),
            Route("/health", ready),  # static files: alive is ready (the probes of ADR 0012)
            Route("/app/config.json", config_json),
            Mount("/app/vendor", StaticFiles(directory=WEB_DIR / "node_modules"), name="vendor"),
            Mount("/app", StaticFiles(directory=WEB_DIR / "app", html=True), name="app"),
        ],
    )
