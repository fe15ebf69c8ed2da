"""The courses subgraph app: MongoDB (FerretDB locally) store, document outbox relayed to course.events,
the catalog read model kept current from its own writes and course.events."""

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from pydantic import Field

from coursegraph.catalog_signal import Announcer, catalog_signal
from coursegraph.clock import system_clock
from coursegraph.document_store import DocumentStore
from coursegraph.events import Event, Topic
from coursegraph.events.consumer import event_consumer
from coursegraph.events.publisher import EventPublisher
from coursegraph.internal import InternalGraphQLClient
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import Periodic
from subgraphs.courses.activity import ActivityFeed
from subgraphs.courses.announcements import AnnouncementService
from subgraphs.courses.announcements_loaders import Announcements
from subgraphs.courses.catalog import Catalog
from subgraphs.courses.catalog_keeper import CatalogKeeper
from subgraphs.courses.consumers import (
    ASSESSMENT_TOPIC,
    AssessmentEventHandler,
    AssessmentTitleKeeper,
    CatalogRefresher,
    EnrollmentCounter,
    RosterKeeper,
)
from subgraphs.courses.context import CoursesContext
from subgraphs.courses.deadlines import DeadlineService
from subgraphs.courses.gradebook import GradebookService, viewer_grades_loader
from subgraphs.courses.loaders import make_deadline_loader, make_loaders
from subgraphs.courses.models import (
    Announcement,
    CalendarFeed,
    CalendarFeedOwner,
    Certificate,
    Course,
    CourseAnnouncements,
    CourseAssessmentTitles,
    CourseDeadlines,
    CourseGrading,
    Deadline,
    Enrollment,
    GradeRecord,
    Learner,
    MediaUse,
    Roster,
)
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.repository import (
    AnnouncementRepository,
    CalendarFeedRepository,
    CatalogStateRepository,
    CertificateRepository,
    CourseRepository,
    DeadlineRepository,
    EnrollmentRepository,
    GradebookRepository,
    LearnerRepository,
    ProcessedEventRepository,
    RosterRepository,
)
from subgraphs.courses.roster import RosterService
from subgraphs.courses.schema import schema
from subgraphs.courses.service import CourseService
from subgraphs.courses.users_client import UsersDirectory

# After starting from a snapshot, the full read that repairs it waits this long: the replica settles first.
CATALOG_RELOAD_AFTER_SNAPSHOT_SECONDS = 30.0


class CoursesSettings(ServiceSettings):
    courses_database: str = "coursegraph_courses"
    # The catalog read model is kept current by writes and events; a full reload repairs what they missed.
    catalog_reload_seconds: float = Field(default=900.0, gt=0)
    # How often a replica looks whether courses were written outside a request (the seed, a restore).
    catalog_generation_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    # How often the catalog is written as a snapshot (when it changed) for replicas that start later.
    catalog_snapshot_seconds: float = Field(default=300.0, gt=0)
    # Where calendar feeds are served (rest-compat, the public REST API): a feed's URL is this, then
    # `/calendar/<secret>.ics`. The notifications service links to the same API.
    public_api_url: str = "http://127.0.0.1:8080"


def create_app(settings: CoursesSettings | None = None, publisher: EventPublisher | None = None) -> FastAPI:
    settings = settings or CoursesSettings()
    store = DocumentStore.open(
        settings,
        service="courses",
        database=settings.courses_database,
        models=[
            *[Course, Enrollment, Learner, Certificate, MediaUse, Roster, Deadline],
            *[
                CourseDeadlines,
                CourseAssessmentTitles,
                CalendarFeed,
                CalendarFeedOwner,
            ],  # issue 17: deadlines
            *[CourseGrading, GradeRecord],  # issue 17: gradebook
            *[Announcement, CourseAnnouncements],  # issue 17: announcements
        ],
        publisher=publisher,
    )
    # Every change to the read model announces a new catalog version to the caches (ADR 0022).
    signal = catalog_signal(settings)
    announcer = Announcer(signal)
    catalog = Catalog(on_change=announcer.changed)
    course_repository = CourseRepository(store.relay)
    keeper = CatalogKeeper(catalog, course_repository, CatalogStateRepository(store.database), system_clock)
    service = CourseService(
        course_repository,
        EnrollmentRepository(store.relay),
        LearnerRepository(),
        CertificateRepository(),
        catalog,
        system_clock,
    )
    deadlines = DeadlineService(
        service,
        DeadlineRepository(store.relay),
        EnrollmentRepository(store.relay),
        LearnerRepository(),
        CalendarFeedRepository(),
        catalog,
        system_clock,
        feed_url=settings.public_api_url.rstrip("/") + "/calendar/{token}.ics",
    )
    announcements = AnnouncementService(
        service,
        AnnouncementRepository(store.relay),
        EnrollmentRepository(store.relay),
        RosterRepository(),
        system_clock,
    )
    gradebook = GradebookService(service, RosterRepository(), GradebookRepository(), system_clock)
    assessment_events = AssessmentEventHandler(
        service, ProcessedEventRepository(store.database["processed_events"]), system_clock, gradebook
    )
    assessment_titles = AssessmentTitleKeeper(deadlines)

    async def assessments(event: Event) -> None:
        await assessment_events(event)
        await assessment_titles(event)

    consumer = event_consumer(
        settings, service="courses", group_id="courses", topics=[ASSESSMENT_TOPIC], handler=assessments
    )
    enrollment_counter, roster_keeper = EnrollmentCounter(service), RosterKeeper(RosterRepository())
    users = UsersDirectory(
        InternalGraphQLClient.with_client_credentials(
            settings, service="courses", url=settings.users_subgraph_url
        )
    )
    roster = RosterService(
        course_repository,
        EnrollmentRepository(store.relay),
        LearnerRepository(),
        RosterRepository(),
        catalog,
        users,
        system_clock,
    )

    async def one_replica(event: Event) -> None:
        await enrollment_counter(event)
        await roster_keeper(event)

    counter = event_consumer(
        settings,
        service="courses",
        group_id="courses-enrollment-counts",
        topics=[Topic.COURSE],
        handler=one_replica,
    )
    progress = ProgressFeed()
    activity = ActivityFeed()
    refresher = CatalogRefresher(keeper)

    async def every_replica(event: Event) -> None:
        await progress(event)
        await activity(event)
        await refresher(event)

    # Every replica reads every new event: its subscribers hear of writes any replica made (ADR 0033).
    listener = event_consumer(
        settings,
        service="courses",
        group_id=None,
        topics=[Topic.COURSE, Topic.ASSESSMENT],
        handler=every_replica,
    )
    housekeeping = [
        Periodic(
            "processed-event marks cleanup", assessment_events.forget_processed, interval_seconds=24 * 3600
        ),
        Periodic(
            "catalog generation",
            keeper.follow_generation,
            interval_seconds=settings.catalog_generation_poll_seconds,
            first_delay_seconds=settings.catalog_generation_poll_seconds,
        ),
        Periodic(
            "catalog snapshot",
            keeper.save_snapshot,
            interval_seconds=settings.catalog_snapshot_seconds,
            first_delay_seconds=settings.catalog_snapshot_seconds,
        ),
    ]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await signal.start()
        await store.start()
        # Listening first: a write another replica makes while the catalog loads still reaches it.
        await listener.start()
        from_snapshot = await keeper.start()
        # Started from a snapshot: a full read soon repairs what changed since it was taken (ADR 0025).
        reload = Periodic(
            "catalog reload",
            keeper.reload,
            interval_seconds=settings.catalog_reload_seconds,
            first_delay_seconds=(
                min(CATALOG_RELOAD_AFTER_SNAPSHOT_SECONDS, settings.catalog_reload_seconds)
                if from_snapshot
                else settings.catalog_reload_seconds
            ),
        )
        await consumer.start()
        await counter.start()
        for task in [*housekeeping, reload]:
            task.start()
        try:
            yield
        finally:
            for task in [*housekeeping, reload]:
                await task.stop()
            await counter.stop()
            await consumer.stop()
            await listener.stop()
            # The next replica to start finds this one's catalog (best effort: a crash leaves an older one).
            with contextlib.suppress(Exception):
                await keeper.save_snapshot()
            await store.stop()
            await announcer.flush()
            await signal.stop()
            await users.close()

    async def build_context(_: Request | WebSocket, actor: Actor) -> CoursesContext:
        loaders = make_loaders(service, actor)
        return CoursesContext(
            actor=actor,
            service=service,
            loaders=loaders,
            progress=progress,
            deadlines=deadlines,
            deadlines_by_course=make_deadline_loader(deadlines, loaders, actor),
            gradebook=gradebook,
            viewer_grades=viewer_grades_loader(gradebook, actor),
            announcements=Announcements.for_request(announcements, actor, loaders),
            roster=roster,
            activity=activity,
        )

    app = create_service_app(
        name="courses",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[store.mongodb],
        # Fail-open: without Redis the caches bypass themselves; readiness says so, and stays ready.
        readiness_report=lambda: {"catalog_signal": signal.describe()},
    )
    app.state.relay = store.relay
    return app
