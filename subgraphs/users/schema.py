"""The users subgraph's root types: thin resolvers that call the service inside one transaction."""

from datetime import datetime

import strawberry
from strawberry.types import Info

from coursegraph.codes import Reason
from coursegraph.errors import Unauthenticated, ValidationFailed
from coursegraph.graphql import UserError, build_schema
from coursegraph.ids import parse_uuid
from coursegraph.security import Role
from subgraphs.users import service
from subgraphs.users.context import UsersContext
from subgraphs.users.types import (
    MailRecipient,
    OAuthIdentityInput,
    RefreshGrant,
    UpdateUserInput,
    UpdateUserPayload,
    UserType,
)

Ctx = Info[UsersContext, None]


@strawberry.type
class Query:
    @strawberry.field(description="A user by id; null when there is none.")
    async def user(self, info: Ctx, id: strawberry.ID) -> UserType | None:
        async with info.context.read_sessions() as session:
            profile = await service.profile(session, info.context.actor, parse_uuid(id))
        return None if profile is None else UserType.of(profile)

    @strawberry.federation.field(inaccessible=True)
    async def mail_recipients(self, info: Ctx, ids: list[strawberry.ID]) -> list[MailRecipient]:
        """Internal (notifications): the recipients of emails, a batch at a time."""
        user_ids = [parse_uuid(id) for id in ids]
        async with info.context.sessions() as session:
            rows = await service.mail_recipients(session, info.context.actor, user_ids)
        return [MailRecipient.from_row(row) for row in rows]

    @strawberry.federation.field(inaccessible=True)
    async def lookup_users(
        self, info: Ctx, ids: list[strawberry.ID], emails: list[str]
    ) -> list[MailRecipient]:
        """Internal (courses): the users with these ids or emails, to enroll them in a course."""
        user_ids = [parse_uuid(id, "ids") for id in ids]
        async with info.context.read_sessions() as session:
            rows = await service.lookup_users(session, info.context.actor, ids=user_ids, emails=emails)
        return [MailRecipient.from_row(row) for row in rows]

    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Ctx) -> UserType:
        async with info.context.read_sessions() as session:
            return UserType.of(await service.me(session, info.context.actor))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Edit a profile: users edit their own name; only admins change roles (not their own)."
    )
    async def update_user(self, info: Ctx, id: strawberry.ID, input: UpdateUserInput) -> UpdateUserPayload:
        user_id = parse_uuid(id)
        try:
            async with info.context.transaction() as session:
                profile = await service.update_user(
                    session,
                    info.context.actor,
                    user_id,
                    name=input.name,
                    role=Role(input.role) if input.role is not None else None,
                )
        except ValidationFailed as exc:
            return UpdateUserPayload(user=None, errors=[UserError.from_field_error(e) for e in exc.errors])
        return UpdateUserPayload(user=UserType.of(profile), errors=[])

    @strawberry.federation.mutation(name="upsertOAuthUser", inaccessible=True)
    async def upsert_oauth_user(self, info: Ctx, input: OAuthIdentityInput) -> UserType:
        identity = service.OAuthIdentity(
            provider=input.provider,
            provider_id=input.provider_id,
            email=input.email,
            email_verified=input.email_verified,
            name=input.name,
            bootstrap_admin=input.bootstrap_admin,
        )
        async with info.context.transaction() as session:
            profile = await service.upsert_oauth_user(session, info.context.actor, identity)
        return UserType.of(profile)

    @strawberry.federation.mutation(inaccessible=True)
    async def issue_refresh_token(
        self, info: Ctx, user_id: strawberry.ID, token_hash: str, expires_at: datetime
    ) -> RefreshGrant:
        async with info.context.transaction() as session:
            profile, family_id = await service.issue_refresh_token(
                session,
                info.context.actor,
                user_id=parse_uuid(user_id, "userId"),
                token_hash=token_hash,
                expires_at=expires_at,
            )
        return RefreshGrant(user=UserType.of(profile), family_id=strawberry.ID(str(family_id)))

    @strawberry.federation.mutation(inaccessible=True)
    async def rotate_refresh_token(
        self, info: Ctx, token_hash: str, new_token_hash: str, expires_at: datetime
    ) -> RefreshGrant:
        async with info.context.transaction() as session:
            rotation = await service.rotate_refresh_token(
                session,
                info.context.actor,
                token_hash=token_hash,
                new_token_hash=new_token_hash,
                expires_at=expires_at,
            )
        # Raised after the commit: a detected reuse must leave the family revoked.
        if rotation.user is None or rotation.family_id is None:
            message, reason = _ROTATION_REFUSALS[rotation.status]
            raise Unauthenticated(message, details={"reason": reason})
        return RefreshGrant(user=UserType.of(rotation.user), family_id=strawberry.ID(str(rotation.family_id)))

    @strawberry.federation.mutation(inaccessible=True)
    async def revoke_refresh_token(self, info: Ctx, token_hash: str) -> bool:
        async with info.context.transaction() as session:
            return await service.revoke_refresh_family(session, info.context.actor, token_hash=token_hash)


# Why a refresh token is refused: the message and `details.reason`.
_ROTATION_REFUSALS = {
    service.RotationStatus.INVALID: ("Refresh token is not valid.", Reason.INVALID),
    service.RotationStatus.EXPIRED: ("Refresh token has expired.", Reason.EXPIRED),
    service.RotationStatus.REVOKED: ("Refresh token has been revoked.", Reason.REVOKED),
    service.RotationStatus.REUSED: (
        "Refresh token was already used; the session has been revoked.",
        Reason.REUSED,
    ),
}

schema = build_schema(query=Query, mutation=Mutation, types=[UserType])
