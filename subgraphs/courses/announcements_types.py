"""GraphQL types of announcements (issue 17)."""

from datetime import datetime
from typing import Self

import strawberry

from coursegraph.graphql import PageInfo, UserError
from coursegraph.pagination import Page
from subgraphs.courses.announcements import Audience
from subgraphs.courses.models import Announcement
from subgraphs.courses.types import CourseType, Ctx, UserType


@strawberry.type(name="Announcement", description="A message from a course's instructor to its learners.")
class AnnouncementType:
    id: strawberry.ID
    course_id: strawberry.ID
    title: str
    body: str = strawberry.field(description="As written: Markdown.")
    body_html: str = strawberry.field(
        description="The body rendered to HTML and sanitised (an allow-list of tags, attributes and URL "
        "schemes): safe to show as it is."
    )
    posted_at: datetime
    updated_at: datetime
    edited_at: datetime | None = strawberry.field(description="When it was last edited, if it was.")
    row: strawberry.Private[Announcement]

    @classmethod
    def of(cls, row: Announcement) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            course_id=strawberry.ID(row.course_id),
            title=row.title,
            body=row.body,
            body_html=row.body_html,
            posted_at=row.posted_at,
            updated_at=row.updated_at,
            edited_at=row.edited_at,
            row=row,
        )

    @strawberry.field
    def author(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.author_id))

    @strawberry.field
    async def course(self, info: Ctx) -> CourseType | None:
        summary = await info.context.loaders.course_by_id.load(self.row.course_id)
        return None if summary is None else CourseType.of(summary)


@strawberry.type
class AnnouncementEdge:
    cursor: str
    node: AnnouncementType


@strawberry.type
class AnnouncementConnection:
    edges: list[AnnouncementEdge]
    page_info: PageInfo
    page: strawberry.Private[Page[Announcement]]

    @classmethod
    def from_page(cls, page: Page[Announcement]) -> Self:
        return cls(
            edges=[AnnouncementEdge(cursor=c, node=AnnouncementType.of(row)) for c, row in page.items],
            page_info=PageInfo.of(page),
            page=page,
        )

    @strawberry.field(description="How many announcements the course has, across all pages.")
    def total_count(self) -> int:
        assert self.page.total is not None
        return self.page.total()


@strawberry.input(description="A new announcement: a title (one line) and a Markdown body.")
class AnnouncementInput:
    title: str
    body: str = strawberry.field(description="Markdown; raw HTML is shown as text.")


@strawberry.input(description="Only the given fields change.")
class UpdateAnnouncementInput:
    title: str | None = None
    body: str | None = strawberry.field(default=None, description="Markdown; raw HTML is shown as text.")


@strawberry.type
class AnnouncementPayload:
    announcement: AnnouncementType | None
    errors: list[UserError]


@strawberry.federation.type(
    inaccessible=True, description="Internal (notifications): a page of whom to mail an announcement to."
)
class AnnouncementAudience:
    announcement_id: strawberry.ID
    course_id: strawberry.ID
    course_title: str
    title: str
    body_html: str
    body_text: str
    learner_ids: list[strawberry.ID]
    end_cursor: str | None
    has_next_page: bool

    @classmethod
    def of(cls, audience: Audience) -> Self:
        announcement = audience.announcement
        return cls(
            announcement_id=strawberry.ID(str(announcement.id)),
            course_id=strawberry.ID(announcement.course_id),
            course_title=audience.course_title,
            title=announcement.title,
            body_html=announcement.body_html,
            body_text=audience.body_text,
            learner_ids=[strawberry.ID(u) for u in audience.learners],
            end_cursor=audience.end_cursor,
            has_next_page=audience.has_next,
        )
