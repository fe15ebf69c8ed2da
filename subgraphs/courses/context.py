"""The courses subgraph's per-request context: the caller, repositories, this request's DataLoaders."""

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from coursegraph.events.relay import Relay
from coursegraph.graphql import ServiceContext
from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.courses.models import Course, Enrollment
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.repository import CourseRepository, EnrollmentRepository


@dataclass
class Loaders:
    course_by_id: DataLoader[str, Course | None]
    enrollment_by_id: DataLoader[str, Enrollment | None]
    enrollment_count_by_course: DataLoader[str, int]
    # The caller's own enrollment in each course (decides whether lesson content is readable).
    viewer_enrollment_by_course: DataLoader[str, Enrollment | None]


def make_loaders(actor: Actor, courses: CourseRepository, enrollments: EnrollmentRepository) -> Loaders:
    async def load_courses(ids: list[str]) -> list[Course | None]:
        ENTITY_BATCHES.labels("courses", "Course").inc()
        found = await courses.get_many(ids)
        return [found.get(i) for i in ids]

    async def load_enrollments(ids: list[str]) -> list[Enrollment | None]:
        ENTITY_BATCHES.labels("courses", "Enrollment").inc()
        found = await enrollments.get_many(ids)
        return [found.get(i) for i in ids]

    async def load_counts(ids: list[str]) -> list[int]:
        counts = await enrollments.counts(ids)
        return [counts.get(i, 0) for i in ids]

    async def load_viewer_enrollments(ids: list[str]) -> list[Enrollment | None]:
        if actor.user_id is None:
            return [None] * len(ids)
        found = await enrollments.for_user(str(actor.user_id), ids)
        return [found.get(i) for i in ids]

    return Loaders(
        course_by_id=DataLoader(load_fn=load_courses),
        enrollment_by_id=DataLoader(load_fn=load_enrollments),
        enrollment_count_by_course=DataLoader(load_fn=load_counts),
        viewer_enrollment_by_course=DataLoader(load_fn=load_viewer_enrollments),
    )


@dataclass
class CoursesContext(ServiceContext):
    courses: CourseRepository = field(kw_only=True)
    enrollments: EnrollmentRepository = field(kw_only=True)
    relay: Relay = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
    progress: ProgressFeed = field(kw_only=True)
