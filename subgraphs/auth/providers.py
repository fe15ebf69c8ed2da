"""OAuth 2.0 sign-in providers: exchange an authorization code (with PKCE) for a verified identity.

Google: verify the ID token (signature against Google's JWKS, iss, aud, exp, email_verified).
GitHub: read /user and the primary verified address from /user/emails (the public email proves nothing).
Every endpoint is a setting, so tests point them at a local fake provider.
"""

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx
import jwt
from authlib.deprecate import AuthlibDeprecationWarning

from coursegraph.errors import CourseGraphError, Forbidden, Unauthenticated
from coursegraph.tracing import instrument_http_client
from subgraphs.auth.settings import AuthSettings
from subgraphs.auth.users_client import OAuthIdentity

with warnings.catch_warnings():
    # authlib 1.9 warns that it falls back from the `httpx2` package to httpx, which is what we use.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

logger = logging.getLogger(__name__)

REJECTED_CODE = "The provider rejected the authorization code."
UNVERIFIED_EMAIL = "The provider has not verified this email address."
INVALID_ID_TOKEN = "The provider's ID token is not valid."  # noqa: S105 (a message)


class ProviderUnavailable(CourseGraphError):
    def __init__(self, provider: str, label: str) -> None:
        super().__init__(f"{label} is unavailable, try again later.", details={"provider": provider})


class Provider(Protocol):
    name: str
    label: str
    requires_pkce: bool

    @property
    def client_id(self) -> str | None: ...

    async def identify(self, code: str, code_verifier: str | None, redirect_uri: str) -> OAuthIdentity: ...


def not_configured(provider: Provider) -> Forbidden:
    return Forbidden(f"{provider.label} sign-in is not configured.", details={"provider": provider.name})


class _OAuthProvider:
    name = ""
    label = ""
    requires_pkce = False

    def __init__(self, client_id: str, client_secret: str, token_url: str, timeout: float) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._timeout = timeout

    @property
    def client_id(self) -> str | None:
        return self._client_id or None

    def _unavailable(self, what: str, exc: BaseException | None = None) -> ProviderUnavailable:
        logger.warning("%s unavailable: %s %r", self.name, what, exc)
        return ProviderUnavailable(self.name, self.label)

    @asynccontextmanager
    async def _exchange(
        self, code: str, code_verifier: str | None, redirect_uri: str
    ) -> AsyncIterator[tuple[AsyncOAuth2Client, dict[str, Any]]]:
        """POST the code to the token endpoint; yield the client (now holding the token) and the token."""
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        async with AsyncOAuth2Client(
            client_id=self._client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            timeout=self._timeout,
        ) as client:
            instrument_http_client(client, "auth")
            try:
                token = await client.fetch_token(
                    self._token_url,
                    grant_type="authorization_code",
                    code=code,
                    redirect_uri=redirect_uri,
                    **extra,
                )
            except OAuthError as exc:
                logger.info("%s rejected the code: %s", self.name, exc.error)
                raise Unauthenticated(REJECTED_CODE, details={"provider": self.name}) from exc
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code >= 500:
                    raise self._unavailable("token endpoint", exc) from exc
                raise Unauthenticated(REJECTED_CODE, details={"provider": self.name}) from exc
            except (httpx.HTTPError, ValueError) as exc:
                raise self._unavailable("token endpoint", exc) from exc
            yield client, dict(token)


class GoogleProvider(_OAuthProvider):
    name = "google"
    label = "Google"
    requires_pkce = True

    def __init__(self, settings: AuthSettings) -> None:
        super().__init__(
            settings.google_client_id,
            settings.google_client_secret.get_secret_value(),
            settings.google_token_url,
            settings.provider_timeout_seconds,
        )
        self._issuers = list(settings.google_issuers)
        # Caches Google's keys and refetches on an unknown kid (key rotation).
        self._jwks = jwt.PyJWKClient(
            settings.google_jwks_url,
            cache_keys=True,
            lifespan=3600,
            timeout=settings.provider_timeout_seconds,
        )

    async def identify(self, code: str, code_verifier: str | None, redirect_uri: str) -> OAuthIdentity:
        async with self._exchange(code, code_verifier, redirect_uri) as (_, token):
            id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthenticated(INVALID_ID_TOKEN, details={"provider": self.name})
        claims = await self._verify(id_token)
        if not claims.get("email") or claims.get("email_verified") not in (True, "true"):
            raise Forbidden(UNVERIFIED_EMAIL, details={"provider": self.name})
        return OAuthIdentity(
            provider=self.name,
            provider_id=str(claims["sub"]),
            email=str(claims["email"]),
            email_verified=True,
            name=str(claims.get("name") or ""),
        )

    async def _verify(self, id_token: str) -> dict[str, Any]:
        try:
            # PyJWKClient is synchronous (urllib): keep it off the event loop.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self._client_id,
                issuer=self._issuers,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
                leeway=30,
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise self._unavailable("JWKS", exc) from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            logger.info("google ID token refused: %r", exc)
            raise Unauthenticated(INVALID_ID_TOKEN, details={"provider": self.name}) from exc
        return claims


class GitHubProvider(_OAuthProvider):
    name = "github"
    label = "GitHub"

    def __init__(self, settings: AuthSettings) -> None:
        super().__init__(
            settings.github_client_id,
            settings.github_client_secret.get_secret_value(),
            settings.github_token_url,
            settings.provider_timeout_seconds,
        )
        self._api = settings.github_api_url.rstrip("/")

    async def identify(self, code: str, code_verifier: str | None, redirect_uri: str) -> OAuthIdentity:
        async with self._exchange(code, code_verifier, redirect_uri) as (client, _):
            user = await self._get(client, "/user")
            emails = await self._get(client, "/user/emails")
        if not isinstance(user, dict) or "id" not in user:
            raise self._unavailable("/user answered without an id")
        # Only the primary, verified address: the profile's public email is not proof of ownership.
        email = _primary_verified_email(emails)
        if email is None:
            raise Forbidden(UNVERIFIED_EMAIL, details={"provider": self.name})
        return OAuthIdentity(
            provider=self.name,
            provider_id=str(user["id"]),
            email=email,
            email_verified=True,
            name=str(user.get("name") or user.get("login") or ""),
        )

    async def _get(self, client: AsyncOAuth2Client, path: str) -> Any:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        try:
            response = await client.get(f"{self._api}{path}", headers=headers)
        except (httpx.HTTPError, OAuthError) as exc:
            raise self._unavailable(path, exc) from exc
        if response.status_code >= 500:
            raise self._unavailable(f"{path} answered {response.status_code}")
        if response.status_code in (401, 403, 404):
            # A revoked token, or no user:email scope: the provider did not vouch for an address.
            if path == "/user/emails":
                raise Forbidden(UNVERIFIED_EMAIL, details={"provider": self.name})
            raise Unauthenticated(REJECTED_CODE, details={"provider": self.name})
        try:
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPStatusError, ValueError) as exc:
            raise self._unavailable(f"{path} answered {response.status_code}", exc) from exc


def _primary_verified_email(emails: Any) -> str | None:
    for item in emails if isinstance(emails, list) else []:
        if isinstance(item, dict) and item.get("primary") and item.get("verified") and item.get("email"):
            return str(item["email"])
    return None


def providers_from_settings(settings: AuthSettings) -> dict[str, Provider]:
    return {"google": GoogleProvider(settings), "github": GitHubProvider(settings)}
