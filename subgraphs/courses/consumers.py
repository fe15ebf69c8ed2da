"""What the courses service does with events: assessment.events towards certificates, and its own
course.events to keep enrollment counts and the catalog of every replica current."""

from datetime import timedelta

from coursegraph.clock import Clock
from coursegraph.events import Event
from coursegraph.security import Actor
from subgraphs.courses.catalog_keeper import CatalogKeeper
from subgraphs.courses.deadlines import DeadlineService
from subgraphs.courses.events import CourseEventType
from subgraphs.courses.gradebook import GradebookService
from subgraphs.courses.models import GradedAssessment, ScorePolicy
from subgraphs.courses.repository import ProcessedEventRepository, RosterRepository
from subgraphs.courses.service import CourseService

ASSESSMENT_TOPIC = "assessment.events"
# Redeliveries come within Kafka's retention (days) and every step is idempotent anyway: older marks only
# take space.
PROCESSED_MARKS_KEPT = timedelta(days=30)
# Consumers act as the service itself.
COURSES_SERVICE = Actor(service="courses")
# Events after which a course reads differently in the catalog.
# What the gradebook learns from (issue 17).
GRADE_EVENTS = {"ASSESSMENT_CREATED", "ASSESSMENT_UPDATED", "ASSESSMENT_COMPLETED"}
CATALOG_EVENTS = {
    CourseEventType.COURSE_CREATED,
    CourseEventType.COURSE_UPDATED,
    CourseEventType.COURSE_PUBLISHED,
    CourseEventType.COURSE_ARCHIVED,
    CourseEventType.COURSE_ENROLLED,
    # issue 17: a count and a course's teaching assistants change
    CourseEventType.ENROLLMENT_REMOVED,
    CourseEventType.COURSE_ROLE_CHANGED,
}


class AssessmentEventHandler:
    def __init__(
        self,
        service: CourseService,
        processed: ProcessedEventRepository,
        clock: Clock,
        gradebook: GradebookService | None = None,
    ) -> None:
        self._service = service
        self._processed = processed
        self._clock = clock
        self._gradebook = gradebook

    async def __call__(self, event: Event) -> None:
        # Every step below is idempotent; the processed mark only saves work on redelivery.
        if await self._processed.seen(str(event.event_id)):
            return
        metadata = event.metadata
        if event.event_type in ("ASSESSMENT_CREATED", "ASSESSMENT_UPDATED") and event.course_id:
            await self._service.set_required_assessment(
                COURSES_SERVICE,
                event.course_id,
                str(metadata["assessment_id"]),
                required=bool(metadata.get("required_for_completion")),
            )
        elif event.event_type == "ASSESSMENT_COMPLETED" and metadata.get("passed") and event.course_id:
            await self._service.record_assessment_pass(
                COURSES_SERVICE,
                user_id=str(event.user_id),
                course_id=event.course_id,
                assessment_id=str(metadata["assessment_id"]),
            )
        if self._gradebook is not None and event.event_type in GRADE_EVENTS and await self._known(event):
            await learn_grades(self._gradebook, event)
        await self._processed.remember(str(event.event_id), self._clock())

    async def _known(self, event: Event) -> bool:
        """Whether the event's course is this store's: grades are kept for those only (from the catalog;
        a course it does not know is read once, and nothing is written for one that does not exist)."""
        return (
            bool(event.course_id) and (await self._service.any_courses([str(event.course_id)]))[0] is not None
        )

    async def forget_processed(self) -> int:
        return await self._processed.forget_before(self._clock() - PROCESSED_MARKS_KEPT)


async def learn_grades(gradebook: GradebookService, event: Event) -> None:
    """The gradebook's part of assessment.events (issue 17): its columns, and each scored attempt.
    Idempotent: an attempt recorded already changes nothing, whatever order attempts arrive in."""
    metadata, course_id = event.metadata, str(event.course_id)
    if event.event_type in ("ASSESSMENT_CREATED", "ASSESSMENT_UPDATED"):
        assessment = GradedAssessment(
            id=str(metadata["assessment_id"]),
            title=str(metadata.get("title", "")),
            # Events from before issue 17 lack these: the assessments service's defaults.
            score_policy=ScorePolicy(metadata.get("score_policy", ScorePolicy.BEST)),
            max_score=float(metadata.get("max_score", 0.0)),
        )
        await gradebook.learn_assessment(COURSES_SERVICE, course_id, assessment)
    elif event.event_type == "ASSESSMENT_COMPLETED" and event.user_id:
        await gradebook.record_result(
            COURSES_SERVICE,
            course_id=course_id,
            user_id=str(event.user_id),
            assessment_id=str(metadata["assessment_id"]),
            attempt=int(metadata["attempt_number"]),
            percent=float(metadata["percent"]),
            # The attempt was closed when its event was made (the envelope's time).
            submitted_at=event.timestamp,
        )


class EnrollmentCounter:
    """course.events, one replica each (a consumer group): counts an enrollment not marked counted (the
    request that enrolls counts first and writes it marked, ADR 0027: these were written before that).
    Counting twice changes nothing."""

    def __init__(self, service: CourseService) -> None:
        self._service = service

    async def __call__(self, event: Event) -> None:
        if event.event_type == CourseEventType.COURSE_ENROLLED:
            await self._service.count_enrollment_by_id(str(event.metadata["enrollment_id"]))


class RosterKeeper:
    """course.events, one replica each: adds an enrolled learner to the course's roster (ADR 0031), so
    that enrolling itself stays three writes. Adding twice changes nothing."""

    def __init__(self, rosters: RosterRepository) -> None:
        self._rosters = rosters

    async def __call__(self, event: Event) -> None:
        if event.event_type == CourseEventType.COURSE_ENROLLED and event.course_id and event.user_id:
            await self._rosters.add(event.course_id, [str(event.user_id)])
        # The request removed them already; an add from an older COURSE_ENROLLED (the same key, so
        # delivered before this) is undone again.
        elif event.event_type == CourseEventType.ENROLLMENT_REMOVED and event.course_id and event.user_id:
            await self._rosters.remove(event.course_id, [str(event.user_id)])


class CatalogRefresher:
    """course.events, every replica (a broadcast listener): re-reads a course another replica changed."""

    def __init__(self, keeper: CatalogKeeper) -> None:
        self._keeper = keeper

    async def __call__(self, event: Event) -> None:
        if event.event_type in CATALOG_EVENTS and event.course_id:
            await self._keeper.refresh(event.course_id)


# --- issue 17: deadlines ---


class AssessmentTitleKeeper:
    """assessment.events, one replica each: remembers each course's assessments and their titles, where a
    deadline's assessment is checked (ADR 0031 "Deadlines"). Remembering twice changes nothing."""

    def __init__(self, deadlines: DeadlineService) -> None:
        self._deadlines = deadlines

    async def __call__(self, event: Event) -> None:
        if event.event_type in ("ASSESSMENT_CREATED", "ASSESSMENT_UPDATED") and event.course_id:
            metadata = event.metadata
            await self._deadlines.remember_assessment(
                COURSES_SERVICE, event.course_id, str(metadata["assessment_id"]), str(metadata["title"])
            )
