"""Auth domain logic: sign-in, refresh-token rotation, sign-out. No GraphQL here.

The auth service keeps no state: users and refresh-token families live in the users service, which only
ever sees the SHA-256 of a refresh token.
"""

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from coursegraph.errors import BadUserInput, Forbidden
from subgraphs.auth.keys import TokenMinter
from subgraphs.auth.providers import Provider, not_configured
from subgraphs.auth.settings import AuthSettings
from subgraphs.auth.users_client import OAuthIdentity, UserRef, UsersClient

CODE_MAX_LENGTH = 2048
REDIRECT_URI_MAX_LENGTH = 2048
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
URI_CHARACTERS = re.compile(r"[\x21-\x7e]+")
REFRESH_TOKEN_MAX_LENGTH = 256
NAME_MAX_LENGTH = 200
# RFC 7636 §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRef


@dataclass(frozen=True)
class ProvidersStatus:
    google_client_id: str | None
    github_client_id: str | None
    dev_sign_in: bool


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _invalid(field: str, message: str) -> BadUserInput:
    return BadUserInput(message, details={"field": field})


def validate_sign_in(code: str, code_verifier: str | None, redirect_uri: str, *, requires_pkce: bool) -> None:
    if not code or len(code) > CODE_MAX_LENGTH:
        raise _invalid("code", f"code must be 1 to {CODE_MAX_LENGTH} characters.")
    if not PRINTABLE_ASCII.fullmatch(code):  # RFC 6749 §A.11: VSCHAR; the token request is ASCII
        raise _invalid("code", "code must be printable ASCII characters.")
    if code_verifier is None:
        if requires_pkce:
            raise _invalid("codeVerifier", "codeVerifier is required (PKCE).")
    elif not CODE_VERIFIER.fullmatch(code_verifier):
        raise _invalid("codeVerifier", "codeVerifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.")
    if len(redirect_uri) > REDIRECT_URI_MAX_LENGTH:
        raise _invalid("redirectUri", f"redirectUri must be at most {REDIRECT_URI_MAX_LENGTH} characters.")
    if not URI_CHARACTERS.fullmatch(redirect_uri):  # RFC 3986: a URI is ASCII, without spaces
        raise _invalid("redirectUri", "redirectUri must be an http(s) URL.")
    try:
        parts = urlsplit(redirect_uri)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("redirectUri", "redirectUri must be an http(s) URL.")


def normalize_email(email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _invalid("email", "email is not a valid address.") from exc


def clean_name(name: str) -> str:
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned or len(cleaned) > NAME_MAX_LENGTH:
        raise _invalid("name", f"name must be 1 to {NAME_MAX_LENGTH} characters.")
    return cleaned


def _check_refresh_token(token: str) -> None:
    if not token or len(token) > REFRESH_TOKEN_MAX_LENGTH:
        raise _invalid("refreshToken", "refreshToken is not valid.")


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        minter: TokenMinter,
        users: UsersClient,
        providers: dict[str, Provider],
    ) -> None:
        self._settings = settings
        self._minter = minter
        self._users = users
        self._providers = providers

    def providers_status(self) -> ProvidersStatus:
        return ProvidersStatus(
            google_client_id=self._providers["google"].client_id,
            github_client_id=self._providers["github"].client_id,
            dev_sign_in=self._settings.dev_sign_in_enabled,
        )

    async def sign_in(
        self, provider_name: str, *, code: str, code_verifier: str | None, redirect_uri: str
    ) -> Session:
        provider = self._providers[provider_name]
        if provider.client_id is None:
            raise not_configured(provider)
        validate_sign_in(code, code_verifier, redirect_uri, requires_pkce=provider.requires_pkce)
        identity = await provider.identify(code, code_verifier, redirect_uri)
        return await self._start_session(identity)

    async def dev_sign_in(self, *, email: str, name: str) -> Session:
        if not self._settings.dev_sign_in_enabled:
            raise Forbidden("Dev sign-in is disabled.")
        normalized = normalize_email(email)
        identity = OAuthIdentity(
            provider="dev",
            provider_id=normalized,
            email=normalized,
            email_verified=True,
            name=clean_name(name),
        )
        return await self._start_session(identity)

    async def refresh(self, refresh_token: str) -> Session:
        _check_refresh_token(refresh_token)
        new_token = secrets.token_urlsafe(32)
        user = await self._users.rotate_refresh_token(
            hash_refresh_token(refresh_token), hash_refresh_token(new_token), self._refresh_expiry()
        )
        return self._session(user, new_token)

    async def sign_out(self, refresh_token: str) -> bool:
        _check_refresh_token(refresh_token)
        return await self._users.revoke_refresh_token(hash_refresh_token(refresh_token))

    async def _start_session(self, identity: OAuthIdentity) -> Session:
        bootstrap_admin = identity.email.lower() in self._settings.admin_email_set
        user = await self._users.upsert_oauth_user(identity, bootstrap_admin=bootstrap_admin)
        refresh_token = secrets.token_urlsafe(32)
        user = await self._users.issue_refresh_token(
            user.id, hash_refresh_token(refresh_token), self._refresh_expiry()
        )
        return self._session(user, refresh_token)

    def _refresh_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._settings.refresh_token_ttl_seconds)

    def _session(self, user: UserRef, refresh_token: str) -> Session:
        access = self._minter.access_token(user.id, user.role)
        return Session(
            access_token=access.token, refresh_token=refresh_token, expires_in=access.expires_in, user=user
        )
