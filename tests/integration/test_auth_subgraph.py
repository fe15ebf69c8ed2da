"""The auth subgraph over HTTP, with the real users subgraph (PostgreSQL, Kafka) and a fake OAuth provider.

Every server runs as a real uvicorn server on a free loopback port; tests call the auth subgraph's
/graphql with httpx and count rows in PostgreSQL to prove that a refused sign-in created nothing.
"""

import contextlib
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from coursegraph.security import Role, TokenVerifier
from subgraphs.auth.app import create_app as create_auth_app
from subgraphs.auth.settings import AuthSettings, ConfigurationError
from subgraphs.users.app import UsersSettings
from subgraphs.users.app import create_app as create_users_app
from tests.fakes.oauth_provider import FakeOAuthProvider, Mode, pkce_pair, run_fake_oauth_provider
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.integration

REDIRECT_URI = "https://app.example.org/oauth/callback"

SIGN_IN = """
mutation SignIn($input: OAuthSignInInput!) {
  signIn: signInWith%s(input: $input) { accessToken refreshToken tokenType expiresIn user { id } }
}"""
DEV_SIGN_IN = """
mutation Dev($email: String!, $name: String!) {
  devSignIn(email: $email, name: $name) { accessToken refreshToken tokenType expiresIn user { id } }
}"""
REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { accessToken refreshToken expiresIn user { id } }
}"""
SIGN_OUT = "mutation SignOut($token: String!) { signOut(refreshToken: $token) }"
PROVIDERS = "{ authProviders { googleClientId githubClientId devSignIn } }"


@dataclass
class Stack:
    auth_url: str  # base URL of the main auth subgraph (test profile)
    users_url: str
    jwks_url: str
    admin_email: str
    fake: FakeOAuthProvider
    start_auth: Callable[..., str]  # another auth server sharing the signing key; returns its base URL


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.org"


@pytest.fixture(scope="module")
def stack(
    database_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("auth-data")
    auth_port, users_port = free_port(), free_port()
    auth_base, users_base = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{users_port}"
    jwks_url = f"{auth_base}/.well-known/jwks.json"
    admin_email = unique_email("boss")

    with contextlib.ExitStack() as servers:
        fake = servers.enter_context(run_fake_oauth_provider())

        def auth_settings(**overrides: Any) -> AuthSettings:
            values: dict[str, Any] = {
                "profile": "test",
                "data_dir": data_dir,  # one generated key for every auth server of this module
                "jwks_url": jwks_url,
                "users_subgraph_url": f"{users_base}/graphql",
                "admin_emails": (admin_email,),
                "provider_timeout_seconds": 1.0,
                **fake.auth_settings(),
                **overrides,
            }
            return AuthSettings(**values)

        def start_auth(**overrides: Any) -> str:
            return servers.enter_context(serve_in_thread(create_auth_app(auth_settings(**overrides))))

        servers.enter_context(serve_in_thread(create_auth_app(auth_settings()), port=auth_port))
        users = UsersSettings(
            profile="test",
            database_url=database_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            jwks_url=jwks_url,
            data_dir=tmp_path_factory.mktemp("users-data"),
        )
        servers.enter_context(serve_in_thread(create_users_app(users), port=users_port, ready_path="/ready"))
        yield Stack(auth_base, users_base, jwks_url, admin_email, fake, start_auth)


@pytest.fixture(scope="module")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def gql(base_url: str, query: str, bearer: str | None = None, **variables: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{base_url}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    body: dict[str, Any] = response.json()
    return body


def data(result: dict[str, Any]) -> dict[str, Any]:
    assert not result.get("errors"), result
    payload: dict[str, Any] = result["data"]
    return payload


def error(result: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(code, message, details) of the one error of a refused operation."""
    assert result.get("data") is None, result
    [err] = result["errors"]
    extensions = err.get("extensions") or {}
    return str(extensions.get("code")), str(err["message"]), extensions.get("details") or {}


async def count_users(db: AsyncEngine, email: str) -> int:
    async with db.connect() as connection:
        result = await connection.execute(
            sa.text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}
        )
        return int(result.scalar_one())


async def user_row(db: AsyncEngine, user_id: str) -> dict[str, Any]:
    async with db.connect() as connection:
        result = await connection.execute(
            sa.text("SELECT email, role, provider FROM users WHERE id = :id"), {"id": uuid.UUID(user_id)}
        )
        return dict(result.mappings().one())


def google_code(stack: Stack, email: str, *, sub: str | None = None, **identity: Any) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    identity = {"email": email, "name": "Grace Hopper", "code_challenge": challenge, **identity}
    code = stack.fake.register_code("google", sub=sub or uuid.uuid4().hex, **identity)
    return code, verifier


async def google_sign_in(
    stack: Stack, email: str, *, sub: str | None = None, **identity: Any
) -> dict[str, Any]:
    code, verifier = google_code(stack, email, sub=sub, **identity)
    inputs = {"code": code, "codeVerifier": verifier, "redirectUri": REDIRECT_URI}
    return await gql(stack.auth_url, SIGN_IN % "Google", input=inputs)


async def github_sign_in(stack: Stack, **identity: Any) -> dict[str, Any]:
    identity.setdefault("sub", str(uuid.uuid4().int % 10**9))
    code = stack.fake.register_code("github", **identity)
    return await gql(stack.auth_url, SIGN_IN % "Github", input={"code": code, "redirectUri": REDIRECT_URI})


def claims_of(stack: Stack, access_token: str) -> dict[str, Any]:
    key = jwt.PyJWKClient(stack.jwks_url).get_signing_key_from_jwt(access_token)
    claims: dict[str, Any] = jwt.decode(
        access_token, key.key, algorithms=["RS256"], audience="coursegraph-api", issuer="coursegraph"
    )
    return claims


# ------------------------------------------------------------------------------------- sign-in


async def test_google_sign_in_creates_the_user_once(stack: Stack, db: AsyncEngine) -> None:
    email, sub = unique_email(), uuid.uuid4().hex
    first = data(await google_sign_in(stack, email, sub=sub))["signIn"]
    second = data(await google_sign_in(stack, email.upper(), sub=sub))["signIn"]

    assert first["user"]["id"] == second["user"]["id"]
    assert first["tokenType"] == "Bearer"
    assert first["expiresIn"] == 900
    assert first["refreshToken"] != second["refreshToken"]
    assert await count_users(db, email) == 1
    assert await user_row(db, first["user"]["id"]) == {
        "email": email,
        "role": "learner",
        "provider": "google",
    }
    claims = claims_of(stack, first["accessToken"])
    assert claims["sub"] == first["user"]["id"]
    assert claims["role"] == "learner"
    assert claims["exp"] - claims["iat"] == 900
    assert uuid.UUID(claims["jti"])


async def test_github_uses_the_primary_verified_email(stack: Stack, db: AsyncEngine) -> None:
    public, primary, secondary = unique_email("public"), unique_email("primary"), unique_email("other")
    emails = [
        {"email": public, "primary": False, "verified": False},
        {"email": secondary, "primary": False, "verified": True},
        {"email": primary, "primary": True, "verified": True},
    ]
    result = await github_sign_in(stack, email=public, emails=emails, login="octocat", name=None)
    user_id = data(result)["signIn"]["user"]["id"]

    assert await user_row(db, user_id) == {"email": primary, "role": "learner", "provider": "github"}
    assert await count_users(db, public) == 0
    async with db.connect() as connection:
        name = await connection.scalar(
            sa.text("SELECT name FROM users WHERE id = :id"), {"id": uuid.UUID(user_id)}
        )
    assert name == "octocat"  # no display name: the login


async def test_github_primary_email_unverified_is_forbidden(stack: Stack, db: AsyncEngine) -> None:
    email = unique_email()
    emails = [{"email": email, "primary": True, "verified": False}]
    code, message, _ = error(await github_sign_in(stack, email=email, emails=emails))

    assert (code, message) == ("FORBIDDEN", "The provider has not verified this email address.")
    assert await count_users(db, email) == 0


async def test_accounts_link_by_verified_email_across_providers(stack: Stack, db: AsyncEngine) -> None:
    email = unique_email()
    google_user = data(await google_sign_in(stack, email))["signIn"]["user"]["id"]
    github_user = data(await github_sign_in(stack, email=email))["signIn"]["user"]["id"]

    assert github_user == google_user
    assert await count_users(db, email) == 1
    async with db.connect() as connection:
        providers = await connection.scalars(
            sa.text("SELECT provider FROM user_identities WHERE user_id = :id ORDER BY provider"),
            {"id": uuid.UUID(google_user)},
        )
        assert list(providers) == ["github", "google"]


async def test_unverified_google_email_is_forbidden_and_creates_nothing(
    stack: Stack, db: AsyncEngine
) -> None:
    email = unique_email()
    code, message, details = error(await google_sign_in(stack, email, email_verified=False))

    assert (code, message) == ("FORBIDDEN", "The provider has not verified this email address.")
    assert details == {"provider": "google"}
    assert await count_users(db, email) == 0


async def test_wrong_pkce_verifier_is_rejected(stack: Stack, db: AsyncEngine) -> None:
    email = unique_email()
    code, _ = google_code(stack, email)
    wrong_verifier, _ = pkce_pair()
    result = await gql(
        stack.auth_url,
        SIGN_IN % "Google",
        input={"code": code, "codeVerifier": wrong_verifier, "redirectUri": REDIRECT_URI},
    )

    assert error(result)[:2] == ("UNAUTHENTICATED", "The provider rejected the authorization code.")
    assert await count_users(db, email) == 0


async def test_codes_are_single_use(stack: Stack) -> None:
    code, verifier = google_code(stack, unique_email())
    inputs = {"code": code, "codeVerifier": verifier, "redirectUri": REDIRECT_URI}
    data(await gql(stack.auth_url, SIGN_IN % "Google", input=inputs))

    assert error(await gql(stack.auth_url, SIGN_IN % "Google", input=inputs))[0] == "UNAUTHENTICATED"


async def test_github_bad_verification_code_is_rejected(stack: Stack) -> None:
    result = await gql(
        stack.auth_url, SIGN_IN % "Github", input={"code": "nope", "redirectUri": REDIRECT_URI}
    )

    assert error(result)[:2] == ("UNAUTHENTICATED", "The provider rejected the authorization code.")


@pytest.mark.parametrize("mode", [Mode.WRONG_KEY, Mode.WRONG_AUDIENCE, Mode.EXPIRED])
async def test_bad_google_id_tokens_are_rejected(stack: Stack, db: AsyncEngine, mode: Mode) -> None:
    email = unique_email()
    with stack.fake.mode(mode):
        code, message, _ = error(await google_sign_in(stack, email))

    assert (code, message) == ("UNAUTHENTICATED", "The provider's ID token is not valid.")
    assert await count_users(db, email) == 0


@pytest.mark.parametrize("mode", [Mode.ERROR, Mode.HANG])
@pytest.mark.parametrize("provider", ["Google", "GitHub"])
async def test_provider_down_is_internal_and_creates_nothing(
    stack: Stack, db: AsyncEngine, mode: Mode, provider: str
) -> None:
    email = unique_email()
    sign_in = google_sign_in(stack, email) if provider == "Google" else github_sign_in(stack, email=email)
    with stack.fake.mode(mode):
        code, message, details = error(await sign_in)

    assert (code, message) == ("INTERNAL", f"{provider} is unavailable, try again later.")
    assert details == {"provider": provider.lower()}
    assert await count_users(db, email) == 0


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"code": "", "codeVerifier": "a" * 43}, "code"),
        ({"code": "c" * 2049, "codeVerifier": "a" * 43}, "code"),
        ({"code": "abc"}, "codeVerifier"),  # PKCE is required for Google
        ({"code": "abc", "codeVerifier": "a" * 42}, "codeVerifier"),
        ({"code": "abc", "codeVerifier": "a" * 42 + "!"}, "codeVerifier"),
        ({"code": "abc", "codeVerifier": "a" * 43, "redirectUri": "javascript:alert(1)"}, "redirectUri"),
        (
            {"code": "abc", "codeVerifier": "a" * 43, "redirectUri": "https://x.org/" + "p" * 2048},
            "redirectUri",
        ),
    ],
)
async def test_sign_in_input_is_validated(stack: Stack, inputs: dict[str, str], field: str) -> None:
    result = await gql(stack.auth_url, SIGN_IN % "Google", input={"redirectUri": REDIRECT_URI, **inputs})

    code, _, details = error(result)
    assert (code, details) == ("BAD_USER_INPUT", {"field": field})


async def test_unconfigured_provider_refuses_sign_in(stack: Stack) -> None:
    url = stack.start_auth(google_client_id="")
    result = await gql(
        url, SIGN_IN % "Google", input={"code": "abc", "codeVerifier": "a" * 43, "redirectUri": REDIRECT_URI}
    )
    providers = data(await gql(url, PROVIDERS))["authProviders"]

    assert error(result)[:2] == ("FORBIDDEN", "Google sign-in is not configured.")
    assert providers == {"googleClientId": None, "githubClientId": "fake-github-client", "devSignIn": False}


async def test_users_service_down_is_unavailable(stack: Stack) -> None:
    url = stack.start_auth(users_subgraph_url=f"http://127.0.0.1:{free_port()}/graphql", dev_sign_in=True)
    code, message, _ = error(await gql(url, DEV_SIGN_IN, email=unique_email(), name="Ada"))

    assert (code, message) == ("UNAVAILABLE", "The users service is unavailable, try again later.")


# ------------------------------------------------------------------------- refresh and sign-out


async def test_refresh_rotates_and_reuse_revokes_the_family(stack: Stack) -> None:
    first = data(await google_sign_in(stack, unique_email()))["signIn"]

    second = data(await gql(stack.auth_url, REFRESH, token=first["refreshToken"]))["refreshToken"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["user"] == first["user"]
    assert claims_of(stack, second["accessToken"])["sub"] == first["user"]["id"]

    # The rotated token is used again (stolen?): refused, and the whole session ends.
    code, _, details = error(await gql(stack.auth_url, REFRESH, token=first["refreshToken"]))
    assert (code, details) == ("UNAUTHENTICATED", {"reason": "REUSED"})
    code, _, details = error(await gql(stack.auth_url, REFRESH, token=second["refreshToken"]))
    assert (code, details) == ("UNAUTHENTICATED", {"reason": "REVOKED"})


async def test_sign_out_revokes_the_session(stack: Stack) -> None:
    session = data(await google_sign_in(stack, unique_email()))["signIn"]

    assert data(await gql(stack.auth_url, SIGN_OUT, token=session["refreshToken"])) == {"signOut": True}
    code, _, details = error(await gql(stack.auth_url, REFRESH, token=session["refreshToken"]))
    assert (code, details) == ("UNAUTHENTICATED", {"reason": "REVOKED"})
    assert data(await gql(stack.auth_url, SIGN_OUT, token="never-issued")) == {"signOut": False}


async def test_unknown_refresh_token_is_invalid(stack: Stack) -> None:
    code, _, details = error(await gql(stack.auth_url, REFRESH, token="never-issued"))

    assert (code, details) == ("UNAUTHENTICATED", {"reason": "INVALID"})


# ----------------------------------------------------------------------------------- dev sign-in


async def test_dev_sign_in_in_the_dev_profile(stack: Stack, db: AsyncEngine) -> None:
    url = stack.start_auth(profile="dev", admin_emails=None)
    email = unique_email("dev")
    first = data(await gql(url, DEV_SIGN_IN, email=email.upper(), name="  Ada Lovelace "))["devSignIn"]
    again = data(await gql(url, DEV_SIGN_IN, email=email, name="Ada Lovelace"))["devSignIn"]

    assert first["user"] == again["user"]
    assert await user_row(db, first["user"]["id"]) == {"email": email, "role": "learner", "provider": "dev"}
    assert data(await gql(url, PROVIDERS))["authProviders"]["devSignIn"] is True


async def test_dev_sign_in_is_forbidden_outside_dev_unless_enabled(stack: Stack, db: AsyncEngine) -> None:
    email = unique_email("dev")
    code, _, _ = error(await gql(stack.auth_url, DEV_SIGN_IN, email=email, name="Ada"))
    assert code == "FORBIDDEN"
    assert await count_users(db, email) == 0

    enabled = stack.start_auth(dev_sign_in=True)
    data(await gql(enabled, DEV_SIGN_IN, email=email, name="Ada"))
    assert await count_users(db, email) == 1


async def test_dev_sign_in_validates_its_input(stack: Stack) -> None:
    url = stack.start_auth(dev_sign_in=True)

    assert error(await gql(url, DEV_SIGN_IN, email="not-an-email", name="Ada"))[2] == {"field": "email"}
    assert error(await gql(url, DEV_SIGN_IN, email=unique_email(), name=" "))[2] == {"field": "name"}


async def test_admin_allow_list_makes_an_admin(stack: Stack, db: AsyncEngine) -> None:
    session = data(await google_sign_in(stack, stack.admin_email.upper()))["signIn"]

    assert claims_of(stack, session["accessToken"])["role"] == "admin"
    assert (await user_row(db, session["user"]["id"]))["role"] == "admin"


# ----------------------------------------------------------------------------------- keys, JWKS


async def test_jwks_publishes_the_public_key_and_tokens_verify(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(stack.jwks_url)
    [key] = response.json()["keys"]
    session = data(await google_sign_in(stack, unique_email()))["signIn"]

    assert key["kty"] == "RSA"
    assert (key["use"], key["alg"]) == ("sig", "RS256")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()  # public only
    assert jwt.get_unverified_header(session["accessToken"])["kid"] == key["kid"]
    verifier = TokenVerifier(
        stack.jwks_url,
        issuer="coursegraph",
        audience="coursegraph-api",
        internal_audience="coursegraph-internal",
    )
    actor = await verifier.actor_from_token(session["accessToken"])
    assert (str(actor.user_id), actor.role) == (session["user"]["id"], Role.LEARNER)

    # The users subgraph accepts it too (it verifies against the same JWKS).
    me = data(await gql(stack.users_url, "{ me { id role } }", bearer=session["accessToken"]))["me"]
    assert me == {"id": session["user"]["id"], "role": "LEARNER"}


async def test_the_auth_subgraph_verifies_tokens_against_its_own_jwks(stack: Stack) -> None:
    # In dev, jwks_url points at the auth service itself: the verifier's fetch must not block its loop.
    session = data(await google_sign_in(stack, unique_email()))["signIn"]

    assert data(await gql(stack.auth_url, PROVIDERS, bearer=session["accessToken"]))["authProviders"]
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.auth_url}/graphql", json={"query": PROVIDERS}, headers={"Authorization": "Bearer nope"}
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_generated_key_is_private_and_survives_restarts(tmp_path: Path) -> None:
    settings = AuthSettings(profile="test", data_dir=tmp_path)
    first = create_auth_app(settings).state.keyring.signing.kid
    again = create_auth_app(settings).state.keyring.signing.kid

    assert first == again
    assert stat.S_IMODE((tmp_path / "keys" / "jwt-signing.pem").stat().st_mode) == 0o600


def _pem(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def test_production_refuses_to_start_without_keys_or_with_dev_sign_in(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COURSEGRAPH_JWT_PRIVATE_KEYS"):
        create_auth_app(AuthSettings(profile="production", data_dir=tmp_path))
    assert not (tmp_path / "keys").exists()  # and generated nothing

    key = _pem(tmp_path / "key.pem")
    with pytest.raises(ConfigurationError, match="DEV_SIGN_IN"):
        create_auth_app(AuthSettings(profile="production", jwt_private_keys=(str(key),), dev_sign_in=True))
    production = AuthSettings(profile="production", jwt_private_keys=(str(key),))
    assert production.dev_sign_in_enabled is False
    assert create_auth_app(production).state.keyring.signing.kid


async def test_key_rotation_keeps_old_tokens_valid(tmp_path: Path) -> None:
    old, new = _pem(tmp_path / "old.pem"), _pem(tmp_path / "new.pem")
    before = create_auth_app(AuthSettings(profile="production", jwt_private_keys=(str(old),)))
    old_token = before.state.minter.access_token(uuid.uuid4(), Role.LEARNER).token
    after = create_auth_app(AuthSettings(profile="production", jwt_private_keys=(str(new), str(old))))

    with serve_in_thread(after) as url:
        verifier = TokenVerifier(
            f"{url}/.well-known/jwks.json",
            issuer="coursegraph",
            audience="coursegraph-api",
            internal_audience="coursegraph-internal",
        )
        new_token = after.state.minter.access_token(uuid.uuid4(), Role.ADMIN).token
        async with httpx.AsyncClient() as client:
            kids = [key["kid"] for key in (await client.get(f"{url}/.well-known/jwks.json")).json()["keys"]]
        assert (await verifier.actor_from_token(old_token)).role is Role.LEARNER
        assert (await verifier.actor_from_token(new_token)).role is Role.ADMIN

    assert kids == [after.state.keyring.signing.kid, before.state.keyring.signing.kid]
    assert jwt.get_unverified_header(new_token)["kid"] == kids[0]
