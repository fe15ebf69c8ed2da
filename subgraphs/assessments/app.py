"""The assessments subgraph app: MongoDB store, document outbox relayed to assessment.events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request, WebSocket
from pydantic import Field

from coursegraph.clock import Clock, system_clock
from coursegraph.document_store import DocumentStore
from coursegraph.events.publisher import EventPublisher
from coursegraph.internal import InternalGraphQLClient
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import Periodic
from subgraphs.assessments.context import AssessmentsContext
from subgraphs.assessments.courses_client import CoursesClient
from subgraphs.assessments.loaders import make_loaders
from subgraphs.assessments.models import Assessment, Attempt, CourseAssessments
from subgraphs.assessments.repository import AssessmentRepository, AttemptRepository
from subgraphs.assessments.schema import schema
from subgraphs.assessments.service import AssessmentService
from subgraphs.assessments.sweeper import ExpiredAttemptSweeper


class AssessmentsSettings(ServiceSettings):
    assessments_database: str = "coursegraph_assessments"
    # Submissions this long after the deadline still count (network and clock skew); later ones don't.
    assessment_grace_seconds: int = Field(default=30, ge=0, le=600)
    # How often open attempts past deadline + grace are closed and scored without waiting for the learner.
    assessment_sweep_seconds: float = Field(default=15, gt=0, le=3600)


def create_app(
    settings: AssessmentsSettings | None = None,
    publisher: EventPublisher | None = None,
    clock: Clock = system_clock,
) -> FastAPI:
    settings = settings or AssessmentsSettings()
    store = DocumentStore.open(
        settings,
        service="assessments",
        database=settings.assessments_database,
        models=[Assessment, Attempt, CourseAssessments],
        publisher=publisher,
    )
    internal = InternalGraphQLClient.with_client_credentials(
        settings, service="assessments", url=settings.courses_subgraph_url
    )
    service = AssessmentService(
        AssessmentRepository(store.relay),
        AttemptRepository(store.relay),
        CoursesClient(internal),
        clock=clock,
        grace=timedelta(seconds=settings.assessment_grace_seconds),
    )
    sweeper = ExpiredAttemptSweeper(service)
    sweeping = Periodic(
        "expired-attempt sweep",
        sweeper.sweep_all,
        interval_seconds=settings.assessment_sweep_seconds,
        first_delay_seconds=settings.assessment_sweep_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.start()
        sweeping.start()
        try:
            yield
        finally:
            await sweeping.stop()
            await internal.close()
            await store.stop()

    async def build_context(_: Request | WebSocket, actor: Actor) -> AssessmentsContext:
        return AssessmentsContext(actor=actor, service=service, loaders=make_loaders(service, actor))

    app = create_service_app(
        name="assessments",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[store.mongodb],
    )
    app.state.relay = store.relay
    return app
