"""The course endpoints: the catalog, one course, creating a course and enrolling."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import (
    AliasPath,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.graph import (
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
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
# Bounds mirror the courses service's limits, so an oversized request never reaches the graph.

TITLE_MAX = 200
DESCRIPTION_MAX = 5_000
CONTENT_MAX = 100_000
URL_MAX = 2_048
MODULES_MAX = 50
LESSONS_MAX = 100
SEARCH_MAX = 100
PAGE_MAX = 100
CURSOR_MAX = 512

CourseStatus = Literal["draft", "published", "archived"]
EnrollmentStatus = Literal["active", "completed"]
Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX)]
# Module and lesson ids are opaque tokens the API minted (kept when a client sends them back).
OutlineId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MediaUrl = Annotated[str, StringConstraints(min_length=1, max_length=URL_MAX, pattern=r"^https?://\S+$")]

CourseId = Annotated[
    str,
    Path(description="The course's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]


class CourseListParams(GraphInput):
    """`GET /courses` query parameters; unknown ones (e.g. `status[$in]`) are an error, not ignored."""

    # Query parameters arrive as text: `first=5` is a number.
    model_config = ConfigDict(strict=False)

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None, min_length=1, max_length=CURSOR_MAX, description="`page_info.end_cursor` of the previous page."
    )
    instructor_id: UUID | None = Field(None, description="Only this instructor's courses.")
    status: Annotated[CourseStatus, ToGraphEnum] | None = Field(
        None, description="Only courses in this status."
    )
    search: str | None = Field(
        None, max_length=SEARCH_MAX, description="Case-insensitive text in the title, matched literally."
    )

    def to_graph(self) -> dict[str, Any]:
        """The `Courses` operation's variables: the page, and the filters given as a `CourseFilter`."""
        given = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"first", "after"})
        return {"first": self.first, "after": self.after, "filter": given or None}


class LessonRequest(GraphInput):
    id: OutlineId | None = None
    title: Title
    content: Annotated[str, StringConstraints(max_length=CONTENT_MAX)] = ""
    media_url: MediaUrl | None = None
    order: int | None = Field(
        default=None,
        ge=1,
        le=LESSONS_MAX,
        description="The lesson's place in its module (the requirements' `order`): give it to every "
        "lesson of the module or to none, each a different number; lessons are placed by it.",
    )


class ModuleRequest(GraphInput):
    id: OutlineId | None = None
    title: Title
    lessons: Annotated[list[LessonRequest], Field(max_length=LESSONS_MAX)] = Field(default_factory=list)

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
    title: Title
    description: Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)] = ""
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
    end_cursor: str | None


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
    )
    async def list_courses(
        request: Request, params: Annotated[CourseListParams, Query()]
    ) -> Envelope[CoursePage]:
        data = await run(request, COURSES, params.to_graph())
        return Envelope.ok(CoursePage.model_validate(data["courses"]))

    @router.post(
        "/courses", status_code=201, summary="Instructors and admins: create a draft course with its outline"
    )
    async def create_course(request: Request, body: CreateCourseRequest) -> Envelope[Course]:
        data = await run(request, CREATE_COURSE, {"input": body.to_graph()})
        payload = data["createCourse"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(Course.model_validate(payload["course"]))

    @router.get("/courses/{course_id}", summary="A course; lesson content only for its learners and managers")
    async def get_course(request: Request, course_id: CourseId) -> Envelope[Course]:
        data = await run(request, COURSE, {"id": course_id})
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok(Course.model_validate(data["course"]))

    @router.post(
        "/courses/{course_id}/enroll",
        status_code=201,
        summary="Enroll the caller in a published course (once; a second time is a 409)",
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
