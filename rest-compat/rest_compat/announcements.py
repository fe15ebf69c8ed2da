"""Announcements (issue 17): a course's list, posting to it, and editing one."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AliasPath, ConfigDict, Field, field_validator

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.limits import ANNOUNCEMENT_BODY_MAX, ANNOUNCEMENT_TITLE_MAX, PAGE_MAX
from rest_compat.courses import CURSOR_PATTERN, CourseId, PageInfo, graph_cursor
from rest_compat.graph import (
    SIGNED_IN,
    SIGNED_IN_OR_NOT,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    responses,
    text_rules,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

ANNOUNCEMENT_FIELDS = "id courseId title body bodyHtml postedAt updatedAt editedAt author { id }"

ANNOUNCEMENTS = f"""
query Announcements($courseId: ID!, $first: Int!, $after: String) {{
  course(id: $courseId) {{
    announcements(first: $first, after: $after) {{
      edges {{ node {{ {ANNOUNCEMENT_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
      totalCount
    }}
  }}
}}"""

POST_ANNOUNCEMENT = f"""
mutation PostAnnouncement($courseId: ID!, $input: AnnouncementInput!) {{
  postAnnouncement(courseId: $courseId, input: $input) {{
    announcement {{ {ANNOUNCEMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

UPDATE_ANNOUNCEMENT = f"""
mutation UpdateAnnouncement($id: ID!, $input: UpdateAnnouncementInput!) {{
  updateAnnouncement(id: $id, input: $input) {{
    announcement {{ {ANNOUNCEMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""


# --- request and response bodies ------------------------------------------------------------------------
# Bounds are the courses service's (coursegraph.limits): an oversized request never reaches the graph.

Title = Annotated[str, text_rules(ANNOUNCEMENT_TITLE_MAX, required=True, line_breaks=False)]
Body = Annotated[str, text_rules(ANNOUNCEMENT_BODY_MAX, required=True, line_breaks=True)]

AnnouncementId = Annotated[
    str,
    Path(description="The announcement's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]


class AnnouncementListParams(GraphInput):
    model_config = ConfigDict(strict=False)  # query parameters arrive as text

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None,
        pattern=CURSOR_PATTERN,
        description="`page_info.end_cursor` of the previous page (as the catalog's): the page starts with "
        "the announcements posted before that one.",
        examples=["1764547200000000_6b0e48e58e255fc7add36f17"],
    )


class AnnouncementRequest(GraphInput):
    """A new announcement. The body is Markdown: raw HTML in it is shown as text, and the HTML made of it
    is sanitised (`body_html`)."""

    title: Title
    body: Body


class AnnouncementUpdate(GraphInput):
    """Only the given fields change; editing emails nobody."""

    title: Title | None = None
    body: Body | None = None

    def to_graph(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Announcement(GraphOutput):
    id: str
    course_id: str
    author_id: str = Field(validation_alias=AliasPath("author", "id"))
    title: str
    body: str = Field(description="As written: Markdown.")
    body_html: str = Field(description="The body as HTML, sanitised against an allow-list: safe to show.")
    posted_at: datetime
    updated_at: datetime
    edited_at: datetime | None


class AnnouncementPage(GraphOutput):
    items: list[Announcement] = Field(validation_alias="edges")
    page_info: PageInfo
    total_count: int

    @field_validator("items", mode="before")
    @classmethod
    def nodes_of_edges(cls, edges: list[dict[str, Any]]) -> list[Any]:
        return [edge["node"] for edge in edges]


def _announcement(payload: dict[str, Any]) -> Envelope[Announcement]:
    if payload["errors"]:
        raise user_errors(payload["errors"], default_field="input")
    return Envelope.ok(Announcement.model_validate(payload["announcement"]))


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["announcements"])

    @router.get(
        "/courses/{course_id}/announcements",
        summary="A course's announcements, newest first: its learners, instructor, admins and teaching "
        "assistants (an empty page for anyone else, signed in or not)",
        responses=responses(404),
        openapi_extra=SIGNED_IN_OR_NOT,
    )
    async def list_announcements(
        request: Request, course_id: CourseId, params: Annotated[AnnouncementListParams, Query()]
    ) -> Envelope[AnnouncementPage]:
        variables = {"courseId": course_id, "first": params.first, "after": graph_cursor(params.after)}
        data = await run(request, ANNOUNCEMENTS, variables)
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok(AnnouncementPage.model_validate(data["course"]["announcements"]))

    @router.post(
        "/courses/{course_id}/announcements",
        status_code=201,
        summary="The course's instructor or an admin: post an announcement; each learner gets it by email "
        "(category `announcements`)",
        responses=responses(403, 404, 409, 413),
        openapi_extra=SIGNED_IN,
    )
    async def post_announcement(
        request: Request, course_id: CourseId, body: AnnouncementRequest
    ) -> Envelope[Announcement]:
        data = await run(request, POST_ANNOUNCEMENT, {"courseId": course_id, "input": body.to_graph()})
        return _announcement(data["postAnnouncement"])

    @router.patch(
        "/announcements/{announcement_id}",
        summary="The course's instructor or an admin: edit an announcement (nobody is emailed again)",
        responses=responses(403, 404, 409, 413),
        openapi_extra=SIGNED_IN,
    )
    async def update_announcement(
        request: Request, announcement_id: AnnouncementId, body: AnnouncementUpdate
    ) -> Envelope[Announcement]:
        data = await run(request, UPDATE_ANNOUNCEMENT, {"id": announcement_id, "input": body.to_graph()})
        return _announcement(data["updateAnnouncement"])

    return router
