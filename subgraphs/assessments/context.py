"""The assessments subgraph's per-request context: the caller, repositories, DataLoaders, the clock."""

from dataclasses import dataclass, field
from datetime import timedelta

from strawberry.dataloader import DataLoader

from coursegraph.events.relay import Relay
from coursegraph.graphql import ServiceContext
from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.assessments.models import Assessment, Attempt
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository
from subgraphs.assessments.service import Clock, CoursesPort


@dataclass
class Loaders:
    assessment_by_id: DataLoader[str, Assessment | None]
    assessments_by_course: DataLoader[str, list[Assessment]]
    attempt_by_id: DataLoader[str, Attempt | None]
    # The caller's enrollment in a course (whether they may read its assessments' questions).
    viewer_enrolled: DataLoader[str, bool]


def make_loaders(
    actor: Actor, assessments: AssessmentRepository, attempts: AttemptRepository, courses: CoursesPort
) -> Loaders:
    async def load_assessments(ids: list[str]) -> list[Assessment | None]:
        ENTITY_BATCHES.labels("assessments", "Assessment").inc()
        found = await assessments.get_many(ids)
        return [found.get(i) for i in ids]

    async def load_by_course(course_ids: list[str]) -> list[list[Assessment]]:
        grouped = await assessments.for_courses(course_ids)
        return [grouped.get(c, []) for c in course_ids]

    async def load_attempts(ids: list[str]) -> list[Attempt | None]:
        ENTITY_BATCHES.labels("assessments", "Attempt").inc()
        found = await attempts.get_many(ids)
        return [found.get(i) for i in ids]

    async def load_enrolled(course_ids: list[str]) -> list[bool]:
        if actor.user_id is None:
            return [False] * len(course_ids)
        result = []
        for course_id in course_ids:  # one call per distinct course in a request: few in practice
            access = await courses.access(course_id, str(actor.user_id))
            result.append(access is not None and access.enrolled)
        return result

    return Loaders(
        assessment_by_id=DataLoader(load_fn=load_assessments),
        assessments_by_course=DataLoader(load_fn=load_by_course),
        attempt_by_id=DataLoader(load_fn=load_attempts),
        viewer_enrolled=DataLoader(load_fn=load_enrolled),
    )


@dataclass
class AssessmentsContext(ServiceContext):
    assessments: AssessmentRepository = field(kw_only=True)
    attempts: AttemptRepository = field(kw_only=True)
    courses: CoursesPort = field(kw_only=True)
    relay: Relay = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
    clock: Clock = field(kw_only=True)
    grace: timedelta = field(kw_only=True)
