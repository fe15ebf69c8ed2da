"""Tokens with made-up key ids cannot make a service fetch the JWKS on every request (issue 8)."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from coursegraph.errors import Unauthenticated
from coursegraph.security import TokenVerifier
from tests.support.servers import serve_in_thread

ISSUER, AUDIENCE, INTERNAL = "coursegraph", "coursegraph-api", "coursegraph-internal"


class Jwks:
    """A JWKS endpoint that counts its fetches."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0

    async def jwks(self, _: Request) -> JSONResponse:
        self.fetches += 1
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="known", use="sig", alg="RS256")
        return JSONResponse({"keys": [jwk]})

    def token(self, kid: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "role": "learner"}
        claims |= {"iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    endpoint = Jwks()
    health = Route("/health", lambda _: PlainTextResponse("ok"))
    app = Starlette(routes=[Route("/.well-known/jwks.json", endpoint.jwks), health])
    with serve_in_thread(app) as base:
        yield endpoint, f"{base}/.well-known/jwks.json"


async def test_unknown_key_ids_refetch_the_jwks_once_per_cooldown(jwks: tuple[Jwks, str]) -> None:
    endpoint, url = jwks
    verifier = TokenVerifier(
        url, issuer=ISSUER, audience=AUDIENCE, internal_audience=INTERNAL, refetch_seconds=10
    )
    actor = await verifier.actor_from_token(endpoint.token("known"))
    assert actor.user_id is not None and endpoint.fetches == 1

    for _ in range(50):
        with pytest.raises(Unauthenticated):
            await verifier.actor_from_token(endpoint.token(f"made-up-{uuid.uuid4().hex}"))
    # Within the cooldown of the first fetch: no refetch at all (before, one per request: 50).
    assert endpoint.fetches == 1
    # The known key still verifies, from the cache.
    assert (await verifier.actor_from_token(endpoint.token("known"))).user_id is not None
    assert endpoint.fetches == 1


async def test_after_the_cooldown_an_unknown_key_id_refetches_once(jwks: tuple[Jwks, str]) -> None:
    endpoint, url = jwks
    verifier = TokenVerifier(
        url, issuer=ISSUER, audience=AUDIENCE, internal_audience=INTERNAL, refetch_seconds=0.5
    )
    await verifier.actor_from_token(endpoint.token("known"))
    await asyncio.sleep(0.6)  # a rotated key is looked for once the cooldown has passed
    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await verifier.actor_from_token(endpoint.token(f"made-up-{uuid.uuid4().hex}"))
    assert endpoint.fetches == 2
