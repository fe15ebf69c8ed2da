"""GraphQL types of the users subgraph."""

from datetime import datetime
from typing import Self

import strawberry
from strawberry.types import Info

from coursegraph.graphql import UserError
from coursegraph.ids import parse_uuid
from coursegraph.security import PERMISSIONS, Role
from subgraphs.users.context import UsersContext
from subgraphs.users.models import User as UserRow
from subgraphs.users.service import Profile

RoleEnum = strawberry.enum(Role, name="Role", description="What a user may do in CourseGraph.")


# Shareable: auth returns it in sign-in payloads too (the caller has no token yet to read it here).
@strawberry.federation.type(shareable=True, description="A role and the permissions it grants.")
class UserRoles:
    role: RoleEnum  # type: ignore[valid-type]
    permissions: list[str]


@strawberry.federation.type(inaccessible=True, description="Where to send a user's email (internal).")
class MailRecipient:
    id: strawberry.ID
    email: str
    name: str

    @classmethod
    def from_row(cls, row: UserRow) -> Self:
        return cls(id=strawberry.ID(str(row.id)), email=row.email, name=row.name)


@strawberry.federation.type(keys=["id"], name="User", description="A person using CourseGraph.")
class UserType:
    """A user as the service showed them to this request's caller (`Profile` decides what shows)."""

    id: strawberry.ID
    # Shareable: the auth subgraph returns these of the signed-in user in its sign-in payloads.
    name: str = strawberry.federation.field(shareable=True, description="Public (the catalog shows it).")
    profile: strawberry.Private[Profile]

    @classmethod
    def of(cls, profile: Profile) -> Self:
        return cls(id=strawberry.ID(str(profile.user.id)), name=profile.user.name, profile=profile)

    @classmethod
    async def resolve_reference(cls, info: Info[UsersContext, None], id: strawberry.ID) -> Self | None:
        # Batched: a list of N users from another subgraph is one query here.
        profile = await info.context.loaders.user_by_id.load(parse_uuid(id))
        return None if profile is None else cls.of(profile)

    @strawberry.federation.field(shareable=True, description="Signed-in callers only.")
    def role(self) -> RoleEnum:  # type: ignore[valid-type]
        return self.profile.role()

    @strawberry.field
    def created_at(self) -> datetime:
        return self.profile.user.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.profile.user.updated_at

    @strawberry.federation.field(
        shareable=True, description="Visible to the user themself and to admins; null for others."
    )
    def email(self) -> str | None:
        return self.profile.email

    @strawberry.field(description="The provider the account registered with; self and admins only.")
    def provider(self) -> str | None:
        return self.profile.provider

    @strawberry.federation.field(
        shareable=True, description="The user's role and the permissions it grants; signed-in callers only."
    )
    def roles(self) -> UserRoles:
        role = self.profile.role()
        return UserRoles(role=role, permissions=list(PERMISSIONS[role]))


@strawberry.input
class UpdateUserInput:
    name: str | None = strawberry.field(default=None, description="1 to 200 characters.")
    role: RoleEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Admins only; not for one's own account."
    )


@strawberry.type
class UpdateUserPayload:
    user: UserType | None
    errors: list[UserError]


# Internal operations for the auth service: service tokens only, never in the public API schema.


@strawberry.federation.input(inaccessible=True)
class OAuthIdentityInput:
    provider: str
    provider_id: str
    email: str
    email_verified: bool
    name: str
    bootstrap_admin: bool = False


@strawberry.federation.type(inaccessible=True)
class RefreshGrant:
    user: UserType
    family_id: strawberry.ID
