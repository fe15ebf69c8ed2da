"""The course endpoints: the catalog, one course, creating a course and enrolling.

Each endpoint runs exactly one GraphQL operation through the router; the graph decides who may do what.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat import operations as ops
from rest_compat.graph import GraphError
from rest_compat.schemas import Course, CourseListParams, CoursePage, CreateCourseRequest, Enrollment

# Runs one GraphQL operation for a REST request (forwarding its credentials); answers `data`.
Runner = Callable[[Request, str, dict[str, Any]], Awaitable[dict[str, Any]]]

CourseId = Annotated[
    str,
    Path(description="The course's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(field: str) -> str:
    """`modules.0.lessons.1.mediaUrl` -> `modules.0.lessons.1.media_url` (the REST bodies' spelling)."""
    return _CAMEL_BOUNDARY.sub(r"_\1", field).lower()


def user_errors(errors: list[dict[str, Any]]) -> GraphError:
    """A mutation payload's typed errors as one 400 envelope with `details.fields`."""
    fields: dict[str, str] = {}
    for error in errors:
        graph_field = error["field"] or "input"
        field = snake_case(graph_field)
        fields[field] = str(error["message"]).replace(graph_field, field)
    first = next(iter(fields.values()))
    return GraphError(ErrorCode.BAD_USER_INPUT, first, {"fields": fields})


def courses_router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["courses"])

    @router.get(
        "/courses",
        summary="The catalog, newest first: published courses, plus one's own (instructors) or all (admins)",
    )
    async def list_courses(
        request: Request, params: Annotated[CourseListParams, Query()]
    ) -> Envelope[CoursePage]:
        course_filter: dict[str, Any] = {}
        if params.instructor_id is not None:
            course_filter["instructorId"] = str(params.instructor_id)
        if params.status is not None:
            course_filter["status"] = params.status.upper()
        if params.search:
            course_filter["search"] = params.search
        variables = {"first": params.first, "after": params.after, "filter": course_filter or None}
        data = await run(request, ops.COURSES, variables)
        return Envelope.ok(CoursePage.from_graph(data["courses"]))

    @router.post(
        "/courses", status_code=201, summary="Instructors and admins: create a draft course with its outline"
    )
    async def create_course(request: Request, body: CreateCourseRequest) -> Envelope[Course]:
        data = await run(request, ops.CREATE_COURSE, {"input": body.to_graph()})
        payload = data["createCourse"]
        if payload["errors"]:
            raise user_errors(payload["errors"])
        return Envelope.ok(Course.from_graph(payload["course"]))

    @router.get("/courses/{course_id}", summary="A course; lesson content only for its learners and managers")
    async def get_course(request: Request, course_id: CourseId) -> Envelope[Course]:
        data = await run(request, ops.COURSE, {"id": course_id})
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok(Course.from_graph(data["course"]))

    @router.post(
        "/courses/{course_id}/enroll",
        status_code=201,
        summary="Enroll the caller in a published course (once; a second time is a 409)",
    )
    async def enroll(request: Request, course_id: CourseId) -> Envelope[Enrollment]:
        data = await run(request, ops.ENROLL, {"courseId": course_id})
        payload = data["enroll"]
        if payload["errors"]:
            raise user_errors(payload["errors"])
        return Envelope.ok(Enrollment.from_graph(payload["enrollment"], course_id.lower()))

    return router
