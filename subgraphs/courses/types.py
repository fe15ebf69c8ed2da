"""GraphQL types of the courses subgraph."""

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry.types import Info

from coursegraph.errors import Forbidden
from coursegraph.graphql import PageInfo, UserError
from subgraphs.courses import service
from subgraphs.courses.context import CoursesContext
from subgraphs.courses.models import Course, CourseStatus, Enrollment, EnrollmentStatus
from subgraphs.courses.repository import Page

Ctx = Info[CoursesContext, None]

CourseStatusEnum = strawberry.enum(CourseStatus, name="CourseStatus")
EnrollmentStatusEnum = strawberry.enum(EnrollmentStatus, name="EnrollmentStatus")


@strawberry.type(
    name="Lesson", description="One lesson; content and media only for enrolled learners and managers."
)
class LessonType:
    id: strawberry.ID
    title: str
    order: int
    content: str | None
    media_url: str | None


@strawberry.type(name="Module", description="An ordered group of lessons.")
class ModuleType:
    id: strawberry.ID
    title: str
    order: int
    lessons: list[LessonType]


@strawberry.federation.type(keys=["id"], name="User")
class UserType:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Self:
        return cls(id=id)

    @strawberry.field(description="The user's enrollments, newest first: the user themself and admins only.")
    async def enrollments(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> "EnrollmentConnection | None":
        actor = info.context.actor
        if actor.user_id is None or (str(actor.user_id) != str(self.id) and not actor.is_admin):
            raise Forbidden("Only the user themself and admins see their enrollments.")
        page = await info.context.enrollments.page_for_user(
            str(self.id), first=service.page_size(first), after=after
        )
        return EnrollmentConnection.from_page(page, info.context)

    @strawberry.field(description="Courses this user teaches that the caller may see, newest first.")
    async def courses_teaching(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> "CourseConnection":
        page = await info.context.courses.page(
            visible=service.catalog_visibility(info.context.actor),
            instructor_id=str(self.id),
            status=None,
            search=None,
            first=service.page_size(first),
            after=after,
        )
        return CourseConnection.from_page(page, info.context)


@strawberry.federation.type(
    keys=["id"], name="Course", description="A course: an outline of modules and lessons."
)
class CourseType:
    id: strawberry.ID
    title: str
    description: str
    status: CourseStatusEnum  # type: ignore[valid-type]
    lesson_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    row: strawberry.Private[Course]

    @classmethod
    def from_row(cls, row: Course) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            status=row.status,
            lesson_count=row.lesson_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
            published_at=row.published_at,
            row=row,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        row = await info.context.loaders.course_by_id.load(service.parse_object_id(id))
        return cls.from_row(row) if row is not None and service.can_see(info.context.actor, row) else None

    @strawberry.field
    def instructor(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.instructor_id))

    @strawberry.field(description="Modules in order, each with its lessons in order.")
    async def modules(self, info: Ctx) -> list[ModuleType]:
        actor = info.context.actor
        readable = service.can_manage(actor, self.row) or (
            await info.context.loaders.viewer_enrollment_by_course.load(str(self.row.id)) is not None
        )
        return [
            ModuleType(
                id=strawberry.ID(module.id),
                title=module.title,
                order=module.order,
                lessons=[
                    LessonType(
                        id=strawberry.ID(lesson.id),
                        title=lesson.title,
                        order=lesson.order,
                        content=lesson.content if readable else None,
                        media_url=lesson.media_url if readable else None,
                    )
                    for lesson in module.lessons
                ],
            )
            for module in self.row.modules
        ]

    @strawberry.field(description="How many learners are enrolled.")
    async def enrollment_count(self, info: Ctx) -> int:
        return await info.context.loaders.enrollment_count_by_course.load(str(self.row.id))

    @strawberry.field(description="The caller's enrollment in this course, if any.")
    async def viewer_enrollment(self, info: Ctx) -> "EnrollmentType | None":
        row = await info.context.loaders.viewer_enrollment_by_course.load(str(self.row.id))
        return None if row is None else EnrollmentType.from_row(row)


@strawberry.federation.type(keys=["id"], name="Enrollment", description="A learner's place in a course.")
class EnrollmentType:
    id: strawberry.ID
    enrolled_at: datetime
    progress: float = strawberry.field(description="Percent of the course's lessons completed (0 to 100).")
    completed_lesson_ids: list[strawberry.ID]
    status: EnrollmentStatusEnum  # type: ignore[valid-type]
    completed_at: datetime | None
    row: strawberry.Private[Enrollment]

    @classmethod
    def from_row(cls, row: Enrollment) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            enrolled_at=row.enrolled_at,
            progress=row.progress,
            completed_lesson_ids=[strawberry.ID(i) for i in row.completed_lessons],
            status=row.status,
            completed_at=row.completed_at,
            row=row,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        row = await info.context.loaders.enrollment_by_id.load(service.parse_object_id(id))
        if row is None:
            return None
        actor = info.context.actor
        if actor.is_admin or actor.is_service or str(actor.user_id) == row.user_id:
            return cls.from_row(row)
        course = await info.context.loaders.course_by_id.load(row.course_id)
        return cls.from_row(row) if course is not None and service.can_manage(actor, course) else None

    @strawberry.field
    def user(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.user_id))

    @strawberry.field
    async def course(self, info: Ctx) -> CourseType | None:
        row = await info.context.loaders.course_by_id.load(self.row.course_id)
        return None if row is None else CourseType.from_row(row)

    @strawberry.field(
        description="Issued when every lesson is complete and every required assessment passed."
    )
    def certificate(self) -> "CertificateType | None":
        return CertificateType.from_enrollment(self.row)


@strawberry.type(name="Certificate", description="Proof of completing a course; anyone can verify its code.")
class CertificateType:
    code: str
    issued_at: datetime
    row: strawberry.Private[Enrollment]

    @classmethod
    def from_enrollment(cls, row: Enrollment) -> "CertificateType | None":
        if row.certificate_code is None or row.certificate_issued_at is None:
            return None
        return cls(code=row.certificate_code, issued_at=row.certificate_issued_at, row=row)

    @strawberry.field(description="Who earned it.")
    def holder(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.user_id))

    @strawberry.field
    async def course(self, info: Ctx) -> CourseType | None:
        # Shown even if the course was archived since: the certificate stays valid.
        row = await info.context.loaders.course_by_id.load(self.row.course_id)
        return None if row is None else CourseType.from_row(row)


@strawberry.federation.type(inaccessible=True, description="Internal: what another service needs to know.")
class CourseAccess:
    course_id: strawberry.ID
    instructor_id: strawberry.ID
    status: CourseStatusEnum  # type: ignore[valid-type]
    enrollment_id: strawberry.ID | None
    enrollment_status: EnrollmentStatusEnum | None  # type: ignore[valid-type]


@strawberry.type
class CourseEdge:
    cursor: str
    node: CourseType


@strawberry.type
class CourseConnection:
    edges: list[CourseEdge]
    page_info: PageInfo
    query: strawberry.Private[dict[str, Any]]
    context: strawberry.Private[CoursesContext]

    @classmethod
    def from_page(cls, page: Page[Course], context: CoursesContext) -> Self:
        for _, row in page.items:
            # Prime the loader: a reference to one of these courses later in the request costs no query.
            context.loaders.course_by_id.prime(str(row.id), row)
        return cls(
            edges=[CourseEdge(cursor=cursor, node=CourseType.from_row(row)) for cursor, row in page.items],
            page_info=_page_info(page),
            query=page.query,
            context=context,
        )

    @strawberry.field(description="How many courses match, across all pages.")
    async def total_count(self) -> int:
        return await self.context.courses.count(self.query)


@strawberry.type
class EnrollmentEdge:
    cursor: str
    node: EnrollmentType


@strawberry.type
class EnrollmentConnection:
    edges: list[EnrollmentEdge]
    page_info: PageInfo
    query: strawberry.Private[dict[str, Any]]
    context: strawberry.Private[CoursesContext]

    @classmethod
    def from_page(cls, page: Page[Enrollment], context: CoursesContext) -> Self:
        return cls(
            edges=[EnrollmentEdge(cursor=c, node=EnrollmentType.from_row(row)) for c, row in page.items],
            page_info=_page_info(page),
            query=page.query,
            context=context,
        )

    @strawberry.field(description="How many enrollments, across all pages.")
    async def total_count(self) -> int:
        return await self.context.enrollments.count(self.query)


def _page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=False,  # forward pagination only (first/after)
        start_cursor=page.items[0][0] if page.items else None,
        end_cursor=page.items[-1][0] if page.items else None,
    )


@strawberry.input(description="Narrow the catalog; all given conditions apply.")
class CourseFilter:
    instructor_id: strawberry.ID | None = None
    status: CourseStatusEnum | None = None  # type: ignore[valid-type]
    search: str | None = strawberry.field(default=None, description="Case-insensitive text in the title.")


@strawberry.input
class LessonInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Keep an existing lesson's id.")
    title: str
    content: str = ""
    media_url: str | None = None


@strawberry.input
class ModuleInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Keep an existing module's id.")
    title: str
    lessons: list[LessonInput] = strawberry.field(default_factory=list)


@strawberry.input
class CreateCourseInput:
    title: str
    description: str = ""
    modules: list[ModuleInput] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the given fields change; `modules` replaces the whole outline, in order.")
class UpdateCourseInput:
    title: str | None = None
    description: str | None = None
    modules: list[ModuleInput] | None = None


def module_drafts(modules: list[ModuleInput]) -> list[service.ModuleDraft]:
    return [
        service.ModuleDraft(
            id=None if m.id is None else str(m.id),
            title=m.title,
            lessons=[
                service.LessonDraft(
                    id=None if lesson.id is None else str(lesson.id),
                    title=lesson.title,
                    content=lesson.content,
                    media_url=lesson.media_url,
                )
                for lesson in m.lessons
            ],
        )
        for m in modules
    ]


@strawberry.type
class CoursePayload:
    course: CourseType | None
    errors: list[UserError]


@strawberry.type
class EnrollmentPayload:
    enrollment: EnrollmentType | None
    errors: list[UserError]
