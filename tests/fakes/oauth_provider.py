"""A local fake of Google's and GitHub's OAuth endpoints, speaking their documented protocols.

Google (https://developers.google.com/identity/openid-connect/openid-connect):
  GET  /google/o/oauth2/v2/auth   the authorization endpoint: redirects the browser back to redirect_uri with
                            `code` and `state` for the identity preset with POST /_fake/authorize-as
  POST /google/token        form: code, client_id, client_secret, redirect_uri, grant_type, code_verifier
                            -> {access_token, id_token, expires_in, token_type}; errors as RFC 6749 JSON (400)
  GET  /google/certs        the JWKS that signs the ID tokens
GitHub (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
  GET  /github/login/oauth/authorize      the same, for GitHub
  POST /github/login/oauth/access_token   -> JSON with `Accept: application/json`, else form-encoded;
                                             a bad code is `{"error": "bad_verification_code"}` with 200
  GET  /github/api/user, /github/api/user/emails
Test-only control API: POST /_fake/codes (register a code and its identity), POST /_fake/authorize-as
(who "signs in" at the next authorization request: a browser test drives the real buttons), POST /_fake/mode.

`run_fake_oauth_provider()` runs it on a free port in a background thread and yields a handle with the
settings that point the auth service at it.
"""

import asyncio
import base64
import contextlib
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm
from pydantic import BaseModel

from tests.support.servers import serve_in_thread

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_CLIENT_ID = "fake-google-client.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "fake-google-secret"
GITHUB_CLIENT_ID = "fake-github-client"
GITHUB_CLIENT_SECRET = "fake-github-secret"
HANG_SECONDS = 30.0


class Mode(StrEnum):
    NORMAL = "normal"
    ERROR = "error"  # every provider endpoint answers 500
    HANG = "hang"  # every provider endpoint waits HANG_SECONDS before answering
    WRONG_KEY = "wrong_key"  # ID tokens signed by another key under the published kid
    WRONG_AUDIENCE = "wrong_audience"
    EXPIRED = "expired"


class EmailEntry(BaseModel):
    email: str
    primary: bool = False
    verified: bool = False
    visibility: str | None = None


class CodeRegistration(BaseModel):
    provider: str  # google | github
    code: str | None = None  # generated when absent
    sub: str | None = None  # Google subject / GitHub numeric id (generated when absent)
    email: str | None = None
    email_verified: bool = True
    name: str | None = None
    login: str | None = None  # GitHub
    emails: list[EmailEntry] | None = None  # GitHub /user/emails (default: the email, primary+verified)
    code_challenge: str | None = None  # PKCE S256 challenge of the authorization request
    redirect_uri: str | None = None  # checked when given


class ModeChange(BaseModel):
    mode: Mode


def pkce_pair() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair, as a client makes for its authorization request."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class _State:
    key: rsa.RSAPrivateKey
    other_key: rsa.RSAPrivateKey
    kid: str
    mode: Mode = Mode.NORMAL
    codes: dict[str, CodeRegistration] = field(default_factory=dict)
    github_tokens: dict[str, CodeRegistration] = field(default_factory=dict)
    # provider -> who signs in at its next authorization request (a person at the provider's page).
    next_sign_in: dict[str, CodeRegistration] = field(default_factory=dict)
    # Set when the mode leaves HANG, so hanging requests end and the server can stop promptly.
    unhang: asyncio.Event = field(default_factory=asyncio.Event)


def create_fake_oauth_provider() -> FastAPI:
    state = _State(
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        other_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        kid=uuid.uuid4().hex,
    )
    app = FastAPI(title="Fake OAuth provider (tests only)")
    app.state.fake = state

    @app.middleware("http")
    async def apply_mode(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith(("/google/", "/github/")):
            if state.mode is Mode.ERROR:
                return PlainTextResponse("upstream exploded", status_code=500)
            if state.mode is Mode.HANG:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.unhang.wait(), HANG_SECONDS)
        response: Response = await call_next(request)
        return response

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/_fake/codes")
    async def register_code(registration: CodeRegistration) -> dict[str, str]:
        registration.code = registration.code or secrets.token_urlsafe(24)
        registration.sub = registration.sub or str(secrets.randbelow(10**9) + 10**8)
        state.codes[registration.code] = registration
        return {"code": registration.code, "sub": registration.sub}

    @app.post("/_fake/authorize-as")
    async def authorize_as(registration: CodeRegistration) -> dict[str, str]:
        state.next_sign_in[registration.provider] = registration
        return {"provider": registration.provider}

    def authorize(provider: str, client_id: str, request: Request) -> Response:
        """The authorization endpoint: the preset person consents, the browser goes back with a code."""
        params = request.query_params
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != client_id or not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("Error 400: invalid_request (client_id or redirect_uri)", 400)
        if provider == "google" and (
            params.get("response_type") != "code" or params.get("code_challenge_method") != "S256"
        ):
            return PlainTextResponse("Error 400: invalid_request (response_type, PKCE)", 400)
        person = state.next_sign_in.pop(provider, None)
        if person is None:
            back = {"error": "access_denied", "state": params.get("state", "")}
            return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)
        code = secrets.token_urlsafe(24)
        state.codes[code] = person.model_copy(
            update={
                "code": code,
                "sub": person.sub or str(secrets.randbelow(10**9) + 10**8),
                "code_challenge": params.get("code_challenge"),
                "redirect_uri": redirect_uri,
            }
        )
        back = {"code": code, "state": params.get("state", "")}
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    @app.get("/google/o/oauth2/v2/auth")
    async def google_authorize(request: Request) -> Response:
        return authorize("google", GOOGLE_CLIENT_ID, request)

    @app.get("/github/login/oauth/authorize")
    async def github_authorize(request: Request) -> Response:
        return authorize("github", GITHUB_CLIENT_ID, request)

    @app.post("/_fake/mode")
    async def set_mode(change: ModeChange) -> dict[str, str]:
        state.mode = change.mode
        if state.mode is not Mode.HANG:
            state.unhang.set()
            state.unhang = asyncio.Event()
        return {"mode": state.mode.value}

    def redeem(
        provider: str, code: str, redirect_uri: str | None, verifier: str | None
    ) -> CodeRegistration | None:
        """The code's identity if everything matches; a code is spent by its first use either way."""
        registration = state.codes.pop(code, None)
        if registration is None or registration.provider != provider:
            return None
        if registration.redirect_uri is not None and registration.redirect_uri != redirect_uri:
            return None
        challenge = registration.code_challenge
        pkce_ok = challenge is None or (verifier is not None and s256(verifier) == challenge)
        return registration if pkce_ok else None

    # ------------------------------------------------------------------ Google

    @app.get("/google/certs")
    async def google_certs() -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(state.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": state.kid, "use": "sig", "alg": "RS256"}]}

    @app.post("/google/token")
    async def google_token(
        grant_type: str = Form(""),
        code: str = Form(""),
        redirect_uri: str | None = Form(None),
        client_id: str = Form(""),
        client_secret: str = Form(""),
        code_verifier: str | None = Form(None),
    ) -> JSONResponse:
        if client_id != GOOGLE_CLIENT_ID or client_secret != GOOGLE_CLIENT_SECRET:
            return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
        if grant_type != "authorization_code":
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.", 400)
        registration = redeem("google", code, redirect_uri, code_verifier)
        if registration is None:
            return _oauth_error("invalid_grant", "Bad Request", 400)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "azp": GOOGLE_CLIENT_ID,
            "aud": "someone-else.apps.googleusercontent.com"
            if state.mode is Mode.WRONG_AUDIENCE
            else GOOGLE_CLIENT_ID,
            "sub": registration.sub,
            "email": registration.email,
            "email_verified": registration.email_verified,
            "name": registration.name,
            "iat": now - 7200 if state.mode is Mode.EXPIRED else now,
            "exp": now - 3600 if state.mode is Mode.EXPIRED else now + 3600,
        }
        signing_key = state.other_key if state.mode is Mode.WRONG_KEY else state.key
        id_token = jwt.encode(
            {k: v for k, v in claims.items() if v is not None},
            signing_key,
            algorithm="RS256",
            headers={"kid": state.kid},
        )
        return JSONResponse(
            {
                "access_token": "ya29." + secrets.token_urlsafe(32),
                "id_token": id_token,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "openid email profile",
            },
            headers={"Cache-Control": "no-store"},
        )

    # ------------------------------------------------------------------ GitHub

    @app.post("/github/login/oauth/access_token")
    async def github_token(
        code: str = Form(""),
        client_id: str = Form(""),
        client_secret: str = Form(""),
        redirect_uri: str | None = Form(None),
        code_verifier: str | None = Form(None),
        accept: str = Header(""),
    ) -> Response:
        # GitHub answers 200 even for errors; the body says what went wrong.
        body: dict[str, str]
        if client_id != GITHUB_CLIENT_ID or client_secret != GITHUB_CLIENT_SECRET:
            body = {"error": "incorrect_client_credentials"}
        elif (registration := redeem("github", code, redirect_uri, code_verifier)) is None:
            body = {
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired.",
            }
        else:
            token = "gho_" + secrets.token_urlsafe(27)
            state.github_tokens[token] = registration
            body = {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}
        if "application/json" in accept:
            return JSONResponse(body)
        return PlainTextResponse(urlencode(body), media_type="application/x-www-form-urlencoded")

    def github_user(authorization: str) -> CodeRegistration | None:
        scheme, _, token = authorization.partition(" ")
        return state.github_tokens.get(token) if scheme.lower() in ("bearer", "token") else None

    @app.get("/github/api/user")
    async def github_user_profile(authorization: str = Header("")) -> JSONResponse:
        registration = github_user(authorization)
        if registration is None:
            return _bad_credentials()
        login = registration.login or f"user{registration.sub}"
        return JSONResponse(
            {
                "login": login,
                "id": int(registration.sub or 0),
                "type": "User",
                "name": registration.name,
                # The public profile email: anything the user typed, never proof of ownership.
                "email": registration.email,
            }
        )

    @app.get("/github/api/user/emails")
    async def github_user_emails(authorization: str = Header("")) -> JSONResponse:
        registration = github_user(authorization)
        if registration is None:
            return _bad_credentials()
        emails = registration.emails
        if emails is None:
            emails = (
                []
                if registration.email is None
                else [
                    EmailEntry(email=registration.email, primary=True, verified=registration.email_verified)
                ]
            )
        return JSONResponse([entry.model_dump() for entry in emails])

    return app


def _oauth_error(error: str, description: str, status: int) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _bad_credentials() -> JSONResponse:
    return JSONResponse(
        {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, status_code=401
    )


@dataclass(frozen=True)
class FakeOAuthProvider:
    """A running fake: its URL, the settings that point the auth service at it, and the control API."""

    url: str

    def auth_settings(self) -> dict[str, Any]:
        """Keyword arguments for `AuthSettings(...)`."""
        return {
            "google_client_id": GOOGLE_CLIENT_ID,
            "google_client_secret": GOOGLE_CLIENT_SECRET,
            "google_token_url": f"{self.url}/google/token",
            "google_jwks_url": f"{self.url}/google/certs",
            "google_issuers": (GOOGLE_ISSUER,),
            "github_client_id": GITHUB_CLIENT_ID,
            "github_client_secret": GITHUB_CLIENT_SECRET,
            "github_token_url": f"{self.url}/github/login/oauth/access_token",
            "github_api_url": f"{self.url}/github/api",
        }

    def environment(self) -> dict[str, str]:
        """The same as `COURSEGRAPH_*` environment variables (for a stack run as a subprocess)."""
        return {
            f"COURSEGRAPH_{name.upper()}": ",".join(value) if isinstance(value, tuple) else str(value)
            for name, value in self.auth_settings().items()
        }

    def register_code(self, provider: str, **identity: Any) -> str:
        """Register an authorization code for `provider` with the identity it stands for; returns the code."""
        response = httpx.post(f"{self.url}/_fake/codes", json={"provider": provider, **identity}, timeout=10)
        response.raise_for_status()
        return str(response.json()["code"])

    def authorize_as(self, provider: str, **identity: Any) -> None:
        """Who signs in at `provider`'s next authorization request (the browser is sent back with a code)."""
        response = httpx.post(
            f"{self.url}/_fake/authorize-as", json={"provider": provider, **identity}, timeout=10
        )
        response.raise_for_status()

    @property
    def authorize_urls(self) -> dict[str, str]:
        return {
            "google": f"{self.url}/google/o/oauth2/v2/auth",
            "github": f"{self.url}/github/login/oauth/authorize",
        }

    def set_mode(self, mode: Mode | str) -> None:
        response = httpx.post(f"{self.url}/_fake/mode", json={"mode": str(mode)}, timeout=10)
        response.raise_for_status()

    @contextlib.contextmanager
    def mode(self, mode: Mode | str) -> Iterator[None]:
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode(Mode.NORMAL)


@contextlib.contextmanager
def run_fake_oauth_provider() -> Iterator[FakeOAuthProvider]:
    """Serve the fake on a free 127.0.0.1 port in a background thread for the duration of the block."""
    with serve_in_thread(create_fake_oauth_provider()) as url:
        yield FakeOAuthProvider(url=url)
