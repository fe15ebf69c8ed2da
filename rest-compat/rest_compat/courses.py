"""The course endpoints: the catalog, one course, creating a course and enrolling."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import AliasPath, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.limits import (
    CONTENT_MAX,
    DESCRIPTION_MAX,
    LESSONS_MAX,
    MODULES_MAX,
    PAGE_MAX,
    SEARCH_MAX,
    TITLE_MAX,
    URL_MAX,
)
from coursegraph.pagination import Position, decode_cursor, encode_cursor
from rest_compat.graph import (
    SIGNED_IN,
    SIGNED_IN_OR_NOT,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Integral,
    Runner,
    ToGraphEnum,
    responses,
    text_rules,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

COURSE_FIELDS = """
  id title description status lessonCount enrollmentCount createdAt updatedAt publishedAt
  instructor { id name }
  modules { id title order lessons { id title order content mediaUrl } }"""
# A catalog page lists course summaries; the outline and lessons are on the course (ADR 0015).
SUMMARY_FIELDS = """
  id title description status lessonCount enrollmentCount createdAt updatedAt publishedAt
  instructor { id name }"""
ENROLLMENT_FIELDS = "id enrolledAt progress completedLessonIds status completedAt user { id } course { id }"

COURSES = f"""
query Courses($first: Int!, $after: String, $filter: CourseFilter) {{
  courses(first: $first, after: $after, filter: $filter) {{
    edges {{ node {{ {SUMMARY_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}"""

COURSE = f"""
query Course($id: ID!) {{ course(id: $id) {{ {COURSE_FIELDS} }} }}"""

CREATE_COURSE = f"""
mutation CreateCourse($input: CreateCourseInput!) {{
  createCourse(input: $input) {{
    course {{ {COURSE_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

ENROLL = f"""
mutation Enroll($courseId: ID!) {{
  enroll(courseId: $courseId) {{
    enrollment {{ {ENROLLMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""


# --- request and response bodies ------------------------------------------------------------------------
# Bounds are the courses service's limits (coursegraph.limits), so an oversized request never reaches the
# graph.

CourseStatus = Literal["draft", "published", "archived"]
EnrollmentStatus = Literal["active", "completed", "removed"]
Title = Annotated[str, text_rules(TITLE_MAX, required=True, line_breaks=True)]
Description = Annotated[str, text_rules(DESCRIPTION_MAX, required=False, line_breaks=True)]
Content = Annotated[str, text_rules(CONTENT_MAX, required=False, line_breaks=True)]
MediaUrl = Annotated[
    str,
    Field(
        max_length=URL_MAX,
        pattern=r"^https?://[^\x00-\x20\x7f-\x9f]+$",
        description="An http(s) URL: no spaces or control characters.",
    ),
]

CourseId = Annotated[
    str,
    Path(description="The course's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]


# --- catalog cursors ------------------------------------------------------------------------------------
# The graph's cursors are opaque (base64 of a JSON position), so no pattern could tell a client which
# strings are cursors. The REST cursor spells the same keyset position plainly: the time of the last
# course seen, in microseconds since the Unix epoch, and its id. Every string of this form is a place in
# the newest-first catalog (the page starts after it), so the pattern is the whole rule.

CURSOR_PATTERN = r"^[0-9]{1,16}_[0-9a-f]{24}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def rest_cursor(graph_cursor: str | None) -> str | None:
    """The REST spelling of a catalog cursor the graph answered."""
    if graph_cursor is None:
        return None
    position = decode_cursor(graph_cursor)
    assert position is not None
    return f"{(position.at - _EPOCH) // _MICROSECOND}_{position.id}"


def graph_cursor(cursor: str | None) -> str | None:
    """The graph's cursor for a REST cursor (one that matches `CURSOR_PATTERN`)."""
    if cursor is None:
        return None
    micros, _, course_id = cursor.partition("_")
    return encode_cursor(Position(_EPOCH + int(micros) * _MICROSECOND, course_id))


class CourseListParams(GraphInput):
    """`GET /courses` query parameters; unknown ones (e.g. `status[$in]`) are an error, not ignored."""

    # Query parameters arrive as text: `first=5` is a number.
    model_config = ConfigDict(strict=False)

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None,
        pattern=CURSOR_PATTERN,
        description="`page_info.end_cursor` of the previous page: microseconds since the Unix epoch, `_`, "
        "and a course id (24 lower-case hexadecimal characters); the page starts after that place.",
        examples=["1764547200000000_6b0e48e58e255fc7add36f17"],
    )
    instructor_id: UUID | None = Field(None, description="Only this instructor's courses.")
    status: Annotated[CourseStatus, ToGraphEnum] | None = Field(
        None, description="Only courses in this status."
    )
    search: str | None = Field(
        None,
        max_length=SEARCH_MAX,
        description="Case-insensitive text in the title, matched literally (at most 100 characters once "
        "NFC-normalised and trimmed).",
    )

    def to_graph(self) -> dict[str, Any]:
        """The `Courses` operation's variables: the page, and the filters given as a `CourseFilter`."""
        given = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"first", "after"})
        return {"first": self.first, "after": graph_cursor(self.after), "filter": given or None}


class LessonRequest(GraphInput):
    title: Title
    content: Content = ""
    media_url: MediaUrl | None = None
    order: Annotated[int, Integral] | None = Field(
        default=None,
        ge=1,
        le=LESSONS_MAX,
        description="The lesson's place in its module (the requirements' `order`): give it to every "
        "lesson of the module or to none, each a different number; lessons are placed by it.",
    )


# The module's rule on `order` that no single lesson shows: every lesson has one or none has (null is
# none). That no two lessons share an order is said in words (`ModuleRequest.lessons`): JSON Schema can
# say it only as one `contains`/`maxContains` clause per possible order.
ORDER_RANGE = {"minimum": 1, "maximum": LESSONS_MAX}
ORDER_RULES: dict[str, Any] = {
    "anyOf": [
        {"items": {"required": ["order"], "properties": {"order": {"type": "integer", **ORDER_RANGE}}}},
        {"items": {"properties": {"order": {"type": "null"}}}},
    ],
}


class ModuleRequest(GraphInput):
    title: Title
    lessons: Annotated[
        list[LessonRequest],
        Field(
            max_length=LESSONS_MAX,
            description="The lessons in order, or each with its `order`: every lesson or none, no two the "
            "same.",
            json_schema_extra=ORDER_RULES,
        ),
    ] = Field(default_factory=list)

    @field_validator("lessons")
    @classmethod
    def placed_by_order(cls, lessons: list[LessonRequest]) -> list[LessonRequest]:
        orders = [lesson.order for lesson in lessons]
        if all(order is None for order in orders):
            return lessons
        if any(order is None for order in orders) or len(set(orders)) != len(orders):
            raise ValueError("give every lesson of the module a different order, or give none")
        return sorted(lessons, key=lambda lesson: lesson.order or 0)


class CreateCourseRequest(GraphInput):
    """A new draft course with its outline. Module and lesson ids are minted by the API."""

    title: Title
    description: Description = ""
    modules: Annotated[list[ModuleRequest], Field(max_length=MODULES_MAX)] = Field(default_factory=list)

    def to_graph(self) -> dict[str, Any]:
        # The graph places lessons by their position in the list: `order` has done its work.
        drop_order = {"modules": {"__all__": {"lessons": {"__all__": {"order"}}}}}
        return self.model_dump(mode="json", by_alias=True, exclude=drop_order)


class Instructor(GraphOutput):
    id: str
    name: str


class Lesson(GraphOutput):
    id: str
    title: str
    order: int
    content: str | None = Field(description="Only for enrolled learners, the instructor and admins.")
    media_url: str | None = Field(description="Only for enrolled learners, the instructor and admins.")


class Module(GraphOutput):
    id: str
    title: str
    order: int
    lessons: list[Lesson]


class CourseSummary(GraphOutput):
    """A course as the catalog lists it: everything but its outline (`GET /courses/{course_id}` has it)."""

    id: str
    title: str
    description: str
    status: Annotated[CourseStatus, FromGraphEnum]
    instructor_id: str = Field(validation_alias=AliasPath("instructor", "id"))
    instructor: Instructor
    lesson_count: int
    enrollment_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class Course(CourseSummary):
    """A course with its outline: modules and lessons in order."""

    modules: list[Module]


class PageInfo(GraphOutput):
    has_next_page: bool
    end_cursor: str | None = Field(description="Where the next page starts (`after`); null on an empty page.")

    @field_validator("end_cursor", mode="before")
    @classmethod
    def spelled_for_rest(cls, cursor: Any) -> Any:
        return rest_cursor(cursor) if isinstance(cursor, str) else cursor


class CoursePage(GraphOutput):
    items: list[CourseSummary] = Field(validation_alias="edges")
    page_info: PageInfo
    total_count: int

    @field_validator("items", mode="before")
    @classmethod
    def nodes_of_edges(cls, edges: list[dict[str, Any]]) -> list[Any]:
        return [edge["node"] for edge in edges]


class Enrollment(GraphOutput):
    id: str
    user_id: str = Field(validation_alias=AliasPath("user", "id"))
    course_id: str = Field(validation_alias=AliasPath("course", "id"))
    enrolled_at: datetime
    progress: float = Field(description="Percent of the course's lessons completed (0 to 100).")
    completed_lesson_ids: list[str]
    status: Annotated[EnrollmentStatus, FromGraphEnum]
    completed_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def requested_course_when_gone(cls, node: Any, info: ValidationInfo) -> Any:
        # `course` is null once the course is deleted (a seed reset); the enrollment still names the
        # course the request gave (`context={"course_id": ...}`).
        if isinstance(node, dict) and node.get("course") is None and info.context:
            return {**node, "course": {"id": info.context["course_id"]}}
        return node


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["courses"])

    @router.get(
        "/courses",
        summary="The catalog, newest first: published courses, plus one's own (instructors) or all (admins)",
        openapi_extra=SIGNED_IN_OR_NOT,
    )
    async def list_courses(
        request: Request, params: Annotated[CourseListParams, Query()]
    ) -> Envelope[CoursePage]:
        data = await run(request, COURSES, params.to_graph())
        return Envelope.ok(CoursePage.model_validate(data["courses"]))

    @router.post(
        "/courses",
        status_code=201,
        summary="Instructors and admins: create a draft course with its outline",
        responses=responses(403, 413),
        openapi_extra=SIGNED_IN,
    )
    async def create_course(request: Request, body: CreateCourseRequest) -> Envelope[Course]:
        data = await run(request, CREATE_COURSE, {"input": body.to_graph()})
        payload = data["createCourse"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(Course.model_validate(payload["course"]))

    @router.get(
        "/courses/{course_id}",
        summary="A course; lesson content only for its learners and managers",
        responses=responses(404),
        openapi_extra=SIGNED_IN_OR_NOT,
    )
    async def get_course(request: Request, course_id: CourseId) -> Envelope[Course]:
        data = await run(request, COURSE, {"id": course_id})
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok(Course.model_validate(data["course"]))

    @router.post(
        "/courses/{course_id}/enroll",
        status_code=201,
        summary="Enroll the caller in a published course (once; a second time is a 409)",
        responses=responses(404, 409),
        openapi_extra=SIGNED_IN,
    )
    async def enroll(request: Request, course_id: CourseId) -> Envelope[Enrollment]:
        data = await run(request, ENROLL, {"courseId": course_id})
        payload = data["enroll"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        enrollment = Enrollment.model_validate(
            payload["enrollment"], context={"course_id": course_id.lower()}
        )
        return Envelope.ok(enrollment)

    return router
