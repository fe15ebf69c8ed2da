"""Every assessments-store query and write: the only module that speaks MongoDB's query language.

Requests read and write by `_id` (ADR 0014): a course's assessments through its `CourseAssessments`
document, a learner's attempts through their derived ids. A user's attempt history and the sweeper's
expired attempts are the two filtered queries; MongoDB answers them from the declared indexes. Writes are
guarded by the version read before them, and writes that carry events tell the outbox relay.
"""

from collections.abc import Sequence
from datetime import datetime
from itertools import takewhile
from typing import Any

from beanie import SortDirection
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from coursegraph.events.document_outbox import DocumentOutboxRelay, Written
from coursegraph.mongo import get_by_ids, guarded_update
from coursegraph.pagination import Position
from coursegraph.unit_of_work import Decision, versioned_write
from subgraphs.assessments.models import Assessment, Attempt, AttemptStatus, CourseAssessments, attempt_id

# A learner's attempts are read by number, this many at a time (most learners have one or two).
ATTEMPTS_WINDOW = 4


class AssessmentRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get_many(self, ids: Sequence[str]) -> dict[str, Assessment]:
        found = await get_by_ids(Assessment, [ObjectId(i) for i in ids])
        return {str(a.id): a for a in found}

    async def of_courses(self, course_ids: Sequence[str]) -> dict[str, list[Assessment]]:
        """Each course's assessments, oldest first."""
        lists = await get_by_ids(CourseAssessments, list(course_ids))
        ids = {course.id: course.assessments for course in lists}
        found = await self.get_many([i for listed in ids.values() for i in listed])
        return {
            course_id: [found[i] for i in ids.get(course_id, []) if i in found] for course_id in course_ids
        }

    async def any_of_instructor(self, instructor_id: str) -> bool:
        return await Assessment.find_one({"instructor_id": instructor_id}) is not None

    async def get(self, assessment_id: str) -> Assessment | None:
        return await Assessment.find_one({"_id": ObjectId(assessment_id)})

    async def insert(self, created: Decision[Assessment]) -> Assessment:
        """Write a new assessment with its events in its outbox; answers it as written."""
        outbox = {"outbox": list(created.events), "outbox_pending": True}
        assessment: Assessment = created.state.model_copy(update=outbox)
        # The course's list first: if the assessment is never written, readers skip the entry.
        await guarded_update(
            CourseAssessments.get_pymongo_collection(),
            assessment.course_id,
            {},
            {"$addToSet": {"assessments": str(assessment.id)}},
            upsert=True,
        )
        await assessment.insert()
        self._relay.document_written(Assessment.Settings.name, assessment.id, Written.inserted(assessment))
        return assessment

    async def write(self, before: Assessment, decision: Decision[Assessment]) -> bool:
        """Write what the decision changed (with its events) only if nobody changed the assessment since
        it was read; whether it applied."""
        return await versioned_write(self._relay, Assessment.get_pymongo_collection(), before, decision)


class AttemptRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get(self, attempt: str | ObjectId) -> Attempt | None:
        return await Attempt.find_one({"_id": ObjectId(attempt) if isinstance(attempt, str) else attempt})

    async def get_many(self, ids: Sequence[str]) -> dict[str, Attempt]:
        found = await get_by_ids(Attempt, [ObjectId(i) for i in ids])
        return {str(a.id): a for a in found}

    async def of_learner(self, assessment_id: str, user_id: str) -> list[Attempt]:
        return (await self.of_learners([(assessment_id, user_id)]))[0]

    async def of_learners(self, keys: Sequence[tuple[str, str]]) -> list[list[Attempt]]:
        """Each (assessment id, user id)'s attempts, by number. Numbers are dense (1, 2, ...), so they are
        read a window at a time, every key's window in one batch, until each key finds one missing."""
        attempts: list[list[Attempt]] = [[] for _ in keys]
        reading = list(range(len(keys)))
        while reading:
            wanted = {
                attempt_id(*keys[k], n): k
                for k in reading
                for n in range(len(attempts[k]) + 1, len(attempts[k]) + 1 + ATTEMPTS_WINDOW)
            }
            found = {str(a.id): a for a in await get_by_ids(Attempt, list(wanted))}
            still = []
            for k in reading:
                start = len(attempts[k]) + 1
                window = [
                    found.get(str(attempt_id(*keys[k], n))) for n in range(start, start + ATTEMPTS_WINDOW)
                ]
                present = list(takewhile(lambda a: a is not None, window))  # dense: a gap ends the list
                attempts[k] += [a for a in present if a is not None]
                if len(present) == ATTEMPTS_WINDOW:
                    still.append(k)
            reading = still
        return attempts

    async def of_user(
        self, user_id: str, *, instructor_id: str | None, after: Position | None, limit: int
    ) -> list[Attempt]:
        """A user's attempts newest first (only at one instructor's courses, if given), after a position."""
        query: dict[str, Any] = {"user_id": user_id}
        if instructor_id is not None:
            query["instructor_id"] = instructor_id
        if after is not None:
            query["$or"] = [
                {"started_at": {"$lt": after.at}},
                {"started_at": after.at, "_id": {"$lt": ObjectId(after.id)}},
            ]
        return (
            await Attempt.find(query)
            .sort([("started_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)])
            .limit(limit)
            .to_list()
        )

    async def expired(self, deadline_before: datetime, *, limit: int) -> list[Attempt]:
        """Open attempts whose deadline is before the cutoff, oldest deadline first."""
        return (
            await Attempt.find(
                {"status": AttemptStatus.IN_PROGRESS.value, "deadline": {"$lt": deadline_before}}
            )
            .sort([("deadline", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )

    async def insert(self, attempt: Attempt) -> Attempt | None:
        """Write a new attempt; None when a concurrent start created this attempt number first."""
        try:
            await attempt.insert()
        except DuplicateKeyError:
            return None
        return attempt

    async def write(self, before: Attempt, decision: Decision[Attempt]) -> bool:
        """Write what the decision changed (with its events) only if the attempt is unchanged since read
        (so still as open as the decision found it): of two racing submits, one writes."""
        return await versioned_write(self._relay, Attempt.get_pymongo_collection(), before, decision)
