"""Sign-in to profile, through the router and the REST layer, on real PostgreSQL and Kafka."""

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import E2EStack, count_users, unique_email, user_snapshot
from tests.fakes.oauth_provider import Mode, pkce_pair
from tests.support.kafka import collect_events

pytestmark = pytest.mark.e2e

ME = "query { me { id name email role roles { role permissions } } }"
USER = "query($id: ID!) { user(id: $id) { id name email role } }"
UPDATE_USER = """
mutation($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { user { id name role } errors { code field message } }
}"""
SIGN_IN_WITH_GITHUB = """
mutation($input: OAuthSignInInput!) {
  signInWithGithub(input: $input) {
    accessToken refreshToken tokenType expiresIn user { id name email role }
  }
}"""
SIGN_OUT = "mutation($t: String!) { signOut(refreshToken: $t) }"


def envelope_error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert body["success"] is False, body
    assert body["data"] is None
    assert set(body) == {"success", "data", "error", "timestamp"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return response.status_code, body["error"]["code"]


# --- sign-in -------------------------------------------------------------------------------------


async def test_google_sign_in_via_rest_registers_once_and_announces_it(
    stack: E2EStack, db: AsyncEngine, kafka_bootstrap: str
) -> None:
    email = unique_email()
    sub = uuid.uuid4().hex
    first = stack.rest("POST", "/auth/google", json=stack.google_code(email, sub=sub, name="Grace Hopper"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["success"] is True and body["error"] is None and body["timestamp"]
    tokens = body["data"]
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    assert tokens["access_token"] and tokens["refresh_token"]
    user = tokens["user"]
    assert user["email"] == email and user["name"] == "Grace Hopper" and user["role"] == "learner"

    second = stack.rest("POST", "/auth/google", json=stack.google_code(email, sub=sub, name="Grace Hopper"))
    assert second.status_code == 200, second.text
    assert second.json()["data"]["user"]["id"] == user["id"]
    assert await count_users(db, email) == 1

    events = await collect_events(
        kafka_bootstrap,
        "user.events",
        lambda e: e["user_id"] == user["id"] and e["event_type"] == "USER_REGISTERED",
        settle=2.0,
    )
    assert len(events) == 1, "the same identity twice registers once"
    key, event = events[0]
    assert key == user["id"].encode()
    assert {
        "event_id",
        "event_type",
        "timestamp",
        "user_id",
        "course_id",
        "metadata",
        "source",
        "version",
    } <= set(event)
    uuid.UUID(event["event_id"])
    assert event["source"] == "users" and event["version"] == 1
    assert event["metadata"]["email"] == email and event["metadata"]["provider"] == "google"


async def test_github_sign_in_via_graphql_resolves_the_user_across_subgraphs(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    email = unique_email("octo")
    code = stack.provider.register_code("github", email=email, login="octocat", name="Mona")
    variables = {"input": {"code": code, "redirectUri": "http://localhost:3000/callback"}}
    response = stack.graphql(SIGN_IN_WITH_GITHUB, variables)
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["signInWithGithub"]
    # `user` is an auth-subgraph stub; its name and email come from the users subgraph via the router.
    assert payload["user"]["email"] == email and payload["user"]["name"] == "Mona"
    events = await collect_events(
        kafka_bootstrap, "user.events", lambda e: e["user_id"] == payload["user"]["id"]
    )
    assert events[0][1]["event_type"] == "USER_REGISTERED"


def test_refresh_rotates_and_reuse_revokes_the_family(stack: E2EStack) -> None:
    tokens = stack.sign_in()
    rotated = stack.rest("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["data"]
    assert newest["refresh_token"] != tokens["refresh_token"]
    assert newest["user"]["id"] == tokens["user"]["id"]

    reused = stack.rest("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert envelope_error(reused) == (401, "UNAUTHENTICATED")
    assert reused.json()["error"]["details"]["reason"] == "REUSED"
    # The whole family is gone: even the newest token no longer works.
    after = stack.rest("POST", "/auth/refresh", json={"refresh_token": newest["refresh_token"]})
    assert envelope_error(after) == (401, "UNAUTHENTICATED")
    assert after.json()["error"]["details"]["reason"] == "REVOKED"


def test_sign_out_revokes(stack: E2EStack) -> None:
    tokens = stack.sign_in()
    signed_out = stack.graphql(SIGN_OUT, {"t": tokens["refresh_token"]})
    assert signed_out.json()["data"]["signOut"] is True
    refused = stack.rest("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert envelope_error(refused) == (401, "UNAUTHENTICATED")
    # Sign-out through REST works too.
    other = stack.sign_in()
    response = stack.rest("POST", "/auth/logout", json={"refresh_token": other["refresh_token"]})
    assert response.status_code == 200 and response.json()["data"] == {"signed_out": True}
    refused = stack.rest("POST", "/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert envelope_error(refused) == (401, "UNAUTHENTICATED")


# --- profiles and roles --------------------------------------------------------------------------


async def test_learner_reads_and_edits_only_themself(stack: E2EStack, kafka_bootstrap: str) -> None:
    me = stack.sign_in(name="Learner One")
    other = stack.sign_in(name="Learner Two")
    token, my_id, other_id = me["access_token"], me["user"]["id"], other["user"]["id"]

    mine = stack.graphql(ME, token=token).json()["data"]["me"]
    assert mine["id"] == my_id and mine["email"] == me["user"]["email"]
    assert mine["roles"]["role"] == "LEARNER" and "courses:enroll" in mine["roles"]["permissions"]

    # Others' public profile is readable; their email is not.
    theirs = stack.rest("GET", f"/users/{other_id}", token=token)
    assert theirs.status_code == 200 and theirs.json()["data"]["email"] is None
    assert stack.rest("GET", f"/users/{my_id}", token=token).json()["data"]["email"] == me["user"]["email"]

    renamed = stack.rest("PUT", f"/users/{my_id}", token=token, json={"name": "Learner Renamed"})
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "Learner Renamed"

    assert envelope_error(stack.rest("PUT", f"/users/{other_id}", token=token, json={"name": "Hijack"})) == (
        403,
        "FORBIDDEN",
    )
    assert envelope_error(stack.rest("PUT", f"/users/{my_id}", token=token, json={"role": "admin"})) == (
        403,
        "FORBIDDEN",
    )
    forbidden = stack.graphql(UPDATE_USER, {"id": other_id, "input": {"name": "x"}}, token=token).json()
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert stack.rest("GET", f"/users/{other_id}", token=token).json()["data"]["name"] == "Learner Two"

    updated = await collect_events(
        kafka_bootstrap, "user.events", lambda e: e["user_id"] == my_id and e["event_type"] == "USER_UPDATED"
    )
    assert updated[0][1]["metadata"] == {"changed": ["name"], "name": "Learner Renamed"}
    assert not await collect_events(
        kafka_bootstrap,
        "user.events",
        lambda e: e["user_id"] == other_id and e["event_type"] == "USER_UPDATED",
        within=1,
    ), "refused edits announce nothing"

    roles = stack.rest("GET", f"/users/{my_id}/roles", token=token).json()["data"]
    assert (
        roles["role"] == "learner" and roles["user_id"] == my_id and "courses:enroll" in roles["permissions"]
    )


async def test_admin_changes_roles_and_it_is_announced(stack: E2EStack, kafka_bootstrap: str) -> None:
    admin = stack.sign_in_admin()
    assert admin["user"]["role"] == "admin"
    learner = stack.sign_in()
    learner_id = learner["user"]["id"]

    promoted = stack.rest(
        "PUT", f"/users/{learner_id}", token=admin["access_token"], json={"role": "instructor"}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["data"]["role"] == "instructor"
    roles = stack.rest("GET", f"/users/{learner_id}/roles", token=admin["access_token"]).json()["data"]
    assert roles["role"] == "instructor" and "courses:create" in roles["permissions"]
    # The admin sees private fields of others.
    assert stack.graphql(USER, {"id": learner_id}, token=admin["access_token"]).json()["data"]["user"][
        "email"
    ]

    events = await collect_events(
        kafka_bootstrap,
        "user.events",
        lambda e: e["user_id"] == learner_id and e["event_type"] == "USER_ROLE_CHANGED",
    )
    assert events[0][1]["metadata"] == {
        "previous_role": "learner",
        "role": "instructor",
        "changed_by": admin["user"]["id"],
    }
    # The next access token carries the new role.
    refreshed = stack.rest("POST", "/auth/refresh", json={"refresh_token": learner["refresh_token"]}).json()
    assert jwt.decode(refreshed["data"]["access_token"], options={"verify_signature": False})["role"] == (
        "instructor"
    )


# --- bad tokens, at the router, at REST and at each subgraph --------------------------------------


def _forged_tokens(stack: E2EStack, user_id: str) -> dict[str, str]:
    private_pem = stack.signing_key_path.read_bytes()
    key = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = jwt.get_unverified_header(stack.sign_in()["access_token"])["kid"]
    now = int(time.time())
    claims = {
        "iss": "coursegraph",
        "aud": "coursegraph-api",
        "sub": user_id,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }

    def sign(**overrides: Any) -> str:
        return jwt.encode({**claims, **overrides}, private_pem, algorithm="RS256", headers={"kid": kid})

    valid = sign()
    header, payload, signature = valid.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"admin"', b'"ADMIN"')
    ).decode()
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    return {
        "expired": sign(iat=now - 3600, exp=now - 1800),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg-none": unsigned,
        "hs256-with-public-key": _hs256(claims, public_pem, kid),
        "wrong-issuer": sign(iss="https://evil.example.org"),
        "wrong-audience": sign(aud="another-api"),
        "garbage": "not-a-jwt",
    }


def _hs256(claims: dict[str, Any], public_pem: bytes, kid: str) -> str:
    # The classic key-confusion attack: PyJWT refuses to HMAC with a PEM key, so sign by hand.
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_bad_tokens_get_401_everywhere(stack: E2EStack) -> None:
    me = stack.sign_in()
    forged = _forged_tokens(stack, me["user"]["id"])
    for name, token in forged.items():
        at_router = stack.graphql(ME, token=token)
        assert at_router.status_code in (400, 401), (name, at_router.status_code, at_router.text)
        if name != "garbage":
            assert at_router.status_code == 401, (name, at_router.text)
        rest = stack.rest("GET", f"/users/{me['user']['id']}", token=token)
        assert envelope_error(rest) == (401, "UNAUTHENTICATED"), (name, rest.text)
        for subgraph, url in stack.subgraph_urls.items():
            direct = stack.graphql("{ __typename }", token=token, url=url)
            assert direct.status_code == 401, (name, subgraph, direct.text)
            assert direct.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The control: the same forging machinery with nothing wrong is accepted.
    assert stack.graphql(ME, token=me["access_token"]).json()["data"]["me"]["id"] == me["user"]["id"]


def test_anonymous_is_refused_where_a_user_is_needed(stack: E2EStack) -> None:
    me = stack.sign_in()
    assert envelope_error(stack.rest("GET", f"/users/{me['user']['id']}")) == (401, "UNAUTHENTICATED")
    assert stack.graphql(ME).json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- bad input: clear errors, nothing changed ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 123}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"role": "superuser"}, "role"),
        ({"name": "ok", "email": "new@example.org"}, "email"),
    ],
)
async def test_invalid_profile_updates_change_nothing(
    stack: E2EStack, db: AsyncEngine, body: dict[str, Any], field: str
) -> None:
    me = stack.sign_in()
    before = await user_snapshot(db, me["user"]["id"])
    response = stack.rest("PUT", f"/users/{me['user']['id']}", token=me["access_token"], json=body)
    assert envelope_error(response) == (400, "BAD_USER_INPUT")
    assert field in response.json()["error"]["details"]["fields"]
    assert await user_snapshot(db, me["user"]["id"]) == before


async def test_malformed_json_and_bad_ids_change_nothing(stack: E2EStack, db: AsyncEngine) -> None:
    me = stack.sign_in()
    before = await user_snapshot(db, me["user"]["id"])
    malformed = stack.rest(
        "PUT",
        f"/users/{me['user']['id']}",
        token=me["access_token"],
        content=b'{"name": "unterminated',
        headers={"content-type": "application/json"},
    )
    assert envelope_error(malformed) == (400, "BAD_USER_INPUT")
    for bad_id in ("not-a-uuid", "1' OR '1'='1", "1;DROP TABLE users"):
        response = stack.rest("GET", f"/users/{bad_id}", token=me["access_token"])
        assert envelope_error(response) == (400, "BAD_USER_INPUT"), bad_id
    by_graphql = stack.graphql(USER, {"id": "1' OR '1'='1"}, token=me["access_token"]).json()
    assert by_graphql["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    missing = stack.rest("GET", f"/users/{uuid.uuid4()}", token=me["access_token"])
    assert envelope_error(missing) == (404, "NOT_FOUND")
    assert await user_snapshot(db, me["user"]["id"]) == before


async def test_sql_metacharacters_are_just_characters(stack: E2EStack, db: AsyncEngine) -> None:
    me = stack.sign_in()
    name = "Robert'); DROP TABLE users;--"
    response = stack.rest("PUT", f"/users/{me['user']['id']}", token=me["access_token"], json={"name": name})
    assert response.status_code == 200, response.text
    snapshot = await user_snapshot(db, me["user"]["id"])
    assert snapshot is not None and snapshot["name"] == name


async def test_unverified_provider_email_creates_nothing(stack: E2EStack, db: AsyncEngine) -> None:
    email = unique_email("unverified")
    response = stack.rest("POST", "/auth/google", json=stack.google_code(email, email_verified=False))
    assert envelope_error(response) == (403, "FORBIDDEN")
    assert "verified" in response.json()["error"]["message"]
    assert await count_users(db, email) == 0


@pytest.mark.parametrize(
    ("mode", "status", "code"), [(Mode.ERROR, 500, "INTERNAL"), (Mode.HANG, 500, "INTERNAL")]
)
async def test_provider_down_is_a_clear_error_and_creates_nothing(
    stack: E2EStack, db: AsyncEngine, mode: Mode, status: int, code: str
) -> None:
    email = unique_email("down")
    body = stack.google_code(email)
    with stack.provider.mode(mode):
        response = await asyncio.to_thread(stack.rest, "POST", "/auth/google", json=body)
    assert envelope_error(response) == (status, code)
    assert "unavailable" in response.json()["error"]["message"]
    assert await count_users(db, email) == 0


async def test_provider_rejecting_the_code_is_unauthenticated(stack: E2EStack, db: AsyncEngine) -> None:
    email = unique_email("badcode")
    body = stack.google_code(email)
    body["code_verifier"] = pkce_pair()[0]  # not the verifier of this code's challenge
    response = stack.rest("POST", "/auth/google", json=body)
    assert envelope_error(response) == (401, "UNAUTHENTICATED")
    assert await count_users(db, email) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"code": "", "redirect_uri": "http://localhost:3000/callback"},
        {"code": "abc", "redirect_uri": "javascript:alert(1)"},
        {"code": "abc", "redirect_uri": "http://localhost:3000/callback", "code_verifier": "short"},
        {"code": "x" * 5000, "redirect_uri": "http://localhost:3000/callback"},
        {"code": ["abc"], "redirect_uri": "http://localhost:3000/callback"},
    ],
)
def test_sign_in_input_is_validated(stack: E2EStack, body: dict[str, Any]) -> None:
    assert envelope_error(stack.rest("POST", "/auth/google", json=body)) == (400, "BAD_USER_INPUT")


def test_unknown_routes_and_methods_answer_the_envelope(stack: E2EStack) -> None:
    assert envelope_error(stack.rest("GET", "/nope")) == (404, "NOT_FOUND")
    assert envelope_error(stack.rest("DELETE", "/auth/google"))[0] == 405


def test_openapi_and_docs_are_served(stack: E2EStack) -> None:
    spec = stack.rest("GET", "/openapi.json").json()
    for path in (
        "/auth/google",
        "/auth/github",
        "/auth/refresh",
        "/users/{user_id}",
        "/users/{user_id}/roles",
    ):
        assert path in spec["paths"]
    assert stack.rest("GET", "/docs").status_code == 200


def test_an_oversized_body_is_refused_before_it_is_read(stack: E2EStack) -> None:
    huge = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    response = stack.rest("POST", "/auth/dev", content=huge, headers={"content-type": "application/json"})
    assert envelope_error(response) == (413, "BAD_USER_INPUT")
