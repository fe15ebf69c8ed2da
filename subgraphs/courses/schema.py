"""The courses subgraph's root types: thin resolvers over the service."""

from collections.abc import AsyncGenerator, Awaitable, Callable

import strawberry

from coursegraph.errors import BadUserInput, FieldError, Forbidden, ValidationFailed
from coursegraph.graphql import UserError, build_schema
from subgraphs.courses import service
from subgraphs.courses.models import Course, Enrollment, EnrollmentStatus
from subgraphs.courses.types import (
    CertificateType,
    CourseAccess,
    CourseConnection,
    CourseFilter,
    CoursePayload,
    CourseType,
    CreateCourseInput,
    Ctx,
    EnrollmentPayload,
    EnrollmentType,
    UpdateCourseInput,
    UserType,
    module_drafts,
)


@strawberry.type
class Query:
    @strawberry.field(
        description="The catalog, newest first: published courses, plus one's own or all (admins)."
    )
    async def courses(
        self, info: Ctx, first: int = 20, after: str | None = None, filter: CourseFilter | None = None
    ) -> CourseConnection:
        filter = filter or CourseFilter()
        search = filter.search.strip() if filter.search else None
        if search and len(search) > service.SEARCH_MAX:
            raise ValidationFailed(
                [FieldError("filter.search", "TOO_LONG", f"At most {service.SEARCH_MAX} characters.")]
            )
        instructor = str(filter.instructor_id) if filter.instructor_id is not None else None
        page = await info.context.courses.page(
            visible=service.catalog_visibility(info.context.actor),
            instructor_id=instructor,
            status=filter.status,
            search=search,
            first=service.page_size(first),
            after=after,
        )
        return CourseConnection.from_page(page, info.context)

    @strawberry.field(description="A course by id; null when there is none or the caller may not see it.")
    async def course(self, info: Ctx, id: strawberry.ID) -> CourseType | None:
        return await CourseType.resolve_reference(info, id)

    @strawberry.field(description="Public: the certificate with this code, or null if there is none.")
    async def verify_certificate(self, info: Ctx, code: str) -> CertificateType | None:
        if not 1 <= len(code) <= 64:
            raise BadUserInput("A certificate code has at most 64 characters.", details={"field": "code"})
        enrollment = await info.context.enrollments.by_certificate(code.strip().upper())
        return None if enrollment is None else CertificateType.from_enrollment(enrollment)

    @strawberry.federation.field(
        inaccessible=True, description="Internal (service tokens): course and enrollment."
    )
    async def course_access(
        self, info: Ctx, course_id: strawberry.ID, user_id: strawberry.ID
    ) -> CourseAccess | None:
        info.context.actor.require_service()
        parsed = service.parse_object_id(course_id, "courseId")
        course = await info.context.loaders.course_by_id.load(parsed)
        if course is None:
            return None
        enrollment = await info.context.enrollments.get(str(user_id), parsed)
        return CourseAccess(
            course_id=strawberry.ID(parsed),
            instructor_id=strawberry.ID(course.instructor_id),
            status=course.status,
            enrollment_id=None if enrollment is None else strawberry.ID(str(enrollment.id)),
            enrollment_status=None if enrollment is None else enrollment.status,
        )


async def _course_payload(info: Ctx, action: Callable[[], Awaitable[Course]]) -> CoursePayload:
    try:
        course = await action()
    except ValidationFailed as exc:
        return CoursePayload(course=None, errors=[UserError.from_field_error(e) for e in exc.errors])
    info.context.relay.notify()
    return CoursePayload(course=CourseType.from_row(course), errors=[])


async def _enrollment_payload(info: Ctx, action: Callable[[], Awaitable[Enrollment]]) -> EnrollmentPayload:
    enrollment = await action()
    info.context.relay.notify()
    return EnrollmentPayload(enrollment=EnrollmentType.from_row(enrollment), errors=[])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Instructors and admins: a new draft course.")
    async def create_course(self, info: Ctx, input: CreateCourseInput) -> CoursePayload:
        return await _course_payload(
            info,
            lambda: service.create_course(
                info.context.courses,
                info.context.actor,
                title=input.title,
                description=input.description,
                modules=module_drafts(input.modules),
            ),
        )

    @strawberry.mutation(description="The course's instructor or an admin: edit title, description, outline.")
    async def update_course(self, info: Ctx, id: strawberry.ID, input: UpdateCourseInput) -> CoursePayload:
        course_id = service.parse_object_id(id)
        return await _course_payload(
            info,
            lambda: service.update_course(
                info.context.courses,
                info.context.actor,
                course_id,
                title=input.title,
                description=input.description,
                modules=None if input.modules is None else module_drafts(input.modules),
            ),
        )

    @strawberry.mutation(description="The course's instructor or an admin: open it for enrollment.")
    async def publish_course(self, info: Ctx, id: strawberry.ID) -> CoursePayload:
        course_id = service.parse_object_id(id)
        return await _course_payload(
            info, lambda: service.publish_course(info.context.courses, info.context.actor, course_id)
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: close it; enrolled learners keep it."
    )
    async def archive_course(self, info: Ctx, id: strawberry.ID) -> CoursePayload:
        course_id = service.parse_object_id(id)
        return await _course_payload(
            info, lambda: service.archive_course(info.context.courses, info.context.actor, course_id)
        )

    @strawberry.mutation(description="Enroll the caller in a published course (once).")
    async def enroll(self, info: Ctx, course_id: strawberry.ID) -> EnrollmentPayload:
        parsed = service.parse_object_id(course_id, "courseId")
        return await _enrollment_payload(
            info,
            lambda: service.enroll(
                info.context.courses, info.context.enrollments, info.context.actor, parsed
            ),
        )

    @strawberry.federation.mutation(
        inaccessible=True,
        description="Internal (service tokens): an assessment is (or is no longer) required.",
    )
    async def record_assessment_requirement(
        self, info: Ctx, course_id: strawberry.ID, assessment_id: strawberry.ID, required: bool
    ) -> bool:
        info.context.actor.require_service()
        parsed = service.parse_object_id(course_id, "courseId")
        await service.set_required_assessment(
            info.context.courses, parsed, str(assessment_id), required=required
        )
        return True

    @strawberry.mutation(description="Mark a lesson complete for the caller; progress only moves forward.")
    async def complete_lesson(
        self, info: Ctx, course_id: strawberry.ID, lesson_id: strawberry.ID
    ) -> EnrollmentPayload:
        parsed = service.parse_object_id(course_id, "courseId")
        return await _enrollment_payload(
            info,
            lambda: service.complete_lesson(
                info.context.courses, info.context.enrollments, info.context.actor, parsed, str(lesson_id)
            ),
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The caller's enrollment in a course: now, then each time their progress changes, "
        "until the course is completed."
    )
    async def enrollment_progress(
        self, info: Ctx, course_id: strawberry.ID
    ) -> AsyncGenerator[EnrollmentType, None]:
        user_id = str(info.context.actor.require_user())
        parsed = service.parse_object_id(course_id, "courseId")
        async with info.context.progress.watch(user_id, parsed) as changes:
            enrollment = await info.context.enrollments.get(user_id, parsed)
            if enrollment is None:
                raise Forbidden("Enroll in the course to follow your progress.")
            yield EnrollmentType.from_row(enrollment)
            while enrollment.status is not EnrollmentStatus.COMPLETED:
                await changes.get()
                latest = await info.context.enrollments.get(user_id, parsed)
                # One write announces several events; send each new state once.
                if latest is not None and latest.version != enrollment.version:
                    enrollment = latest
                    yield EnrollmentType.from_row(enrollment)


schema = build_schema(
    query=Query, mutation=Mutation, subscription=Subscription, types=[UserType, CourseType, EnrollmentType]
)
