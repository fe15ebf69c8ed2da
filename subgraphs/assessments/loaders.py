"""The assessments subgraph's per-request DataLoaders: every reference and child list in one batch each.

Each loader asks the service (never a repository) and passes the caller on: the service decides what the
caller may see, handed this request's cached course accesses so a rule and the fields around it share
one call. A course's assessments prime `assessment_by_id`, so their attempts' results cost no second read.
"""

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.assessments.models import Assessment, Attempt
from subgraphs.assessments.ports import CourseAccess
from subgraphs.assessments.service import AssessmentService


@dataclass
class Loaders:
    # Unchecked: what a visible attempt or result refers to (see `AssessmentService.assessments`).
    assessment_by_id: DataLoader[str, Assessment | None]
    visible_assessment_by_id: DataLoader[str, Assessment | None]  # those the caller may see
    assessments_by_course: DataLoader[str, list[Assessment]]
    attempt_by_id: DataLoader[str, Attempt | None]  # attempts the caller may see
    # A learner's attempts at an assessment, by (assessment id, user id).
    learner_attempts: DataLoader[tuple[str, str], list[Attempt]]
    # The caller's view of a course: its status and whether they are enrolled.
    course_access: DataLoader[str, CourseAccess | None]


def make_loaders(service: AssessmentService, actor: Actor) -> Loaders:
    async def load_assessments(ids: list[str]) -> list[Assessment | None]:
        ENTITY_BATCHES.labels("assessments", "Assessment").inc()
        return await service.assessments(ids)

    async def load_by_course(course_ids: list[str]) -> list[list[Assessment]]:
        lists = await service.course_assessments(actor, course_ids, course_access.load_many)
        for assessment in (a for listed in lists for a in listed):
            assessment_by_id.prime(str(assessment.id), assessment)  # their attempts' results need them
        return lists

    async def load_attempts(ids: list[str]) -> list[Attempt | None]:
        ENTITY_BATCHES.labels("assessments", "Attempt").inc()
        return await service.attempts(actor, ids)

    async def load_learner_attempts(keys: list[tuple[str, str]]) -> list[list[Attempt]]:
        return await service.learner_attempts(keys)

    async def load_course_accesses(course_ids: list[str]) -> list[CourseAccess | None]:
        return await service.course_accesses(actor, course_ids)

    async def load_visible(ids: list[str]) -> list[Assessment | None]:
        found = await assessment_by_id.load_many(ids)
        return await service.visible_assessments(actor, found, course_access.load_many)

    assessment_by_id: DataLoader[str, Assessment | None] = DataLoader(load_fn=load_assessments)
    course_access: DataLoader[str, CourseAccess | None] = DataLoader(load_fn=load_course_accesses)
    return Loaders(
        assessment_by_id=assessment_by_id,
        visible_assessment_by_id=DataLoader(load_fn=load_visible),
        assessments_by_course=DataLoader(load_fn=load_by_course),
        attempt_by_id=DataLoader(load_fn=load_attempts),
        learner_attempts=DataLoader(load_fn=load_learner_attempts),
        course_access=course_access,
    )
