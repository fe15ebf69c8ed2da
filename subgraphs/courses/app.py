"""The courses subgraph app: MongoDB (FerretDB locally) store, document outbox relayed to course.events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request, WebSocket

from coursegraph.document_store import DocumentStore
from coursegraph.events import Topic
from coursegraph.events.consumer import event_consumer
from coursegraph.events.publisher import EventPublisher
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import Periodic
from subgraphs.courses.consumers import ASSESSMENT_TOPIC, PROCESSED_MARKS_KEPT, AssessmentEventHandler
from subgraphs.courses.context import CoursesContext, make_loaders
from subgraphs.courses.models import Course, Enrollment
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.repository import CourseRepository, EnrollmentRepository
from subgraphs.courses.schema import schema


class CoursesSettings(ServiceSettings):
    courses_database: str = "coursegraph_courses"


def create_app(settings: CoursesSettings | None = None, publisher: EventPublisher | None = None) -> FastAPI:
    settings = settings or CoursesSettings()
    store = DocumentStore.open(
        settings,
        service="courses",
        database=settings.courses_database,
        models=[Course, Enrollment],
        publisher=publisher,
    )
    courses, enrollments = CourseRepository(), EnrollmentRepository()
    handler = AssessmentEventHandler(courses, enrollments, store.database["processed_events"], store.relay)
    consumer = event_consumer(
        settings, service="courses", group_id="courses", topics=[ASSESSMENT_TOPIC], handler=handler
    )
    forgetting = Periodic(
        "processed-event marks cleanup",
        lambda: handler.forget_processed(datetime.now(UTC) - PROCESSED_MARKS_KEPT),
        interval_seconds=24 * 3600,
    )
    progress = ProgressFeed()
    progress_listener = event_consumer(
        settings, service="courses", group_id=None, topics=[Topic.COURSE], handler=progress
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.start()
        await consumer.start()
        await progress_listener.start()
        forgetting.start()
        try:
            yield
        finally:
            await forgetting.stop()
            await progress_listener.stop()
            await consumer.stop()
            await store.stop()

    async def build_context(_: Request | WebSocket, actor: Actor) -> CoursesContext:
        return CoursesContext(
            actor=actor,
            courses=courses,
            enrollments=enrollments,
            relay=store.relay,
            loaders=make_loaders(actor, courses, enrollments),
            progress=progress,
        )

    app = create_service_app(
        name="courses",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[store.mongodb],
    )
    app.state.relay = store.relay
    return app
