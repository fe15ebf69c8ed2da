"""The assessments subgraph's per-request DataLoaders: every reference and child list in one batch each.

Each loader asks the service (never a repository), so the service's rules apply to what it answers.
A course's assessments prime `assessment_by_id`, so their attempts' results cost no second read.
"""

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.assessments.models import Assessment, Attempt
from subgraphs.assessments.service import AssessmentService


@dataclass
class Loaders:
    assessment_by_id: DataLoader[str, Assessment | None]
    assessments_by_course: DataLoader[str, list[Assessment]]
    attempt_by_id: DataLoader[str, Attempt | None]  # attempts the caller may see
    # A learner's attempts at an assessment, by (assessment id, user id).
    learner_attempts: DataLoader[tuple[str, str], list[Attempt]]
    # Whether the caller is enrolled in a course (may read its assessments' questions).
    viewer_enrolled: DataLoader[str, bool]


def make_loaders(service: AssessmentService, actor: Actor) -> Loaders:
    async def load_assessments(ids: list[str]) -> list[Assessment | None]:
        ENTITY_BATCHES.labels("assessments", "Assessment").inc()
        return await service.assessments(ids)

    async def load_by_course(course_ids: list[str]) -> list[list[Assessment]]:
        lists = await service.assessments_of_courses(course_ids)
        for assessment in (a for listed in lists for a in listed):
            assessment_by_id.prime(str(assessment.id), assessment)  # their attempts' results need them
        return lists

    async def load_attempts(ids: list[str]) -> list[Attempt | None]:
        ENTITY_BATCHES.labels("assessments", "Attempt").inc()
        return await service.attempts(actor, ids)

    async def load_learner_attempts(keys: list[tuple[str, str]]) -> list[list[Attempt]]:
        return await service.learner_attempts(keys)

    async def load_enrolled(course_ids: list[str]) -> list[bool]:
        return await service.enrolled(actor, course_ids)

    assessment_by_id: DataLoader[str, Assessment | None] = DataLoader(load_fn=load_assessments)
    return Loaders(
        assessment_by_id=assessment_by_id,
        assessments_by_course=DataLoader(load_fn=load_by_course),
        attempt_by_id=DataLoader(load_fn=load_attempts),
        learner_attempts=DataLoader(load_fn=load_learner_attempts),
        viewer_enrolled=DataLoader(load_fn=load_enrolled),
    )
