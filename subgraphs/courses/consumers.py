"""What the courses service does with assessment.events: requirements and passes, towards certificates."""

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from coursegraph.events import Event
from coursegraph.events.relay import Relay
from subgraphs.courses import service
from subgraphs.courses.repository import CourseRepository, EnrollmentRepository

ASSESSMENT_TOPIC = "assessment.events"
# Redeliveries come within Kafka's retention (days) and every step is idempotent anyway: older marks only
# take space.
PROCESSED_MARKS_KEPT = timedelta(days=30)


class AssessmentEventHandler:
    def __init__(
        self,
        courses: CourseRepository,
        enrollments: EnrollmentRepository,
        processed: AsyncCollection[dict[str, Any]],
        relay: Relay,
    ) -> None:
        self._courses = courses
        self._enrollments = enrollments
        self._processed = processed
        self._relay = relay

    async def __call__(self, event: Event) -> None:
        # Every step below is idempotent; the processed mark only saves work on redelivery.
        if await self._processed.find_one({"_id": str(event.event_id)}, {"_id": 1}) is not None:
            return
        metadata = event.metadata
        if event.event_type in ("ASSESSMENT_CREATED", "ASSESSMENT_UPDATED") and event.course_id:
            await service.set_required_assessment(
                self._courses,
                event.course_id,
                str(metadata["assessment_id"]),
                required=bool(metadata.get("required_for_completion")),
            )
        elif event.event_type == "ASSESSMENT_COMPLETED" and metadata.get("passed") and event.course_id:
            await service.record_assessment_pass(
                self._courses,
                self._enrollments,
                user_id=str(event.user_id),
                course_id=event.course_id,
                assessment_id=str(metadata["assessment_id"]),
            )
        # A completion just recorded its events: publish them now, not at the next poll.
        self._relay.notify()
        with contextlib.suppress(DuplicateKeyError):  # a concurrent redelivery marked it first
            await self._processed.insert_one({"_id": str(event.event_id), "processed_at": datetime.now(UTC)})

    async def forget_processed(self, before: datetime) -> int:
        """Delete the processed marks made before `before`; return how many."""
        result = await self._processed.delete_many({"processed_at": {"$lt": before}})
        return result.deleted_count
