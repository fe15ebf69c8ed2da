"""GraphQL types of the notifications subgraph."""

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry.types import Info

from coursegraph.graphql import PAGE_SIZE, PageInfo, UserError
from coursegraph.pagination import Page
from subgraphs.notifications.context import NotificationsContext
from subgraphs.notifications.models import Status
from subgraphs.notifications.rendering import Kind
from subgraphs.notifications.service import Preference
from subgraphs.notifications.unsubscribe import Category

Ctx = Info[NotificationsContext, None]

NotificationTypeEnum = strawberry.enum(Kind, name="NotificationType", description="What an email is about.")
NotificationStatusEnum = strawberry.enum(
    Status,
    name="NotificationStatus",
    description="PENDING: on its way; SENT: SendGrid accepted it; FAILED: refused for good; SKIPPED: "
    "the recipient opted out of its category.",
)
NotificationCategoryEnum = strawberry.enum(
    Category,
    name="NotificationCategory",
    description="Kinds of email a user can opt out of; ACCOUNT (sign-in and security) is always sent.",
)


@strawberry.type(name="Notification", description="One email, as CourseGraph sent it (or did not).")
class NotificationType:
    id: strawberry.ID
    type: NotificationTypeEnum  # type: ignore[valid-type]
    category: NotificationCategoryEnum  # type: ignore[valid-type]
    status: NotificationStatusEnum  # type: ignore[valid-type]
    recipient: str = strawberry.field(description="The address it was sent to.")
    attempts: int = strawberry.field(description="Requests made to SendGrid for it (retries included).")
    provider_message_id: str | None = strawberry.field(description="SendGrid's X-Message-Id once sent.")
    failure_reason: str | None = strawberry.field(description="Why it failed, when it did.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls(
            id=strawberry.ID(str(row["_id"])),
            type=Kind(row["kind"]),
            category=Category(row.get("category", Category.ACCOUNT)),
            status=Status(row["status"]),
            recipient=str(row.get("to", "")),
            attempts=int(row.get("attempts", 0)),
            provider_message_id=row.get("provider_message_id"),
            failure_reason=row.get("reason") if row["status"] == Status.FAILED else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: NotificationType


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[dict[str, Any]]) -> Self:
        return cls(
            edges=[NotificationEdge(cursor=c, node=NotificationType.from_row(row)) for c, row in page.items],
            page_info=PageInfo.of(page),
        )


@strawberry.type(name="NotificationPreference", description="Whether a user gets one category of email.")
class NotificationPreferenceType:
    category: NotificationCategoryEnum  # type: ignore[valid-type]
    subscribed: bool
    essential: bool = strawberry.field(description="Always sent; cannot be switched off.")

    @classmethod
    def of(cls, preference: Preference) -> Self:
        return cls(
            category=preference.category, subscribed=preference.subscribed, essential=preference.essential
        )


@strawberry.federation.type(keys=["id"], name="User")
class UserType:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Self:
        return cls(id=id)

    @strawberry.field(
        description="Emails sent to this user, newest first: the user themself and admins only.",
        directives=[PAGE_SIZE],
    )
    async def notifications(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> NotificationConnection:
        page = await info.context.loaders.history.load((str(self.id), first, after))
        return NotificationConnection.from_page(page)

    @strawberry.field(description="Which categories of email this user gets: the user themself and admins.")
    async def notification_preferences(self, info: Ctx) -> list[NotificationPreferenceType]:
        preferences = await info.context.loaders.preferences.load(str(self.id))
        return [NotificationPreferenceType.of(p) for p in preferences]


@strawberry.input(description="One category to switch on or off.")
class NotificationPreferenceInput:
    category: NotificationCategoryEnum  # type: ignore[valid-type]
    subscribed: bool


@strawberry.type
class UpdateNotificationPreferencesPayload:
    preferences: list[NotificationPreferenceType] | None
    errors: list[UserError]


@strawberry.type
class UnsubscribePayload:
    category: NotificationCategoryEnum | None  # type: ignore[valid-type]
    errors: list[UserError]
