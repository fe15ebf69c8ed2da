"""The courses subgraph app: MongoDB (FerretDB locally) store, document outbox relayed to course.events."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket

from coursegraph.events import Topic
from coursegraph.events.consumer import event_consumer
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.wiring import publisher_from_settings
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from subgraphs.courses.consumers import ASSESSMENT_TOPIC, AssessmentEventHandler
from subgraphs.courses.context import CoursesContext, make_loaders
from subgraphs.courses.models import Course, Enrollment
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.repository import CourseRepository, EnrollmentRepository
from subgraphs.courses.schema import schema


class CoursesSettings(ServiceSettings):
    courses_database: str = "coursegraph_courses"


def create_app(settings: CoursesSettings | None = None, publisher: EventPublisher | None = None) -> FastAPI:
    settings = settings or CoursesSettings()
    client = mongo_client(settings.document_store_url, service="courses")
    database = client[settings.courses_database]
    publisher = publisher or publisher_from_settings(settings, client_id="courses")
    relay = DocumentOutboxRelay(
        [database[Course.Settings.name], database[Enrollment.Settings.name]],
        publisher,
        poll_seconds=settings.outbox_poll_seconds,
        max_backoff_seconds=settings.outbox_max_backoff_seconds,
    )
    courses, enrollments = CourseRepository(), EnrollmentRepository()
    consumer = event_consumer(
        settings,
        group_id="courses",
        topics=[ASSESSMENT_TOPIC],
        handler=AssessmentEventHandler(courses, enrollments, database["processed_events"]),
    )
    progress = ProgressFeed()
    progress_listener = event_consumer(settings, group_id=None, topics=[Topic.COURSE], handler=progress)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await init_models(client, settings.courses_database, [Course, Enrollment])
        relay.start()
        await consumer.start()
        await progress_listener.start()
        try:
            yield
        finally:
            await progress_listener.stop()
            await consumer.stop()
            await relay.stop()
            await publisher.close()
            await client.close()

    async def build_context(_: Request | WebSocket, actor: Actor) -> CoursesContext:
        return CoursesContext(
            actor=actor,
            courses=courses,
            enrollments=enrollments,
            relay=relay,
            loaders=make_loaders(actor, courses, enrollments),
            progress=progress,
        )

    async def mongodb() -> None:
        await client.admin.command("ping")

    app = create_service_app(
        name="courses",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[mongodb],
    )
    app.state.relay = relay
    return app
