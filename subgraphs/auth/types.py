"""GraphQL types of the auth subgraph."""

from typing import Self

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from coursegraph.security import PERMISSIONS, Role
from subgraphs.auth.service import ProvidersStatus, Session

RoleEnum = strawberry.enum(Role, name="Role", description="What a user may do in CourseGraph.")


# Shareable with the users subgraph: the signed-in user's role in sign-in payloads.
@strawberry.federation.type(shareable=True, description="A role and the permissions it grants.")
class UserRoles:
    role: RoleEnum  # type: ignore[valid-type]
    permissions: list[str]


# The users subgraph owns User; the router resolves its other fields there. The signed-in user's own
# email, name, role and roles are shareable: auth has them from the users service at sign-in, and the
# caller has no token yet, so users would hide them from that anonymous request.
@strawberry.federation.type(keys=[Key(fields=FieldSet("id"), resolvable=False)], name="User")
class UserStub:
    id: strawberry.ID
    email: str | None = strawberry.federation.field(shareable=True)
    name: str = strawberry.federation.field(shareable=True)
    role: RoleEnum = strawberry.federation.field(shareable=True)  # type: ignore[valid-type]
    roles: UserRoles = strawberry.federation.field(shareable=True)


@strawberry.type(description="Tokens of a signed-in session and the user they belong to.")
class AuthPayload:
    access_token: str = strawberry.field(description="A JWT for `Authorization: Bearer`; short-lived.")
    refresh_token: str = strawberry.field(
        description="Single use: exchange it with `refreshToken` for a new pair before it expires."
    )
    token_type: str = strawberry.field(description='Always "Bearer".')
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: UserStub

    @classmethod
    def from_session(cls, session: Session) -> Self:
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            token_type="Bearer",  # noqa: S106 (the scheme name)
            expires_in=session.expires_in,
            user=UserStub(
                id=strawberry.ID(str(session.user.id)),
                email=session.user.email,
                name=session.user.name,
                role=session.user.role,
                roles=UserRoles(role=session.user.role, permissions=list(PERMISSIONS[session.user.role])),
            ),
        )


@strawberry.type(description="Which sign-in methods this deployment offers.")
class AuthProviders:
    google_client_id: str | None = strawberry.field(description="Null when Google sign-in is not configured.")
    github_client_id: str | None = strawberry.field(description="Null when GitHub sign-in is not configured.")
    dev_sign_in: bool = strawberry.field(description="Whether `devSignIn` is enabled (dev profile only).")

    @classmethod
    def from_status(cls, status: ProvidersStatus) -> Self:
        return cls(
            google_client_id=status.google_client_id,
            github_client_id=status.github_client_id,
            dev_sign_in=status.dev_sign_in,
        )


@strawberry.input(description="The result of the provider's authorization redirect.")
class OAuthSignInInput:
    code: str = strawberry.field(description="The authorization code (at most 2048 characters).")
    code_verifier: str | None = strawberry.field(
        default=None, description="The PKCE verifier (43 to 128 characters); required for Google."
    )
    redirect_uri: str = strawberry.field(description="The redirect URI used in the authorization request.")
