"""The notifications subgraph's root types: thin resolvers that call the service."""

import strawberry

from coursegraph.codes import FieldCode
from coursegraph.errors import BadUserInput, ValidationFailed
from coursegraph.graphql import UserError, build_schema
from coursegraph.ids import parse_uuid
from subgraphs.notifications.service import Preference
from subgraphs.notifications.types import (
    Ctx,
    NotificationPreferenceInput,
    NotificationPreferenceType,
    UnsubscribePayload,
    UpdateNotificationPreferencesPayload,
    UserType,
)
from subgraphs.notifications.unsubscribe import Category


@strawberry.type
class Query:
    @strawberry.field(description="Every category of email, and whether it is essential (always sent).")
    def notification_categories(self) -> list[NotificationPreferenceType]:
        return [NotificationPreferenceType.of(Preference(c, True)) for c in Category]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Switch categories of email on or off for a user (the user themself, or an admin). "
        "ACCOUNT mail cannot be switched off."
    )
    async def update_notification_preferences(
        self, info: Ctx, user_id: strawberry.ID, preferences: list[NotificationPreferenceInput]
    ) -> UpdateNotificationPreferencesPayload:
        user = str(parse_uuid(user_id))
        changes = {Category(p.category): p.subscribed for p in preferences}
        try:
            updated = await info.context.service.set_preferences(info.context.actor, user, changes)
        except ValidationFailed as exc:
            errors = [UserError.from_field_error(e) for e in exc.errors]
            return UpdateNotificationPreferencesPayload(preferences=None, errors=errors)
        return UpdateNotificationPreferencesPayload(
            preferences=[NotificationPreferenceType.of(p) for p in updated], errors=[]
        )

    @strawberry.mutation(
        description="RFC 8058 one-click unsubscribe: no sign-in; the signed token from an email's "
        "List-Unsubscribe link opts its user out of that one category. Idempotent."
    )
    async def unsubscribe(self, info: Ctx, token: str) -> UnsubscribePayload:
        try:
            opt_out = await info.context.service.unsubscribe(token)
        except BadUserInput as exc:
            return UnsubscribePayload(
                category=None,
                errors=[UserError(code=FieldCode.INVALID_TOKEN, field="token", message=exc.message)],
            )
        return UnsubscribePayload(category=opt_out.category, errors=[])


schema = build_schema(query=Query, mutation=Mutation, types=[UserType])
