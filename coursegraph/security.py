"""Who is calling: access-token verification against the auth service's JWKS, and role checks.

Every subgraph verifies the token again (the router already did) so that a subgraph reached directly is
never more permissive than the graph.
"""

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import jwt

from coursegraph.errors import Forbidden, Unauthenticated

ALGORITHMS = ["RS256"]


class Role(StrEnum):
    LEARNER = "learner"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


# What each role may do, in words: shown to clients by `User.roles` and the sign-in payloads. Nothing
# checks these strings; each domain's `permissions` module decides from the actor's role and ownership,
# called by its service.
PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.LEARNER: (
        "profile:read:self",
        "profile:update:self",
        "courses:read",
        "courses:enroll",
        "assessments:attempt",
    ),
    Role.INSTRUCTOR: (
        "profile:read:self",
        "profile:update:self",
        "courses:read",
        "courses:enroll",
        "assessments:attempt",
        "courses:create",
        "courses:manage:own",
        "assessments:manage:own",
        "media:upload",
    ),
    Role.ADMIN: (
        "profile:read:any",
        "profile:update:any",
        "roles:manage",
        "courses:read",
        "courses:create",
        "courses:manage:any",
        "assessments:manage:any",
        "media:upload",
    ),
}

SERVICE_ROLE = "service"


@dataclass(frozen=True)
class Actor:
    """The caller of one request: anonymous, a user with a role, or another service."""

    user_id: UUID | None = None
    role: Role | None = None
    service: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_service(self) -> bool:
        return self.service is not None

    def require_user(self) -> UUID:
        if self.user_id is None:
            raise Unauthenticated()
        return self.user_id

    def require_role(self, *roles: Role) -> UUID:
        user_id = self.require_user()
        if self.role not in roles:
            raise Forbidden()
        return user_id

    def require_self_or_admin(self, user_id: UUID) -> None:
        if self.require_user() != user_id and not self.is_admin:
            raise Forbidden()

    def require_service(self, *allowed: str) -> str:
        """A service token, of one of the `allowed` services (client ids) when they are named."""
        if self.service is None or (allowed and self.service not in allowed):
            raise Forbidden("Internal operation.")
        return self.service


ANONYMOUS = Actor()

T = TypeVar("T")


async def before_token_expires(actor: Actor, waiting: Awaitable[T]) -> T:
    """What `waiting` gives, unless the caller's token expires first (Unauthenticated): a subscription's
    token was checked once, on connect, and the stream must not outlive it."""
    expires = actor.claims.get("exp")
    if not isinstance(expires, int | float):  # anonymous: nothing expires
        return await waiting
    left = expires - time.time()
    try:
        if left <= 0:
            raise TimeoutError
        async with asyncio.timeout(left):
            return await waiting
    except TimeoutError:
        if asyncio.iscoroutine(waiting):
            waiting.close()  # never awaited when already expired
        raise Unauthenticated("Token expired.") from None


class TokenVerifier:
    """Verifies RS256 access and service tokens against a JWKS (cached; unknown `kid` refetches).

    PyJWKClient does the caching and key-rotation lookups; it is synchronous, so it runs in a thread
    (the JWKS may be served by the same event loop in the single-process dev launcher). An unknown `kid`
    refetches the JWKS at most once per `refetch_seconds` (the client's cooldown): otherwise tokens with
    made-up kids would make every request a JWKS fetch.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        internal_audience: str,
        cache_seconds: int = 300,
        refetch_seconds: float = 10,
    ) -> None:
        self._jwks = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=cache_seconds, timeout=5, cooldown_duration=refetch_seconds
        )
        self._issuer = issuer
        self._audience = audience
        self._internal_audience = internal_audience

    async def actor_from_authorization(self, authorization: str | None) -> Actor:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization must be 'Bearer <token>'.")
        return await self.actor_from_token(token.strip())

    async def actor_from_token(self, token: str) -> Actor:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALGORITHMS:
                raise Unauthenticated("Unsupported token algorithm.")
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                audience=[self._audience, self._internal_audience],
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Token expired.") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthenticated("Invalid token.") from exc
        return actor_from_claims(claims, audience=self._audience, internal_audience=self._internal_audience)


def actor_from_claims(claims: dict[str, Any], *, audience: str, internal_audience: str) -> Actor:
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    role = claims.get("role")
    if role == SERVICE_ROLE:
        # A service token is only valid with the internal audience, never as a user token; it names the
        # OAuth client it was issued to (RFC 9068 `client_id`), which is who may call what.
        client_id = claims.get("client_id")
        if internal_audience not in audiences or audience in audiences:
            raise Unauthenticated("Invalid token.")
        if not isinstance(client_id, str) or not client_id:
            raise Unauthenticated("Invalid token.")
        return Actor(service=client_id, claims=claims)
    if internal_audience in audiences:
        raise Unauthenticated("Invalid token.")
    try:
        return Actor(user_id=UUID(str(claims["sub"])), role=Role(str(role)), claims=claims)
    except ValueError as exc:
        raise Unauthenticated("Invalid token.") from exc
