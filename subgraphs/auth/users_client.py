"""The users subgraph's internal operations, called directly with a service token.

Internal operations are @inaccessible, so they are not in the router's API: this client calls the users
subgraph itself, through the kernel's internal client, with the service tokens auth signs for itself.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from coursegraph.internal import InternalGraphQLClient
from coursegraph.security import Role

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
    def __init__(self, url: str, service_token: Callable[[], str], *, timeout: float = 10.0) -> None:
        self._graph = InternalGraphQLClient(
            url,
            service="auth",
            http=httpx.AsyncClient(timeout=timeout),
            token=service_token,
            unavailable=UNAVAILABLE,
        )
        self.execute = self._graph.execute

    async def aclose(self) -> None:
        await self._graph.close()

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
