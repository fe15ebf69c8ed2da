"""The users subgraph's internal operations, called directly with a service token.

Internal operations are @inaccessible, so they are not in the router's API: this client calls the users
subgraph itself. Its GraphQL errors come back as the same CourseGraphError (code, message, details).
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from asgi_correlation_id import correlation_id
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from coursegraph.errors import CourseGraphError, ErrorCode, error_from_graphql
from coursegraph.observability import REQUEST_ID_HEADER
from coursegraph.security import Role
from coursegraph.tracing import instrument_http_client

logger = logging.getLogger(__name__)

UNAVAILABLE = "The users service is unavailable, try again later."

_GRANT = "user { id role email name }"

UPSERT_USER_MUTATION = """
mutation UpsertOAuthUser($input: OAuthIdentityInput!) {
  upsertOAuthUser(input: $input) { id role email name }
}"""
ISSUE_MUTATION = f"""
mutation IssueRefreshToken($userId: ID!, $tokenHash: String!, $expiresAt: DateTime!) {{
  issueRefreshToken(userId: $userId, tokenHash: $tokenHash, expiresAt: $expiresAt) {{ {_GRANT} }}
}}"""
ROTATE_MUTATION = f"""
mutation RotateRefreshToken($tokenHash: String!, $newTokenHash: String!, $expiresAt: DateTime!) {{
  rotateRefreshToken(tokenHash: $tokenHash, newTokenHash: $newTokenHash, expiresAt: $expiresAt) {{ {_GRANT} }}
}}"""
REVOKE_MUTATION = """
mutation RevokeRefreshToken($tokenHash: String!) { revokeRefreshToken(tokenHash: $tokenHash) }"""


@dataclass(frozen=True)
class UserRef:
    id: uuid.UUID
    role: Role
    email: str
    name: str

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "UserRef":
        return cls(
            id=uuid.UUID(data["id"]),
            role=Role(str(data["role"]).lower()),
            email=str(data["email"]),
            name=str(data["name"]),
        )


@dataclass(frozen=True)
class OAuthIdentity:
    provider: str
    provider_id: str
    email: str
    email_verified: bool
    name: str


class UsersClient:
    def __init__(
        self,
        url: str,
        service_token: Callable[[], str],
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._service_token = service_token
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        instrument_http_client(self._http, "auth")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upsert_oauth_user(self, identity: OAuthIdentity, *, bootstrap_admin: bool) -> UserRef:
        variables = {
            "input": {
                "provider": identity.provider,
                "providerId": identity.provider_id,
                "email": identity.email,
                "emailVerified": identity.email_verified,
                "name": identity.name,
                "bootstrapAdmin": bootstrap_admin,
            }
        }
        data = await self.execute(UPSERT_USER_MUTATION, variables)
        return UserRef.from_data(data["upsertOAuthUser"])

    async def issue_refresh_token(self, user_id: uuid.UUID, token_hash: str, expires_at: datetime) -> UserRef:
        variables = {"userId": str(user_id), "tokenHash": token_hash, "expiresAt": expires_at.isoformat()}
        data = await self.execute(ISSUE_MUTATION, variables)
        return UserRef.from_data(data["issueRefreshToken"]["user"])

    async def rotate_refresh_token(
        self, token_hash: str, new_token_hash: str, expires_at: datetime
    ) -> UserRef:
        variables = {
            "tokenHash": token_hash,
            "newTokenHash": new_token_hash,
            "expiresAt": expires_at.isoformat(),
        }
        data = await self.execute(ROTATE_MUTATION, variables)
        return UserRef.from_data(data["rotateRefreshToken"]["user"])

    async def revoke_refresh_token(self, token_hash: str) -> bool:
        data = await self.execute(REVOKE_MUTATION, {"tokenHash": token_hash})
        return bool(data["revokeRefreshToken"])

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = {"query": query, "variables": variables}
        headers = {"Authorization": f"Bearer {self._service_token()}"}
        if request_id := correlation_id.get():
            # One request id across services, so both services' log lines of a sign-in match.
            headers[REQUEST_ID_HEADER] = request_id
        try:
            # Only a refused connection is retried: the request never arrived, so nothing ran twice.
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((httpx.ConnectError, httpx.ConnectTimeout)),
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.1, max=0.5),
                reraise=True,
            ):
                with attempt:
                    response = await self._http.post(self._url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.error("users service unreachable at %s: %r", self._url, exc)
            raise CourseGraphError(UNAVAILABLE) from exc
        return self._result(response)

    def _result(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200 or not isinstance(payload, dict):
            # A refused service token or a broken users service: our problem, not the client's.
            logger.error("users service answered HTTP %s: %.500s", response.status_code, response.text)
            raise CourseGraphError(UNAVAILABLE)
        if errors := payload.get("errors"):
            raise _error_from(errors[0])
        data = payload.get("data")
        if not isinstance(data, dict):
            logger.error("users service answered without data: %.500s", response.text)
            raise CourseGraphError(UNAVAILABLE)
        return data


def _error_from(error: dict[str, Any]) -> CourseGraphError:
    rebuilt = error_from_graphql(error)
    if rebuilt is None or rebuilt.code is ErrorCode.INTERNAL:
        logger.error("users service error: %s", error)
        return CourseGraphError(UNAVAILABLE)
    return rebuilt
