"""GraphQL types of the courses subgraph."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry.types import Info

from coursegraph.graphql import PAGE_SIZE, PageInfo, UserError
from coursegraph.ids import parse_object_id
from coursegraph.pagination import Page
from subgraphs.courses import decisions, service
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.context import CoursesContext
from subgraphs.courses.gradebook_decisions import GradebookSort
from subgraphs.courses.gradebook_types import GradebookConnection, LearnerGrades
from subgraphs.courses.models import CourseStatus, Enrollment, EnrollmentStatus

if TYPE_CHECKING:
    from subgraphs.courses.announcements_types import AnnouncementConnection
    from subgraphs.courses.deadlines_types import DeadlineType, UpcomingDeadlineType
    from subgraphs.courses.roster_types import CourseRoleEnum, RosterConnection

Ctx = Info[CoursesContext, None]
DEADLINES_TYPES = "subgraphs.courses.deadlines_types"

CourseStatusEnum = strawberry.enum(CourseStatus, name="CourseStatus")
EnrollmentStatusEnum = strawberry.enum(EnrollmentStatus, name="EnrollmentStatus")


@strawberry.type(
    name="Lesson", description="One lesson; content and media only for enrolled learners and managers."
)
class LessonType:
    id: strawberry.ID
    title: str
    order: int
    media_url: str | None
    course_id: strawberry.Private[str]
    readable: strawberry.Private[bool]

    @strawberry.field
    async def content(self, info: Ctx) -> str | None:
        # Bodies are read only when asked for: lists never carry them.
        if not self.readable:
            return None
        bodies = await info.context.loaders.lesson_bodies_by_course.load(self.course_id)
        return bodies.get(self.id)


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

    @strawberry.field(
        description="The user's enrollments, newest first: the user themself and admins only.",
        directives=[PAGE_SIZE],
    )
    async def enrollments(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> "EnrollmentConnection | None":
        page = await info.context.loaders.enrollments_of_user.load((str(self.id), first, after))
        return EnrollmentConnection.from_page(page)

    @strawberry.field(
        description="Courses this user teaches that the caller may see, newest first.", directives=[PAGE_SIZE]
    )
    def courses_teaching(self, info: Ctx, first: int = 20, after: str | None = None) -> "CourseConnection":
        page = info.context.service.courses_teaching(
            info.context.actor, str(self.id), first=first, after=after
        )
        return CourseConnection.from_page(page, info.context)

    # --- issue 17: deadlines ---

    @strawberry.field(
        description="The user's next due times across their active enrollments, next due first (past ones "
        "left out; extensions applied): the user themself only."
    )
    async def upcoming_deadlines(
        self, info: Ctx, first: int = 20
    ) -> list[Annotated["UpcomingDeadlineType", strawberry.lazy(DEADLINES_TYPES)]]:
        from subgraphs.courses.deadlines_types import (
            UpcomingDeadlineType,
        )  # here: deadlines_types imports this module

        found = await info.context.deadlines.upcoming(info.context.actor, str(self.id), first=first)
        return [UpcomingDeadlineType.of(d) for d in found]

    @strawberry.field(
        description="The secret URL of the user's calendar feed (iCalendar), made on the first ask: the user "
        "themself only. Anyone with the URL can read the feed; `rotateCalendarFeed` replaces it."
    )
    async def calendar_feed_url(self, info: Ctx) -> str | None:
        return await info.context.deadlines.calendar_feed_url(info.context.actor, str(self.id))


@strawberry.federation.type(
    keys=["id"], name="Course", description="A course: an outline of modules and lessons."
)
class CourseType:
    id: strawberry.ID
    title: str
    description: str
    status: CourseStatusEnum  # type: ignore[valid-type]
    lesson_count: int
    enrollment_count: int = strawberry.field(description="How many learners are enrolled.")
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    summary: strawberry.Private[CourseSummary]

    @classmethod
    def of(cls, summary: CourseSummary) -> Self:
        return cls(
            id=strawberry.ID(summary.id),
            title=summary.title,
            description=summary.description,
            status=summary.status,
            lesson_count=summary.lesson_count,
            enrollment_count=summary.enrollment_count,
            created_at=summary.created_at,
            updated_at=summary.updated_at,
            published_at=summary.published_at,
            summary=summary,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        summary = await info.context.loaders.course_by_id.load(parse_object_id(id))
        return None if summary is None else cls.of(summary)

    @strawberry.field
    def instructor(self) -> UserType:
        return UserType(id=strawberry.ID(self.summary.instructor_id))

    @strawberry.field(description="Modules in order, each with its lessons in order.")
    async def modules(self, info: Ctx) -> list[ModuleType]:
        course_id = self.summary.id
        readable = await info.context.loaders.content_readable_by_course.load(course_id)
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
                        media_url=lesson.media_url if readable else None,
                        course_id=course_id,
                        readable=readable,
                    )
                    for lesson in module.lessons
                ],
            )
            for module in self.summary.modules
        ]

    @strawberry.field(description="The caller's enrollment in this course, if any.")
    async def viewer_enrollment(self, info: Ctx) -> "EnrollmentType | None":
        row = await info.context.loaders.viewer_enrollment_by_course.load(self.summary.id)
        return None if row is None else EnrollmentType.from_row(row)

    # --- issue 17: deadlines ---

    @strawberry.field(
        description="Due times of the course's modules and assessments, next due first: the course's "
        "dates and extensions for its managers and teaching assistants, their own due times for its "
        "learners, none for anyone else."
    )
    async def deadlines(self, info: Ctx) -> list[Annotated["DeadlineType", strawberry.lazy(DEADLINES_TYPES)]]:
        from subgraphs.courses.deadlines_types import (
            DeadlineType,
        )  # here: deadlines_types imports this module

        views = await info.context.deadlines_by_course.load(self.summary.id)
        return [DeadlineType.of(view) for view in views]

    # --- issue 17: gradebook ---

    @strawberry.field(
        description="The course's learners with their grades, a page at a time: its instructors and "
        "teaching assistants only.",
        directives=[PAGE_SIZE],
    )
    async def gradebook(
        self,
        info: Ctx,
        first: int = 20,
        after: str | None = None,
        sort: GradebookSort = GradebookSort.LEARNER,
    ) -> GradebookConnection | None:
        found = await info.context.gradebook.gradebook(
            info.context.actor, self.summary, first=first, after=after, sort=sort
        )
        return GradebookConnection.of(found, self.summary)

    @strawberry.field(description="The caller's own grades in this course; null unless enrolled.")
    async def viewer_grades(self, info: Ctx) -> LearnerGrades | None:
        found = await info.context.viewer_grades.load(self.summary)
        return None if found is None else LearnerGrades.of(found[1], found[0])

    # --- issue 17: announcements ---
    @strawberry.field(
        description="The course's announcements, newest first: for its learners, instructor, admins and "
        "teaching assistants (empty for anyone else).",
        directives=[PAGE_SIZE],
    )
    async def announcements(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated["AnnouncementConnection", strawberry.lazy("subgraphs.courses.announcements_types")]:
        from subgraphs.courses.announcements_types import AnnouncementConnection

        page = await info.context.announcements.pages.load((self.summary.id, first, after))
        return AnnouncementConnection.from_page(page)

    # --- issue 17: roster ---

    @strawberry.field(
        description="The course's learners, oldest enrollment first: its instructor, teaching assistants "
        "and admins only.",
        directives=[PAGE_SIZE],
    )
    async def roster(
        self, info: Ctx, first: int = 20, after: str | None = None
    ) -> Annotated["RosterConnection", strawberry.lazy("subgraphs.courses.roster_types")] | None:
        from subgraphs.courses.roster_types import RosterConnection

        page = await info.context.roster.roster(info.context.actor, self.summary, first=first, after=after)
        return RosterConnection.from_page(page)

    @strawberry.field(description="The caller's role in this course: null when they have none.")
    async def viewer_role(
        self, info: Ctx
    ) -> Annotated["CourseRoleEnum", strawberry.lazy("subgraphs.courses.roster_types")] | None:  # type: ignore[valid-type]
        enrollment = await info.context.loaders.viewer_enrollment_by_course.load(self.summary.id)
        return info.context.roster.viewer_role(info.context.actor, self.summary, enrollment)


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
        row = await info.context.loaders.enrollment_by_id.load(parse_object_id(id))
        return None if row is None else cls.from_row(row)

    @strawberry.field
    def user(self) -> UserType:
        return UserType(id=strawberry.ID(self.row.user_id))

    @strawberry.field
    async def course(self, info: Ctx) -> CourseType | None:
        # The learner keeps the course, whatever has become of it since.
        summary = await info.context.loaders.any_course_by_id.load(self.row.course_id)
        return None if summary is None else CourseType.of(summary)

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
        summary = await info.context.loaders.any_course_by_id.load(self.row.course_id)
        return None if summary is None else CourseType.of(summary)


@strawberry.federation.type(inaccessible=True, description="Internal: what another service needs to know.")
class CourseAccess:
    course_id: strawberry.ID
    instructor_id: strawberry.ID
    status: CourseStatusEnum  # type: ignore[valid-type]
    enrollment_id: strawberry.ID | None
    enrollment_status: EnrollmentStatusEnum | None  # type: ignore[valid-type]

    @classmethod
    def of(cls, access: service.CourseAccess) -> Self:
        enrollment = access.enrollment
        return cls(
            course_id=strawberry.ID(access.course_id),
            instructor_id=strawberry.ID(access.instructor_id),
            status=access.status,
            enrollment_id=None if enrollment is None else strawberry.ID(str(enrollment.id)),
            enrollment_status=None if enrollment is None else enrollment.status,
        )


@strawberry.type
class CourseEdge:
    cursor: str
    node: CourseType


@strawberry.type
class CourseConnection:
    edges: list[CourseEdge]
    page_info: PageInfo
    page: strawberry.Private[Page[CourseSummary]]

    @classmethod
    def from_page(cls, page: Page[CourseSummary], context: CoursesContext) -> Self:
        for _, summary in page.items:
            # A reference to one of these courses later in the request costs nothing.
            context.loaders.course_by_id.prime(summary.id, summary)
        return cls(
            edges=[CourseEdge(cursor=cursor, node=CourseType.of(s)) for cursor, s in page.items],
            page_info=PageInfo.of(page),
            page=page,
        )

    @strawberry.field(description="How many courses match, across all pages.")
    def total_count(self) -> int:
        assert self.page.total is not None
        return self.page.total()


@strawberry.type
class EnrollmentEdge:
    cursor: str
    node: EnrollmentType


@strawberry.type
class EnrollmentConnection:
    edges: list[EnrollmentEdge]
    page_info: PageInfo
    page: strawberry.Private[Page[Enrollment]]

    @classmethod
    def from_page(cls, page: Page[Enrollment]) -> Self:
        return cls(
            edges=[EnrollmentEdge(cursor=c, node=EnrollmentType.from_row(row)) for c, row in page.items],
            page_info=PageInfo.of(page),
            page=page,
        )

    @strawberry.field(description="How many enrollments, across all pages.")
    def total_count(self) -> int:
        assert self.page.total is not None
        return self.page.total()


@strawberry.input(description="Narrow the catalog; all given conditions apply.")
class CourseFilter:
    instructor_id: strawberry.ID | None = None
    status: CourseStatusEnum | None = None  # type: ignore[valid-type]
    search: str | None = strawberry.field(default=None, description="Case-insensitive text in the title.")

    def to_filter(self) -> service.CatalogFilter:
        return service.CatalogFilter(
            instructor_id=None if self.instructor_id is None else str(self.instructor_id),
            status=self.status,
            search=self.search,
        )


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


def module_drafts(modules: list[ModuleInput]) -> list[decisions.ModuleDraft]:
    return [
        decisions.ModuleDraft(
            id=None if m.id is None else str(m.id),
            title=m.title,
            lessons=[
                decisions.LessonDraft(
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
