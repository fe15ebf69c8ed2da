"""Each internal operation answers only the services it names (issue 8, finding 1).

A service token comes from auth's OAuth client-credentials endpoint and names its client (`client_id`).
The users service's internal operations (sign-in, refresh tokens, sign-out) answer auth alone; the
courses service's answer the assessments service (and its own consumer); users' mail recipients answer
the notifications service. Any other service's token is
FORBIDDEN, and what it asked for does not happen.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from coursegraph.settings import DEV_SERVICE_CLIENT_SECRET
from tests.e2e.conftest import E2EStack, count_users, unique_email

pytestmark = pytest.mark.e2e

ISSUE = """mutation($u: ID!, $h: String!, $e: DateTime!) {
  issueRefreshToken(userId: $u, tokenHash: $h, expiresAt: $e) { user { id role } } }"""
UPSERT = """mutation($input: OAuthIdentityInput!) { upsertOAuthUser(input: $input) { id role } }"""
ACCESS = """query($c: ID!, $u: ID!) { courseAccess(courseId: $c, userId: $u) { courseId enrollmentId } }"""
REQUIRE = """mutation($c: ID!, $a: ID!) {
  recordAssessmentRequirement(courseId: $c, assessmentId: $a, required: true) }"""


def service_token(stack: E2EStack, client_id: str) -> str:
    auth = stack.subgraph_urls["auth"].removesuffix("/graphql")
    response = httpx.post(
        f"{auth}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": DEV_SERVICE_CLIENT_SECRET,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def call(stack: E2EStack, subgraph: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body: dict[str, Any] = stack.graphql(
        query, variables, token=token, url=stack.subgraph_urls[subgraph]
    ).json()
    return body


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def test_a_service_token_names_its_client(stack: E2EStack) -> None:
    claims = jwt.decode(service_token(stack, "courses"), options={"verify_signature": False})
    assert claims["client_id"] == "courses" and claims["role"] == "service"


async def test_only_auth_may_issue_refresh_tokens_or_make_admins(stack: E2EStack, db: AsyncEngine) -> None:
    admin = stack.sign_in_admin()["user"]
    courses = service_token(stack, "courses")
    token_hash = uuid.uuid4().hex
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    issued = call(stack, "users", ISSUE, {"u": admin["id"], "h": token_hash, "e": expires}, courses)
    assert code_of(issued) == "FORBIDDEN", issued
    async with db.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT count(*) FROM refresh_tokens WHERE token_hash = :h"), {"h": token_hash}
        )
        assert rows.scalar_one() == 0, "no refresh token was issued"

    email = unique_email("takeover")
    identity = {
        "provider": "google",
        "providerId": uuid.uuid4().hex,
        "email": email,
        "emailVerified": True,
        "name": "Not An Admin",
        "bootstrapAdmin": True,
    }
    for client in ("courses", "assessments", "media", "notifications"):
        upserted = call(stack, "users", UPSERT, {"input": identity}, service_token(stack, client))
        assert code_of(upserted) == "FORBIDDEN", (client, upserted)
    assert await count_users(db, email) == 0, "no account was made, let alone an admin"


def test_course_access_answers_the_assessments_service_alone(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=1)
    variables = {"c": course["id"], "u": str(uuid.uuid4())}

    allowed = call(stack, "courses", ACCESS, variables, service_token(stack, "assessments"))
    assert code_of(allowed) is None and allowed["data"]["courseAccess"]["courseId"] == course["id"]
    for client in ("courses", "media", "notifications"):
        refused = call(stack, "courses", ACCESS, variables, service_token(stack, client))
        assert code_of(refused) == "FORBIDDEN", (client, refused)

    requirement = {"c": course["id"], "a": str(uuid.uuid4())}
    refused = call(stack, "courses", REQUIRE, requirement, service_token(stack, "media"))
    assert code_of(refused) == "FORBIDDEN", refused


def test_a_service_token_for_the_public_audience_too_is_refused(stack: E2EStack) -> None:
    """A token that names both audiences would pass for a service at the subgraphs and for a user at
    the router: neither accepts it."""
    courses = service_token(stack, "courses")
    claims = jwt.decode(courses, options={"verify_signature": False})
    key = stack.signing_key_path.read_bytes()
    header = jwt.get_unverified_header(courses)
    both = jwt.encode(
        {**claims, "aud": [claims["aud"], "coursegraph-api"], "client_id": "assessments"},
        key,
        algorithm="RS256",
        headers={"kid": header["kid"]},
    )
    refused = call(stack, "courses", ACCESS, {"c": "0" * 24, "u": str(uuid.uuid4())}, both)
    assert code_of(refused) == "UNAUTHENTICATED", refused


RECIPIENTS = """query($ids: [ID!]!) { mailRecipients(ids: $ids) { id email name } }"""


def test_mail_recipients_answer_the_notifications_service_alone(stack: E2EStack) -> None:
    email = unique_email("recipient")
    user = stack.sign_in(email, name="Recipient")["user"]
    for client in ("courses", "assessments", "media"):
        refused = call(stack, "users", RECIPIENTS, {"ids": [user["id"]]}, service_token(stack, client))
        assert code_of(refused) == "FORBIDDEN" and refused.get("data") is None, (client, refused)
    learner = stack.sign_in()["access_token"]
    assert code_of(call(stack, "users", RECIPIENTS, {"ids": [user["id"]]}, learner)) == "FORBIDDEN"

    token = service_token(stack, "notifications")
    unknown = str(uuid.uuid4())
    answered = call(stack, "users", RECIPIENTS, {"ids": [user["id"], unknown, user["id"]]}, token)
    assert answered == {
        "data": {"mailRecipients": [{"id": user["id"], "email": email, "name": "Recipient"}]}
    }, "each existing user once; an unknown id is left out"
    too_many = call(stack, "users", RECIPIENTS, {"ids": [str(uuid.uuid4()) for _ in range(101)]}, token)
    assert code_of(too_many) == "BAD_USER_INPUT", too_many
    # Not in the router's API.
    through_router = stack.graphql(RECIPIENTS, {"ids": [user["id"]]}, token=learner).json()
    assert code_of(through_router) == "BAD_USER_INPUT", through_router
    assert "Cannot query field" in through_router["errors"][0]["message"]


LOOKUP = (
    """query($ids: [ID!]!, $emails: [String!]!) { lookupUsers(ids: $ids, emails: $emails) { id email } }"""
)


def test_user_lookups_answer_the_courses_service_alone(stack: E2EStack) -> None:
    """Rosters (issue 17): the courses service finds the users a class list names, by id or email."""
    email = unique_email("lookup")
    user = stack.sign_in(email, name="Looked up")["user"]
    asked = {"ids": [user["id"]], "emails": []}
    for client in ("assessments", "media", "notifications"):
        refused = call(stack, "users", LOOKUP, asked, service_token(stack, client))
        assert code_of(refused) == "FORBIDDEN" and refused.get("data") is None, (client, refused)
    learner = stack.sign_in()["access_token"]
    assert code_of(call(stack, "users", LOOKUP, asked, learner)) == "FORBIDDEN"

    token = service_token(stack, "courses")
    both = {"ids": [user["id"], str(uuid.uuid4())], "emails": [email, unique_email("nobody")]}
    assert call(stack, "users", LOOKUP, both, token) == {
        "data": {"lookupUsers": [{"id": user["id"], "email": email}]}
    }
    too_many = call(
        stack, "users", LOOKUP, {"ids": [], "emails": [unique_email() for _ in range(501)]}, token
    )
    assert code_of(too_many) == "BAD_USER_INPUT", too_many
    through_router = stack.graphql(LOOKUP, asked, token=learner).json()
    assert code_of(through_router) == "BAD_USER_INPUT", through_router
    assert "Cannot query field" in through_router["errors"][0]["message"]
