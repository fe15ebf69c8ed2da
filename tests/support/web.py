"""The web app (coursegraph_cli/web.py) served for a running stack, for browser tests."""

import contextlib
from collections.abc import Iterator

from coursegraph_cli.web import WebSettings, create_app
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.support.servers import serve_in_thread
from tests.support.stack import Stack


@contextlib.contextmanager
def serve_web_app(stack: Stack, provider: FakeOAuthProvider, port: int) -> Iterator[str]:
    """Serve the app on 127.0.0.1:`port` (an origin the stack's CORS allows), pointed at `stack`, with the
    sign-in buttons sending the browser to the fake provider. Yields the app's URL (…/app/)."""
    settings = WebSettings(
        host="127.0.0.1",
        web_graphql_url=stack.router_url,
        web_rest_url=stack.rest_url,
        web_google_authorize_url=provider.authorize_urls["google"],
        web_github_authorize_url=provider.authorize_urls["github"],
    )
    with serve_in_thread(create_app(settings), port=port, ready_path="/ready") as url:
        yield f"{url}/app/"
