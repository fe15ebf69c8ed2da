"""The auth subgraph app: no store of its own; signs tokens, serves the JWKS, calls the users service."""

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

    app.state.keyring = keyring
    app.state.minter = minter
    return app
