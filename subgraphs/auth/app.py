"""The auth subgraph app: no store of its own; signs tokens, serves the JWKS, calls the users service."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse

from coursegraph.security import Actor
from coursegraph.service import create_service_app
from subgraphs.auth.keys import KeyRing, TokenMinter
from subgraphs.auth.providers import providers_from_settings
from subgraphs.auth.schema import AuthContext, schema
from subgraphs.auth.service import AuthService
from subgraphs.auth.settings import AuthSettings
from subgraphs.auth.users_client import UsersClient

__all__ = ["AuthSettings", "create_app"]


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    settings.refuse_unsafe_production()
    # Loaded now, not on first use: a service with unusable keys must refuse to start.
    keyring = KeyRing.from_settings(settings)
    minter = TokenMinter(keyring, settings)
    users = UsersClient(
        settings.users_subgraph_url, minter.service_token, timeout=settings.users_timeout_seconds
    )
    auth = AuthService(settings, minter, users, providers_from_settings(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await users.aclose()

    async def build_context(_: Request | WebSocket, actor: Actor) -> AuthContext:
        return AuthContext(actor=actor, auth=auth)

    app = create_service_app(
        name="auth", schema=schema, settings=settings, build_context=build_context, lifespan=lifespan
    )

    @app.get("/.well-known/jwks.json", tags=["keys"])
    async def jwks() -> JSONResponse:
        # Verifiers cache this; an unknown kid makes them fetch again, so rotation needs no restart.
        return JSONResponse(
            keyring.jwks(), headers={"Cache-Control": f"public, max-age={settings.jwks_cache_seconds}"}
        )

    @app.post("/oauth/token", tags=["keys"], include_in_schema=False)
    async def client_credentials(request: Request) -> JSONResponse:
        """RFC 6749 §4.4: a service exchanges its client id and secret for a short-lived service token."""
        form = await request.form()
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        expected = settings.client_secrets.get(client_id)
        if expected is None or not hmac.compare_digest(secret.encode(), expected.get_secret_value().encode()):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = minter.client_token(client_id)
        return JSONResponse(
            {"access_token": token.token, "token_type": "Bearer", "expires_in": token.expires_in},
            headers={"Cache-Control": "no-store"},
        )

    app.state.keyring = keyring
    app.state.minter = minter
    return app
