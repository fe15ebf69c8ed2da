"""Deadlines (issue 17): a course's due times, and each user's calendar feed as iCalendar (RFC 5545)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from icalendar import Calendar, Event
from pydantic import AliasPath, AwareDatetime, Field

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.courses import CourseId
from rest_compat.graph import (
    SIGNED_IN,
    SIGNED_IN_OR_NOT,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
    responses,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

DEADLINE_FIELDS = """
  id courseId target targetId title dueAt courseDueAt extended updatedAt extensions { user { id } dueAt }"""

CALENDAR_FEED = """
query CalendarFeed($token: String!) {
  calendarFeed(token: $token) {
    events { uid sequence courseId courseTitle target targetId title dueAt updatedAt }
  }
}"""

COURSE_DEADLINES = f"""
query CourseDeadlines($id: ID!) {{ course(id: $id) {{ deadlines {{ {DEADLINE_FIELDS} }} }} }}"""

SET_DEADLINE = f"""
mutation SetDeadline($courseId: ID!, $input: DeadlineInput!) {{
  setDeadline(courseId: $courseId, input: $input) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""

CLEAR_DEADLINE = f"""
mutation ClearDeadline($courseId: ID!, $targetId: ID!) {{
  clearDeadline(courseId: $courseId, targetId: $targetId) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""

GRANT_EXTENSION = f"""
mutation GrantExtension($courseId: ID!, $targetId: ID!, $userId: ID!, $dueAt: DateTime) {{
  grantExtension(courseId: $courseId, targetId: $targetId, userId: $userId, dueAt: $dueAt) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""


# --- request and response bodies ------------------------------------------------------------------------

Target = Literal["module", "assessment"]
TargetId = Annotated[
    str,
    Path(
        description="The module's id (32 hexadecimal characters), or the assessment's (24).",
        pattern=r"^[0-9a-fA-F]{24}([0-9a-fA-F]{8})?$",
    ),
]
# A feed's secret is URL-safe base64 (43 characters); anything of this form is asked about, and answers
# 404 unless it is a current feed's.
FeedToken = Annotated[
    str,
    Path(
        description="The feed's secret, from `calendarFeedUrl`.",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]
# Not strict: a time arrives as a JSON string (RFC 3339).
DueAt = Annotated[
    AwareDatetime,
    Field(strict=False, description="With a UTC offset, in the future, at most 5 years from now (RFC 3339)."),
]


class DeadlineRequest(GraphInput):
    """A due time for a module or an assessment of the course (set, or moved)."""

    target: Annotated[Target, ToGraphEnum]
    due_at: DueAt


class ExtensionRequest(GraphInput):
    """One learner's own due time; null removes it."""

    due_at: DueAt | None


class Extension(GraphOutput):
    user_id: str = Field(validation_alias=AliasPath("user", "id"))
    due_at: datetime


class Deadline(GraphOutput):
    id: str
    course_id: str
    target: Annotated[Target, FromGraphEnum]
    target_id: str
    title: str
    due_at: datetime = Field(description="For a learner, their extension when they have one.")
    course_due_at: datetime
    extended: bool = Field(description="Whether `due_at` is the caller's own extension.")
    extensions: list[Extension] = Field(description="The course's managers and teaching assistants only.")
    updated_at: datetime


class FeedEvent(GraphOutput):
    uid: str
    sequence: int
    course_id: str
    course_title: str
    target: Annotated[Target, FromGraphEnum]
    target_id: str
    title: str
    due_at: datetime
    updated_at: datetime


# --- the feed -------------------------------------------------------------------------------------------

PRODUCT = "-//CourseGraph//Deadlines//EN"
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


def calendar(events: list[FeedEvent]) -> bytes:
    """The feed: one VEVENT per due time, its UID stable across moves, its SEQUENCE and LAST-MODIFIED
    changing with them. A due time is an instant: DTEND is DTSTART (as Canvas's and Moodle's feeds do)."""
    feed = Calendar()
    feed.add("prodid", PRODUCT)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("x-wr-calname", "CourseGraph deadlines")
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        # When this version of the event was made: the same bytes for the same deadlines.
        event.add("dtstamp", item.updated_at)
        event.add("last-modified", item.updated_at)
        event.add("sequence", item.sequence)
        event.add("dtstart", item.due_at)
        event.add("dtend", item.due_at)
        event.add("summary", f"{item.course_title}: {item.title}")
        event.add(
            "description", f"Due: the {item.target} “{item.title}” of the course “{item.course_title}”."
        )
        event.add("transp", "TRANSPARENT")
        feed.add_component(event)
    ical: bytes = feed.to_ical()
    return ical


# --- the endpoints --------------------------------------------------------------------------------------


def _deadline(payload: dict[str, Any]) -> Envelope[Deadline]:
    if payload["errors"]:
        # The graph names the input's fields (`input.dueAt`); here they are the body's or the path's.
        errors = [
            {
                **e,
                "field": (e["field"] or "").removeprefix("input.") or None,
                "message": e["message"].removeprefix("input."),
            }
            for e in payload["errors"]
        ]
        raise user_errors(errors, default_field="due_at")
    return Envelope.ok(Deadline.model_validate(payload["deadline"]))


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["deadlines"])

    @router.get(
        "/calendar/{token}.ics",
        summary="A user's calendar feed (iCalendar, RFC 5545): the due times of their active enrollments",
        description="Public: the secret in the URL is the credential (`calendarFeedUrl` in the graph; "
        "`rotateCalendarFeed` replaces it). A string that is not a current feed's secret answers 404, "
        "whether or not it ever was one.",
        response_class=Response,
        responses={
            200: {"content": {"text/calendar": {"schema": {"type": "string"}}}, "description": "The feed."},
            **responses(404),
        },
    )
    async def calendar_feed(request: Request, token: FeedToken) -> Response:
        data = await run(request, CALENDAR_FEED, {"token": token})
        if data["calendarFeed"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Calendar feed not found.")
        events = [FeedEvent.model_validate(e) for e in data["calendarFeed"]["events"]]
        # The URL is a secret: no shared cache keeps it.
        return Response(
            calendar(events), media_type=ICS_MEDIA_TYPE, headers={"Cache-Control": "private, no-cache"}
        )

    @router.get(
        "/courses/{course_id}/deadlines",
        summary="A course's due times, next due first: every date and extension for its managers and "
        "teaching assistants, their own for its learners, none for anyone else",
        responses=responses(404),
        openapi_extra=SIGNED_IN_OR_NOT,
    )
    async def course_deadlines(request: Request, course_id: CourseId) -> Envelope[list[Deadline]]:
        data = await run(request, COURSE_DEADLINES, {"id": course_id})
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok([Deadline.model_validate(d) for d in data["course"]["deadlines"]])

    @router.put(
        "/courses/{course_id}/deadlines/{target_id}",
        summary="The course's instructor or an admin: set or move the due time of a module or an assessment",
        description="`target_id` must be a module of the course (`target: module`) or an assessment of it "
        "(`target: assessment`); else 400 with `details.fields.target_id`.",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def set_deadline(
        request: Request, course_id: CourseId, target_id: TargetId, body: DeadlineRequest
    ) -> Envelope[Deadline]:
        given = body.model_dump(mode="json", by_alias=True)
        variables = {"courseId": course_id, "input": {**given, "targetId": target_id}}
        return _deadline((await run(request, SET_DEADLINE, variables))["setDeadline"])

    @router.delete(
        "/courses/{course_id}/deadlines/{target_id}",
        summary="The course's instructor or an admin: no due time for the module or assessment any more",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def clear_deadline(
        request: Request, course_id: CourseId, target_id: TargetId
    ) -> Envelope[Deadline]:
        variables = {"courseId": course_id, "targetId": target_id}
        return _deadline((await run(request, CLEAR_DEADLINE, variables))["clearDeadline"])

    @router.put(
        "/courses/{course_id}/deadlines/{target_id}/extensions/{user_id}",
        summary="The course's instructor or an admin: one learner's own due time (null removes it)",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def grant_extension(
        request: Request, course_id: CourseId, target_id: TargetId, user_id: UUID, body: ExtensionRequest
    ) -> Envelope[Deadline]:
        variables = {
            "courseId": course_id,
            "targetId": target_id,
            "userId": str(user_id),
            **body.model_dump(mode="json", by_alias=True),
        }
        return _deadline((await run(request, GRANT_EXTENSION, variables))["grantExtension"])

    return router
