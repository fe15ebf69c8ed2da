"""Signing keys (RS256, `kid` = RFC 7638 thumbprint), the published JWKS, and token minting."""

import base64
import hashlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from coursegraph.security import SERVICE_ROLE, Role
from subgraphs.auth.settings import AuthSettings, ConfigurationError

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
GENERATED_KEY = Path("keys") / "jwt-signing.pem"
SERVICE_CLIENT_ID = "auth"
SERVICE_SUBJECT = f"service:{SERVICE_CLIENT_ID}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> "SigningKey":
        return cls(kid=thumbprint(private_key.public_key()), private_key=private_key)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot read an unencrypted PEM private key from {path}: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_KEY_BITS:
        raise ConfigurationError(f"{path} must hold an RSA private key of at least {MIN_KEY_BITS} bits")
    return key


def generate_key_file(path: Path) -> None:
    """Write a new key at `path` unless one exists; safe when several processes start at once."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt-signing-")  # created 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        # link() creates the name only if it is absent, so a complete file appears atomically, once.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


class KeyRing:
    """The keys this service publishes; the first one signs."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ConfigurationError("at least one signing key is required")
        self.keys = tuple(keys)
        self.signing = keys[0]

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> "KeyRing":
        if settings.jwt_private_keys:
            return cls(
                [SigningKey.from_private_key(load_private_key(Path(p))) for p in settings.jwt_private_keys]
            )
        if settings.is_production:
            raise ConfigurationError("the production profile needs COURSEGRAPH_JWT_PRIVATE_KEYS")
        # Dev and test: a generated key, persisted so that tokens survive restarts.
        path = settings.data_dir / GENERATED_KEY
        if not path.exists():
            generate_key_file(path)
        return cls([SigningKey.from_private_key(load_private_key(path))])

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


class TokenMinter:
    """Signs access tokens for users and a short-lived, cached service token for internal calls."""

    def __init__(self, keyring: KeyRing, settings: AuthSettings) -> None:
        self._keyring = keyring
        self._settings = settings
        self._service_token: tuple[str, float] | None = None

    def _sign(self, claims: dict[str, Any], ttl: int, audience: str) -> str:
        now = int(time.time())
        payload = {
            "iss": self._settings.jwt_issuer,
            "aud": audience,
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        key = self._keyring.signing
        return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def access_token(self, user_id: uuid.UUID, role: Role) -> AccessToken:
        ttl = self._settings.access_token_ttl_seconds
        token = self._sign({"sub": str(user_id), "role": role.value}, ttl, self._settings.jwt_audience)
        return AccessToken(token=token, expires_in=ttl)

    def client_token(self, client_id: str) -> AccessToken:
        """A service token for another service (OAuth 2.0 client credentials)."""
        ttl = self._settings.service_token_ttl_seconds
        claims = {"sub": f"service:{client_id}", "client_id": client_id, "role": SERVICE_ROLE}
        return AccessToken(
            token=self._sign(claims, ttl, self._settings.jwt_internal_audience), expires_in=ttl
        )

    def service_token(self) -> str:
        ttl = self._settings.service_token_ttl_seconds
        now = time.monotonic()
        # Re-mint with a third of the lifetime left, so a token never expires in flight.
        if self._service_token is None or self._service_token[1] - now < ttl / 3:
            token = self._sign(
                {"sub": SERVICE_SUBJECT, "client_id": SERVICE_CLIENT_ID, "role": SERVICE_ROLE},
                ttl,
                self._settings.jwt_internal_audience,
            )
            self._service_token = (token, now + ttl)
        return self._service_token[0]
