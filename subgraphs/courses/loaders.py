"""The courses subgraph's per-request DataLoaders: every reference and child list in one batch each.

Each loader asks the service (never a repository), so the service's rules apply to what it answers.
Pages prime `course_by_id`, so a later reference to a course of the page costs nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.pagination import Page
from coursegraph.security import Actor
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.deadlines import DeadlineService
from subgraphs.courses.deadlines_decisions import DeadlineView
from subgraphs.courses.models import Enrollment
from subgraphs.courses.service import CourseService


@dataclass
class Loaders:
    course_by_id: DataLoader[str, CourseSummary | None]  # courses the caller may see

    any_course_by_id: DataLoader[str, CourseSummary | None]  # whatever their status
    enrollment_by_id: DataLoader[str, Enrollment | None]  # enrollments the caller may see
    viewer_enrollment_by_course: DataLoader[str, Enrollment | None]  # the caller's own
    content_readable_by_course: DataLoader[str, bool]  # whether the caller may read lesson bodies
    lesson_bodies_by_course: DataLoader[str, dict[str, str]]  # lesson id -> body, when readable
    # A page of a user's enrollments, by (user id, first, after).
    enrollments_of_user: DataLoader[tuple[str, int, str | None], Page[Enrollment]]


def make_loaders(service: CourseService, actor: Actor) -> Loaders:
    async def load_courses(ids: list[str]) -> list[CourseSummary | None]:
        ENTITY_BATCHES.labels("courses", "Course").inc()
        return await service.courses(actor, ids)

    async def load_any_courses(ids: list[str]) -> list[CourseSummary | None]:
        return await service.any_courses(ids)

    async def load_enrollments(ids: list[str]) -> list[Enrollment | None]:
        ENTITY_BATCHES.labels("courses", "Enrollment").inc()
        return await service.enrollments(actor, ids)

    async def load_viewer_enrollments(course_ids: list[str]) -> list[Enrollment | None]:
        return await service.viewer_enrollments(actor, course_ids)

    async def load_readable(course_ids: list[str]) -> list[bool]:
        courses = await any_course_by_id.load_many(course_ids)
        enrollments = await viewer_enrollment_by_course.load_many(course_ids)
        return [
            course is not None and service.may_read_content(actor, course, enrollment)
            for course, enrollment in zip(courses, enrollments, strict=True)
        ]

    async def load_bodies(course_ids: list[str]) -> list[dict[str, str]]:
        enrollments = await viewer_enrollment_by_course.load_many(course_ids)
        return await service.lesson_bodies(actor, course_ids, enrollments)

    async def load_enrollment_pages(
        requests: list[tuple[str, int, str | None]],
    ) -> Sequence[Page[Enrollment] | BaseException]:
        return await service.enrollments_of(actor, requests)

    any_course_by_id: DataLoader[str, CourseSummary | None] = DataLoader(load_fn=load_any_courses)
    viewer_enrollment_by_course: DataLoader[str, Enrollment | None] = DataLoader(
        load_fn=load_viewer_enrollments
    )
    return Loaders(
        course_by_id=DataLoader(load_fn=load_courses),
        any_course_by_id=any_course_by_id,
        enrollment_by_id=DataLoader(load_fn=load_enrollments),
        viewer_enrollment_by_course=viewer_enrollment_by_course,
        content_readable_by_course=DataLoader(load_fn=load_readable),
        lesson_bodies_by_course=DataLoader(load_fn=load_bodies),
        enrollments_of_user=DataLoader(load_fn=load_enrollment_pages),
    )


# --- issue 17: deadlines ---


def make_deadline_loader(
    deadlines: DeadlineService, loaders: Loaders, actor: Actor
) -> DataLoader[str, list[DeadlineView]]:
    """Each course's deadlines as the caller sees them (by course id), every course of a request in one
    batch."""

    async def load(course_ids: list[str]) -> list[list[DeadlineView]]:
        courses = await loaders.course_by_id.load_many(course_ids)
        viewer = await loaders.viewer_enrollment_by_course.load_many(course_ids)
        seen = [(c, e) for c, e in zip(courses, viewer, strict=True) if c is not None]
        answers = iter(await deadlines.course_deadlines(actor, [c for c, _ in seen], [e for _, e in seen]))
        return [[] if course is None else next(answers) for course in courses]

    return DataLoader(load_fn=load)
