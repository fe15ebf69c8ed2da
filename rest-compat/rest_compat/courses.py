"""The course endpoints: the catalog, one course, creating a course and enrolling.

Each endpoint runs exactly one GraphQL operation through the router; the graph decides who may do what.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat import operations as ops
from rest_compat.graph import GraphError, Runner, user_errors
from rest_compat.schemas import Course, CourseListParams, CoursePage, CreateCourseRequest, Enrollment

# Runs one GraphQL operation for a REST request (forwarding its credentials); answers `data`.

CourseId = Annotated[
    str,
    Path(description="The course's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$"),
]


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
            raise user_errors(payload["errors"], default_field="input")
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
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(Enrollment.from_graph(payload["enrollment"], course_id.lower()))

    return router
