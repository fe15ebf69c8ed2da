"""The courses subgraph's root types: thin resolvers over the service."""

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime

import strawberry

from coursegraph.errors import ValidationFailed
from coursegraph.graphql import PAGE_SIZE, UserError, build_schema
from coursegraph.ids import parse_object_id, parse_uuid
from coursegraph.security import before_token_expires
from subgraphs.courses.activity_types import CourseActivityType
from subgraphs.courses.announcements_types import (
    AnnouncementAudience,
    AnnouncementInput,
    AnnouncementPayload,
    AnnouncementType,
    UpdateAnnouncementInput,
)
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.deadlines_types import (
    CalendarFeedEventType,
    CalendarFeedPayload,
    CalendarFeedType,
    DeadlineInput,
    DeadlinePayload,
    deadline_payload,
)
from subgraphs.courses.gradebook_types import (
    GradePayload,
    GradingPolicyInput,
    GradingPolicyPayload,
    LearnerGrades,
)
from subgraphs.courses.models import Announcement, Enrollment, EnrollmentStatus
from subgraphs.courses.roster_types import (
    CourseRoleEnum,
    CourseRolePayload,
    RosterImportPayload,
    RosterImportResult,
)
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
        description="The catalog, newest first: published courses, plus one's own or all (admins).",
        directives=[PAGE_SIZE],
    )
    def courses(
        self, info: Ctx, first: int = 20, after: str | None = None, filter: CourseFilter | None = None
    ) -> CourseConnection:
        where = (filter or CourseFilter()).to_filter()
        page = info.context.service.catalog_page(info.context.actor, where, first=first, after=after)
        return CourseConnection.from_page(page, info.context)

    @strawberry.field(description="A course by id; null when there is none or the caller may not see it.")
    async def course(self, info: Ctx, id: strawberry.ID) -> CourseType | None:
        return await CourseType.resolve_reference(info, id)

    @strawberry.field(description="Public: the certificate with this code, or null if there is none.")
    async def verify_certificate(self, info: Ctx, code: str) -> CertificateType | None:
        enrollment = await info.context.service.certificate(code)
        return None if enrollment is None else CertificateType.from_enrollment(enrollment)

    @strawberry.federation.field(
        inaccessible=True, description="Internal (service tokens): course and enrollment."
    )
    async def course_access(
        self, info: Ctx, course_id: strawberry.ID, user_id: strawberry.ID
    ) -> CourseAccess | None:
        access = await info.context.service.course_access(
            info.context.actor, parse_object_id(course_id, "courseId"), str(user_id)
        )
        return None if access is None else CourseAccess.of(access)

    @strawberry.federation.field(
        inaccessible=True,
        description="Internal (the media service): whether the user may see a media through a lesson of "
        "a course its owner teaches, as that course's instructor or learner.",
    )
    async def media_access(
        self, info: Ctx, media_id: strawberry.ID, user_id: strawberry.ID, owner_id: strawberry.ID
    ) -> bool:
        return await info.context.service.media_access(
            info.context.actor, parse_object_id(media_id, "mediaId"), str(user_id), str(owner_id)
        )

    # --- issue 17: deadlines ---

    @strawberry.field(
        description="Public, for the calendar feed's URL: the deadlines of the user whose feed secret this "
        "is; null for any string that is not (or no longer) a feed's secret."
    )
    async def calendar_feed(self, info: Ctx, token: str) -> CalendarFeedType | None:
        found = await info.context.deadlines.calendar_feed(token)
        return (
            None if found is None else CalendarFeedType(events=[CalendarFeedEventType.of(d) for d in found])
        )

    # --- issue 17: announcements ---
    @strawberry.federation.field(
        inaccessible=True,
        description="Internal (the notifications service): a page of the learners to mail an "
        "announcement to, in roster order, with what the email shows; null if there is no such "
        "announcement.",
    )
    async def announcement_audience(
        self, info: Ctx, announcement_id: strawberry.ID, first: int = 100, after: str | None = None
    ) -> AnnouncementAudience | None:
        audience = await info.context.announcements.service.audience(
            info.context.actor,
            parse_object_id(announcement_id, "announcementId"),
            first=first,
            after=after,
        )
        return None if audience is None else AnnouncementAudience.of(audience)


async def _course_payload(action: Callable[[], Awaitable[CourseSummary]]) -> CoursePayload:
    try:
        course = await action()
    except ValidationFailed as exc:
        return CoursePayload(course=None, errors=[UserError.from_field_error(e) for e in exc.errors])
    return CoursePayload(course=CourseType.of(course), errors=[])


async def _announcement_payload(action: Callable[[], Awaitable[Announcement]]) -> AnnouncementPayload:
    try:
        announcement = await action()
    except ValidationFailed as exc:
        return AnnouncementPayload(
            announcement=None, errors=[UserError.from_field_error(e) for e in exc.errors]
        )
    return AnnouncementPayload(announcement=AnnouncementType.of(announcement), errors=[])


async def _enrollment_payload(action: Callable[[], Awaitable[Enrollment]]) -> EnrollmentPayload:
    return EnrollmentPayload(enrollment=EnrollmentType.from_row(await action()), errors=[])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Instructors and admins: a new draft course.")
    async def create_course(self, info: Ctx, input: CreateCourseInput) -> CoursePayload:
        return await _course_payload(
            lambda: info.context.service.create_course(
                info.context.actor,
                title=input.title,
                description=input.description,
                modules=module_drafts(input.modules),
            )
        )

    @strawberry.mutation(description="The course's instructor or an admin: edit title, description, outline.")
    async def update_course(self, info: Ctx, id: strawberry.ID, input: UpdateCourseInput) -> CoursePayload:
        course_id = parse_object_id(id)
        return await _course_payload(
            lambda: info.context.service.update_course(
                info.context.actor,
                course_id,
                title=input.title,
                description=input.description,
                modules=None if input.modules is None else module_drafts(input.modules),
            )
        )

    @strawberry.mutation(description="The course's instructor or an admin: open it for enrollment.")
    async def publish_course(self, info: Ctx, id: strawberry.ID) -> CoursePayload:
        course_id = parse_object_id(id)
        return await _course_payload(
            lambda: info.context.service.publish_course(info.context.actor, course_id)
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: close it; enrolled learners keep it."
    )
    async def archive_course(self, info: Ctx, id: strawberry.ID) -> CoursePayload:
        course_id = parse_object_id(id)
        return await _course_payload(
            lambda: info.context.service.archive_course(info.context.actor, course_id)
        )

    @strawberry.mutation(description="Enroll the caller in a published course (once).")
    async def enroll(self, info: Ctx, course_id: strawberry.ID) -> EnrollmentPayload:
        parsed = parse_object_id(course_id, "courseId")
        return await _enrollment_payload(lambda: info.context.service.enroll(info.context.actor, parsed))

    @strawberry.federation.mutation(
        inaccessible=True,
        description="Internal (service tokens): an assessment is (or is no longer) required; and its "
        "title, for deadlines (issue 17).",
    )
    async def record_assessment_requirement(
        self,
        info: Ctx,
        course_id: strawberry.ID,
        assessment_id: strawberry.ID,
        required: bool,
        title: str | None = None,
    ) -> bool:
        parsed = parse_object_id(course_id, "courseId")
        await info.context.service.set_required_assessment(
            info.context.actor, parsed, str(assessment_id), required=required
        )
        if title is not None:
            await info.context.deadlines.remember_assessment(
                info.context.actor, parsed, parse_object_id(assessment_id, "assessmentId"), title
            )
        return True

    @strawberry.mutation(description="Mark a lesson complete for the caller; progress only moves forward.")
    async def complete_lesson(
        self, info: Ctx, course_id: strawberry.ID, lesson_id: strawberry.ID
    ) -> EnrollmentPayload:
        parsed = parse_object_id(course_id, "courseId")
        return await _enrollment_payload(
            lambda: info.context.service.complete_lesson(info.context.actor, parsed, str(lesson_id))
        )

    # --- issue 17: deadlines ---

    @strawberry.mutation(
        description="The course's instructor or an admin: set or move the due time of one of its modules or "
        "assessments (learners' extensions stay)."
    )
    async def set_deadline(
        self, info: Ctx, course_id: strawberry.ID, input: DeadlineInput
    ) -> DeadlinePayload:
        parsed = parse_object_id(course_id, "courseId")
        return await deadline_payload(
            lambda: info.context.deadlines.set_deadline(
                info.context.actor, parsed, input.target, str(input.target_id), input.due_at
            )
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: no due time for the module or assessment any more "
        "(its extensions go too)."
    )
    async def clear_deadline(
        self, info: Ctx, course_id: strawberry.ID, target_id: strawberry.ID
    ) -> DeadlinePayload:
        parsed = parse_object_id(course_id, "courseId")
        return await deadline_payload(
            lambda: info.context.deadlines.clear_deadline(info.context.actor, parsed, str(target_id))
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: one learner's own due time for a deadline; null "
        "`dueAt` removes it."
    )
    async def grant_extension(
        self,
        info: Ctx,
        course_id: strawberry.ID,
        target_id: strawberry.ID,
        user_id: strawberry.ID,
        due_at: datetime | None = None,
    ) -> DeadlinePayload:
        parsed = parse_object_id(course_id, "courseId")
        return await deadline_payload(
            lambda: info.context.deadlines.grant_extension(
                info.context.actor, parsed, str(target_id), str(user_id), due_at
            )
        )

    @strawberry.mutation(
        description="A new secret URL for the caller's calendar feed: the old URL answers 404 from now on."
    )
    async def rotate_calendar_feed(self, info: Ctx) -> CalendarFeedPayload:
        url = await info.context.deadlines.rotate_calendar_feed(info.context.actor)
        return CalendarFeedPayload(url=url, errors=[])

    # --- issue 17: gradebook ---

    @strawberry.mutation(
        description="The course's instructor or an admin: the weights of its assessments in the course "
        "grade (replacing the last policy; an assessment not named weighs 1)."
    )
    async def set_grading_policy(
        self, info: Ctx, course_id: strawberry.ID, input: GradingPolicyInput
    ) -> GradingPolicyPayload:
        parsed = parse_object_id(course_id, "courseId")
        weights = [(str(w.assessment_id), w.weight) for w in input.weights]
        try:
            grading = await info.context.gradebook.set_grading_policy(info.context.actor, parsed, weights)
        except ValidationFailed as exc:
            return GradingPolicyPayload(
                policy=None, errors=[UserError.from_field_error(e) for e in exc.errors]
            )
        return GradingPolicyPayload.of(grading)

    @strawberry.mutation(
        description="The course's instructor or an admin: leave an assessment out of a learner's course "
        "grade (excused: true), or count it again."
    )
    async def excuse(
        self,
        info: Ctx,
        course_id: strawberry.ID,
        user_id: strawberry.ID,
        assessment_id: strawberry.ID,
        excused: bool,
    ) -> GradePayload:
        parsed = parse_object_id(course_id, "courseId")
        try:
            grading, grade = await info.context.gradebook.excuse(
                info.context.actor, parsed, str(user_id), str(assessment_id), excused=excused
            )
        except ValidationFailed as exc:
            return GradePayload(grades=None, errors=[UserError.from_field_error(e) for e in exc.errors])
        return GradePayload(grades=LearnerGrades.of(grade, grading), errors=[])

    # --- issue 17: announcements ---
    @strawberry.mutation(
        description="The course's instructor or an admin: post an announcement to its learners, who get "
        "it by email (category ANNOUNCEMENTS) and in `Course.announcements`."
    )
    async def post_announcement(
        self, info: Ctx, course_id: strawberry.ID, input: AnnouncementInput
    ) -> AnnouncementPayload:
        parsed = parse_object_id(course_id, "courseId")
        service = info.context.announcements.service
        return await _announcement_payload(
            lambda: service.post(info.context.actor, parsed, title=input.title, body=input.body)
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: edit an announcement; nobody is mailed again."
    )
    async def update_announcement(
        self, info: Ctx, id: strawberry.ID, input: UpdateAnnouncementInput
    ) -> AnnouncementPayload:
        parsed = parse_object_id(id)
        service = info.context.announcements.service
        return await _announcement_payload(
            lambda: service.update(info.context.actor, parsed, title=input.title, body=input.body)
        )

    # --- issue 17: roster ---

    @strawberry.mutation(
        description="The course's instructor or an admin: enroll a user (a removed learner comes back with "
        "their progress); a draft or published course."
    )
    async def enroll_user(
        self, info: Ctx, course_id: strawberry.ID, user_id: strawberry.ID
    ) -> EnrollmentPayload:
        parsed, user = parse_object_id(course_id, "courseId"), str(parse_uuid(user_id, "userId"))
        return await _enrollment_payload(
            lambda: info.context.roster.enroll_user(info.context.actor, parsed, user)
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: unenroll a learner. The enrollment is kept, "
        "REMOVED, with its progress; enrolling again makes it active."
    )
    async def unenroll_user(
        self, info: Ctx, course_id: strawberry.ID, user_id: strawberry.ID
    ) -> EnrollmentPayload:
        parsed, user = parse_object_id(course_id, "courseId"), str(parse_uuid(user_id, "userId"))
        return await _enrollment_payload(
            lambda: info.context.roster.unenroll_user(info.context.actor, parsed, user)
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: make a user a teaching assistant of the course, "
        "or (LEARNER) no longer one."
    )
    async def set_course_role(
        self,
        info: Ctx,
        course_id: strawberry.ID,
        user_id: strawberry.ID,
        role: CourseRoleEnum,  # type: ignore[valid-type]
    ) -> CourseRolePayload:
        parsed, user = parse_object_id(course_id, "courseId"), str(parse_uuid(user_id, "userId"))
        try:
            course = await info.context.roster.set_course_role(info.context.actor, parsed, user, role)
        except ValidationFailed as exc:
            errors = [UserError.from_field_error(e) for e in exc.errors]
            return CourseRolePayload(course=None, user=None, role=None, errors=errors)
        return CourseRolePayload(
            course=CourseType.of(course), user=UserType(id=strawberry.ID(user)), role=role, errors=[]
        )

    @strawberry.mutation(
        description="The course's instructor or an admin: enroll users given by email or user id (at most "
        "500), one outcome per entry. Enrolling the same users again changes nothing."
    )
    async def enroll_users(
        self, info: Ctx, course_id: strawberry.ID, users: list[str]
    ) -> RosterImportPayload:
        parsed = parse_object_id(course_id, "courseId")
        try:
            results = await info.context.roster.enroll_users(info.context.actor, parsed, users)
        except ValidationFailed as exc:
            return RosterImportPayload(results=[], errors=[UserError.from_field_error(e) for e in exc.errors])
        return RosterImportPayload(results=[RosterImportResult.of(r) for r in results], errors=[])


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The caller's enrollment in a course: now, then each time their progress changes, "
        "until the course is completed."
    )
    async def enrollment_progress(
        self, info: Ctx, course_id: strawberry.ID
    ) -> AsyncGenerator[EnrollmentType, None]:
        actor, service = info.context.actor, info.context.service
        user_id = service.progress_follower(actor)
        parsed = parse_object_id(course_id, "courseId")
        async with info.context.progress.watch(user_id, parsed) as changes:
            enrollment = await service.own_enrollment(actor, parsed)
            yield EnrollmentType.from_row(enrollment)
            while enrollment.status is not EnrollmentStatus.COMPLETED:
                await before_token_expires(actor, changes.get())
                latest = await service.own_enrollment(actor, parsed)
                # One write announces several events; send each new state once.
                if latest.version != enrollment.version:
                    enrollment = latest
                    yield EnrollmentType.from_row(enrollment)

    @strawberry.subscription(
        description="For the course's instructors, teaching assistants and admins: what learners do in the "
        "course, as it happens (enrollments, lessons, progress, completion, assessment results). A slow "
        "subscriber loses the oldest activities past 100 waiting, and `missed` says how many. The stream "
        "ends when the caller's token expires (UNAUTHENTICATED)."
    )
    async def course_activity(
        self, info: Ctx, course_id: strawberry.ID
    ) -> AsyncGenerator[CourseActivityType, None]:
        actor, service = info.context.actor, info.context.service
        parsed = parse_object_id(course_id, "courseId")
        await service.activity_course(actor, parsed)  # refused before anything is watched
        async with info.context.activity.watch(parsed) as watcher:
            while True:
                activity, missed = await before_token_expires(actor, watcher.next())
                await service.activity_course(actor, parsed)  # still teaching it (in memory: the catalog)
                yield CourseActivityType.of(activity, missed)


schema = build_schema(
    query=Query, mutation=Mutation, subscription=Subscription, types=[UserType, CourseType, EnrollmentType]
)
