"""The assessments subgraph's root types: thin resolvers over the service."""

from collections.abc import Awaitable, Callable

import strawberry

from coursegraph.errors import ValidationFailed
from coursegraph.graphql import UserError, build_schema
from coursegraph.ids import parse_object_id
from subgraphs.assessments.models import Assessment, Attempt
from subgraphs.assessments.types import (
    AnswerInput,
    AssessmentInput,
    AssessmentPayload,
    AssessmentResultType,
    AssessmentType,
    AttemptPayload,
    AttemptType,
    CourseType,
    Ctx,
    UserType,
)


@strawberry.type
class Query:
    @strawberry.field(description="An assessment by id (questions without keys for learners).")
    async def assessment(self, info: Ctx, id: strawberry.ID) -> AssessmentType | None:
        loaders = info.context.loaders
        row = await info.context.service.assessment(
            info.context.actor, parse_object_id(id), loaders.visible_assessment_by_id.load
        )
        return None if row is None else AssessmentType.from_row(row)

    @strawberry.field(
        description="The caller's result for an assessment, per its score policy (best or latest)."
    )
    async def assessment_result(self, info: Ctx, id: strawberry.ID) -> AssessmentResultType | None:
        loaders = info.context.loaders
        counted = await info.context.service.viewer_result(
            info.context.actor,
            parse_object_id(id),
            loaders.assessment_by_id.load,
            loaders.learner_attempts.load,
        )
        return None if counted is None else await AssessmentResultType.of(info, counted)


async def _assessment_payload(action: Callable[[], Awaitable[Assessment]]) -> AssessmentPayload:
    try:
        row = await action()
    except ValidationFailed as exc:
        return AssessmentPayload(assessment=None, errors=[UserError.from_field_error(e) for e in exc.errors])
    return AssessmentPayload(assessment=AssessmentType.from_row(row), errors=[])


async def _attempt_payload(action: Callable[[], Awaitable[Attempt]]) -> AttemptPayload:
    try:
        row = await action()
    except ValidationFailed as exc:
        return AttemptPayload(attempt=None, errors=[UserError.from_field_error(e) for e in exc.errors])
    return AttemptPayload(attempt=AttemptType.from_row(row), errors=[])


@strawberry.type
class Mutation:
    @strawberry.mutation(description="The course's instructor or an admin: a new assessment in a course.")
    async def create_assessment(
        self, info: Ctx, course_id: strawberry.ID, input: AssessmentInput
    ) -> AssessmentPayload:
        course = parse_object_id(course_id, "courseId")
        return await _assessment_payload(
            lambda: info.context.service.create_assessment(info.context.actor, course, input.to_draft())
        )

    @strawberry.mutation(description="The course's instructor or an admin: change settings or questions.")
    async def update_assessment(
        self, info: Ctx, id: strawberry.ID, input: AssessmentInput
    ) -> AssessmentPayload:
        assessment_id = parse_object_id(id)
        return await _assessment_payload(
            lambda: info.context.service.update_assessment(
                info.context.actor, assessment_id, input.to_draft()
            )
        )

    @strawberry.mutation(description="Start (or resume) the caller's attempt; enrolled learners only.")
    async def start_attempt(self, info: Ctx, assessment_id: strawberry.ID) -> AttemptPayload:
        parsed = parse_object_id(assessment_id, "assessmentId")
        return await _attempt_payload(lambda: info.context.service.start_attempt(info.context.actor, parsed))

    @strawberry.mutation(description="Save answers to an open attempt (validated against each question).")
    async def save_answers(
        self, info: Ctx, attempt_id: strawberry.ID, answers: list[AnswerInput]
    ) -> AttemptPayload:
        parsed = parse_object_id(attempt_id, "attemptId")
        raw = [answer.to_raw() for answer in answers]
        return await _attempt_payload(
            lambda: info.context.service.save_answers(info.context.actor, parsed, raw)
        )

    @strawberry.mutation(description="Submit an attempt (with last answers); scored once, on the server.")
    async def submit_assessment(
        self, info: Ctx, attempt_id: strawberry.ID, answers: list[AnswerInput] | None = None
    ) -> AttemptPayload:
        parsed = parse_object_id(attempt_id, "attemptId")
        raw = [answer.to_raw() for answer in answers or []]
        return await _attempt_payload(lambda: info.context.service.submit(info.context.actor, parsed, raw))

    @strawberry.mutation(
        description="Submit answers to an assessment, starting an attempt when none is open."
    )
    async def submit_answers(
        self, info: Ctx, assessment_id: strawberry.ID, answers: list[AnswerInput]
    ) -> AttemptPayload:
        parsed = parse_object_id(assessment_id, "assessmentId")
        raw = [answer.to_raw() for answer in answers]
        return await _attempt_payload(
            lambda: info.context.service.submit_for_assessment(info.context.actor, parsed, raw)
        )


schema = build_schema(
    query=Query, mutation=Mutation, types=[CourseType, UserType, AssessmentType, AttemptType]
)
