"""Every courses-store query and write: the only module that speaks MongoDB's query language.

Requests read and write by `_id` alone (ADR 0014): lists come from the catalog read model or from a
learner's `Learner` document, and each write is guarded by the version read before it (the enrollment
count by the course being published and the enrollment not yet counted, ADR 0027). Filters are built
only from typed values, never from a client's document. Writes that carry events tell the outbox relay.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from coursegraph.codes import Reason
from coursegraph.errors import Conflict
from coursegraph.events.document_outbox import DocumentOutboxRelay, Written
from coursegraph.mongo import delete_ids, get_by_ids, guarded_update, guarded_update_returning
from coursegraph.unit_of_work import Decision, changed_fields, versioned_write
from subgraphs.courses.catalog import CourseSummary, LessonOutline, ModuleOutline
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
    CourseStatus,
    Deadline,
    Enrollment,
    EnrollmentStatus,
    GradeRecord,
    Learner,
    MediaUse,
    Roster,
    deadline_id,
    enrollment_id,
    grade_record_id,
)

Events = Sequence[dict[str, Any]]
# What lists show of a course: no lesson bodies, no outbox (MongoDB drops them at the source).
SUMMARY_PROJECTION = {"modules.lessons.content": 0, "outbox": 0, "counted_enrollments": 0}
# MongoDB's (and FerretDB's) error code of an insert whose _id is taken.
DUPLICATE_KEY = 11000
# How many recently counted enrollments a course remembers (a redelivery comes within seconds).
COUNTED_KEPT = 16


def _object_id(value: str | ObjectId) -> ObjectId:
    return value if isinstance(value, ObjectId) else ObjectId(value)


def summary_of(document: Mapping[str, Any]) -> CourseSummary:
    """A course document (whole or projected) as the catalog keeps it."""
    modules = tuple(
        ModuleOutline(
            id=module["id"],
            title=module["title"],
            order=module["order"],
            lessons=tuple(
                LessonOutline(
                    id=lesson["id"],
                    title=lesson["title"],
                    order=lesson["order"],
                    media_url=lesson.get("media_url"),
                )
                for lesson in module.get("lessons", [])
            ),
        )
        for module in document.get("modules", [])
    )
    title = str(document["title"])
    return CourseSummary(
        id=str(document["_id"]),
        title=title,
        description=document.get("description", ""),
        instructor_id=document["instructor_id"],
        status=CourseStatus(document["status"]),
        lesson_count=document.get("lesson_count", 0),
        enrollment_count=document.get("enrollment_count", 0),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        published_at=document.get("published_at"),
        modules=modules,
        version=document.get("version", 0),
        folded_title=title.casefold(),
        teaching_assistants=tuple(document.get("teaching_assistants", ())),
        required_assessments=tuple(document.get("required_assessments", ())),
    )


async def summaries_in(courses: AsyncCollection[dict[str, Any]]) -> list[CourseSummary]:
    """Every course of this collection as the catalog keeps it (lesson bodies left out at the source)."""
    return [summary_of(document) async for document in courses.find({}, SUMMARY_PROJECTION)]


class CourseRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    @staticmethod
    def _collection() -> Any:
        return Course.get_pymongo_collection()

    async def get(self, course_id: str) -> Course | None:
        """The whole course, lesson bodies included."""
        return await Course.find_one({"_id": _object_id(course_id)})

    async def get_many(self, course_ids: Sequence[str]) -> dict[str, Course]:
        found = await get_by_ids(Course, [_object_id(i) for i in course_ids])
        return {str(course.id): course for course in found}

    async def summary(self, course_id: str) -> CourseSummary | None:
        document = await self._collection().find_one({"_id": _object_id(course_id)}, SUMMARY_PROJECTION)
        return None if document is None else summary_of(document)

    async def outline(self, course_id: str) -> Course | None:
        """The course without its lessons' bodies (empty here): for deciding on its learners, never to
        be written back."""
        document = await self._collection().find_one({"_id": _object_id(course_id)}, SUMMARY_PROJECTION)
        return None if document is None else Course.model_validate(document)

    async def all_summaries(self) -> list[CourseSummary]:
        """Every course, for loading the catalog read model (the one full read, at start and reload)."""
        return await summaries_in(self._collection())

    async def insert(self, course: Course) -> Course:
        await course.insert()
        self._relay.document_written(Course.Settings.name, course.id, Written.inserted(course))
        return course

    async def write(self, before: Course, decision: Decision[Course]) -> bool:
        """Write what was decided, only if nobody changed the course since `before` was read."""
        return await versioned_write(self._relay, self._collection(), before, decision)

    async def count_enrollment(
        self, course_id: str, enrollment: str, *, open_only: bool = True
    ) -> CourseSummary | None:
        """Add one enrollment to the course's count, once (the last ids counted are remembered), and
        only while it is published (`open_only`); the course as counted, or None if it was not (counted
        already, gone, or not open)."""
        guard: dict[str, Any] = {"counted_enrollments": {"$ne": enrollment}}
        if open_only:
            guard["status"] = CourseStatus.PUBLISHED.value
        update = {
            "$inc": {"enrollment_count": 1, "version": 1},
            "$push": {"counted_enrollments": {"$each": [enrollment], "$slice": -COUNTED_KEPT}},
        }
        document = await guarded_update_returning(
            self._collection(), _object_id(course_id), guard, update, projection=SUMMARY_PROJECTION
        )
        return None if document is None else summary_of(document)

    async def add_to_count(self, course_id: str, change: int) -> CourseSummary | None:
        """Add `change` (negative: take away) to the course's count, for enrollments a roster request made
        or removed (issue 17): one update for a whole batch."""
        update = {"$inc": {"enrollment_count": change, "version": 1}}
        document = await guarded_update_returning(
            self._collection(), _object_id(course_id), {}, update, projection=SUMMARY_PROJECTION
        )
        return None if document is None else summary_of(document)

    async def uncount_enrollment(self, course_id: str, enrollment: str) -> CourseSummary | None:
        """Take a removed enrollment out of the course's count, and out of the ids counted lately: enrolling
        again counts it again."""
        update = {
            "$inc": {"enrollment_count": -1, "version": 1},
            "$pull": {"counted_enrollments": enrollment},
        }
        document = await guarded_update_returning(
            self._collection(), _object_id(course_id), {}, update, projection=SUMMARY_PROJECTION
        )
        return None if document is None else summary_of(document)


class EnrollmentRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get(self, user_id: str, course_id: str) -> Enrollment | None:
        return await Enrollment.find_one({"_id": enrollment_id(user_id, course_id)})

    async def get_many(self, ids: Sequence[str | ObjectId]) -> dict[str, Enrollment]:
        found = await get_by_ids(Enrollment, [_object_id(i) for i in ids])
        return {str(e.id): e for e in found}

    async def of_user(self, user_id: str, course_ids: Sequence[str]) -> dict[str, Enrollment]:
        """The user's enrollments in these courses, by course id."""
        found = await self.get_many([enrollment_id(user_id, course_id) for course_id in course_ids])
        return {e.course_id: e for e in found.values()}

    async def of_pairs(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Enrollment]:
        """Enrollments of (user id, course id) pairs, in one batch."""
        found = await self.get_many([enrollment_id(user_id, course_id) for user_id, course_id in pairs])
        return {(e.user_id, e.course_id): e for e in found.values()}

    async def insert(self, enrollment: Enrollment) -> Enrollment:
        """Raises Conflict when the learner is already enrolled (the id, and the unique index, collide)."""
        try:
            await enrollment.insert()
        except DuplicateKeyError as exc:
            raise Conflict(
                "Already enrolled in this course.", details={"reason": Reason.ALREADY_ENROLLED}
            ) from exc
        self._relay.document_written(Enrollment.Settings.name, enrollment.id, Written.inserted(enrollment))
        return enrollment

    async def insert_many(self, enrollments: Sequence[Enrollment]) -> set[ObjectId]:
        """Insert new enrollments in one unordered batch; the ids that were already there (a learner who
        enrolled meanwhile) are answered, the others written."""
        if not enrollments:
            return set()
        collection = Enrollment.get_pymongo_collection()
        taken: set[ObjectId] = set()
        try:
            await collection.insert_many([e.model_dump(by_alias=True) for e in enrollments], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            taken = {error["op"]["_id"] for error in errors}
        for enrollment in enrollments:
            if enrollment.id not in taken:
                self._relay.document_written(Enrollment.Settings.name, enrollment.id)
        return taken

    async def write(self, before: Enrollment, decision: Decision[Enrollment]) -> bool:
        """Write what was decided, only if nobody changed the enrollment since `before` was read."""
        return await versioned_write(self._relay, Enrollment.get_pymongo_collection(), before, decision)

    async def mark_counted(self, enrollment: Enrollment) -> None:
        await guarded_update(
            Enrollment.get_pymongo_collection(), enrollment.id, {}, {"$set": {"counted": True}}
        )


class LearnerRepository:
    async def courses_of(self, user_id: str) -> list[str]:
        """The courses the user enrolled in, oldest enrollment first (and, rarely, one whose enrollment
        a crash left unwritten: the enrollment documents are the truth)."""
        learner = await Learner.find_one({"_id": user_id})
        return [] if learner is None else learner.courses

    async def courses_of_many(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        found = await get_by_ids(Learner, list(user_ids))
        return {learner.id: learner.courses for learner in found}

    async def add_course(self, user_id: str, course_id: str) -> bool:
        """Add the course to the user's list; whether it was not there yet."""
        return await guarded_update(
            Learner.get_pymongo_collection(), user_id, {}, {"$addToSet": {"courses": course_id}}, upsert=True
        )

    async def add_course_to_many(self, user_ids: Sequence[str], course_id: str) -> None:
        """Add the course to each user's list, concurrently (each list is its own document)."""
        await asyncio.gather(*(self.add_course(user_id, course_id) for user_id in user_ids))

    async def remove_course(self, user_id: str, course_id: str) -> None:
        await guarded_update(Learner.get_pymongo_collection(), user_id, {}, {"$pull": {"courses": course_id}})


class RosterRepository:
    async def learners(self, course_id: str) -> list[str]:
        """The course's learners, oldest enrollment first. A roster not known complete is completed
        from the enrollments first: one filtered read (FerretDB scans for it), once per course."""
        roster = await Roster.find_one({"_id": course_id})
        if roster is not None and roster.complete:
            return roster.learners
        # A removed learner (issue 17) is not on the roster.
        enrolled = Enrollment.get_pymongo_collection().find(
            {"course_id": course_id, "status": {"$ne": EnrollmentStatus.REMOVED.value}},
            {"user_id": 1, "enrolled_at": 1},
        )
        found = sorted([(e["enrolled_at"], e["user_id"]) async for e in enrolled])
        user_ids = [user_id for _, user_id in found]
        # $addToSet keeps whatever an add wrote meanwhile (then the roster's order is not the enrollments').
        await self._update(
            course_id, {"$addToSet": {"learners": {"$each": user_ids}}, "$set": {"complete": True}}
        )
        roster = await Roster.find_one({"_id": course_id})
        return [] if roster is None else roster.learners

    async def add(self, course_id: str, user_ids: Sequence[str]) -> None:
        await self._update(course_id, {"$addToSet": {"learners": {"$each": list(user_ids)}}})

    async def remove(self, course_id: str, user_ids: Sequence[str]) -> None:
        await self._update(course_id, {"$pullAll": {"learners": list(user_ids)}})

    @staticmethod
    async def _update(course_id: str, update: dict[str, Any]) -> None:
        # FerretDB applies no update atomically (ADR 0010): guarded_update serialises this process's.
        await guarded_update(Roster.get_pymongo_collection(), course_id, {}, update, upsert=True)


class MediaUseRepository:
    async def courses_of(self, media_id: str) -> list[str]:
        use = await MediaUse.find_one({"_id": media_id})
        return [] if use is None else use.courses

    async def add(self, media_ids: Sequence[str], course_id: str) -> None:
        for media_id in media_ids:
            await guarded_update(
                MediaUse.get_pymongo_collection(),
                media_id,
                {},
                {"$addToSet": {"courses": course_id}},
                upsert=True,
            )


class CertificateRepository:
    async def enrollment_of(self, code: str) -> str | None:
        certificate = await Certificate.find_one({"_id": code})
        return None if certificate is None else certificate.enrollment_id

    async def insert(self, code: str, enrollment: str) -> None:
        await Certificate(id=code, enrollment_id=enrollment).insert()


class ProcessedEventRepository:
    """The events a consumer of this service has handled, by event id (its de-duplication)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection

    async def seen(self, event_id: str) -> bool:
        return await self._collection.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def remember(self, event_id: str, at: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a concurrent redelivery marked it first
            await self._collection.insert_one({"_id": event_id, "processed_at": at})

    async def forget_before(self, before: datetime) -> int:
        """Delete the marks made before `before` (a daily job: FerretDB has no TTL indexes)."""
        result = await self._collection.delete_many({"processed_at": {"$lt": before}})
        return result.deleted_count


# At most this much of a snapshot per document (MongoDB's limit is 16 MiB; small documents also keep each
# FerretDB read short).
SNAPSHOT_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SnapshotHead:
    generation: int
    taken_at: datetime
    chunks: list[str]
    courses: int


class CatalogStateRepository:
    """The catalog's generation and its latest snapshot (ADR 0025), two small documents by `_id`.

    The generation changes whenever courses are written outside a request (the seed, a restore): every
    replica reads it every few seconds (a lookup by `_id`) and, when it moved, loads the catalog again.
    The snapshot is the catalog as one replica last knew it, compressed, so that a replica starts without
    reading every course document.
    """

    def __init__(self, database: Any) -> None:
        self._state = database["catalog_state"]
        self._chunks = database["catalog_snapshot_chunks"]

    async def generation(self) -> int:
        found = await self._state.find_one({"_id": "generation"})
        return int(found["value"]) if found else 0

    async def advance_generation(self) -> int:
        """Tell every replica that courses changed outside its knowledge; the new generation."""
        found = await self._state.find_one_and_update(
            {"_id": "generation"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(found["value"])

    async def snapshot_head(self) -> SnapshotHead | None:
        found = await self._state.find_one({"_id": "snapshot"})
        if found is None:
            return None
        return SnapshotHead(found["generation"], found["taken_at"], list(found["chunks"]), found["courses"])

    async def read_snapshot(self, head: SnapshotHead) -> bytes | None:
        """The snapshot's bytes, or None if a chunk is gone (a newer snapshot replaced it meanwhile)."""
        parts = []
        for chunk_id in head.chunks:
            found = await self._chunks.find_one({"_id": chunk_id})
            if found is None:
                return None
            parts.append(bytes(found["data"]))
        return b"".join(parts)

    async def write_snapshot(self, blob: bytes, *, generation: int, taken_at: datetime, courses: int) -> bool:
        """Store a snapshot taken under `generation`, unless a snapshot of a later generation is there;
        whether it was stored. Readers of the old snapshot find its chunks gone and read the new one."""
        snapshot = uuid.uuid4().hex
        chunks = [
            {"_id": f"{snapshot}:{index}", "data": Binary(blob[start : start + SNAPSHOT_CHUNK_BYTES])}
            for index, start in enumerate(range(0, max(len(blob), 1), SNAPSHOT_CHUNK_BYTES))
        ]
        await self._chunks.insert_many(chunks)
        previous = await self.snapshot_head()
        head = {
            "generation": generation,
            "taken_at": taken_at,
            "chunks": [chunk["_id"] for chunk in chunks],
            "courses": courses,
        }
        stored = False
        if previous is None or previous.generation <= generation:
            # The collection holds two documents: this filter costs nothing, even where FerretDB scans.
            with contextlib.suppress(DuplicateKeyError):  # a later generation's head got there first
                result = await self._state.update_one(
                    {"_id": "snapshot", "generation": {"$lte": generation}}, {"$set": head}, upsert=True
                )
                stored = result.matched_count + (1 if result.upserted_id is not None else 0) > 0
        stale = [chunk["_id"] for chunk in chunks] if not stored else (previous.chunks if previous else [])
        await delete_ids(self._chunks, stale)
        return stored


# --- issue 17: deadlines ---


class DeadlineRepository:
    """Deadlines, the list of each course's deadline targets, and the titles of each course's assessments:
    every read by `_id` (a deadline's is derived from its course and target)."""

    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get(self, course_id: str, target_id: str) -> Deadline | None:
        return await Deadline.find_one({"_id": deadline_id(course_id, target_id)})

    async def of_targets(self, pairs: Sequence[tuple[str, str]]) -> list[Deadline]:
        """The deadlines of (course id, target id) pairs that exist, in one batch."""
        return await get_by_ids(Deadline, [deadline_id(course_id, target) for course_id, target in pairs])

    async def targets_of(self, course_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each course's deadline targets (set or cleared since), in one batch."""
        found = await get_by_ids(CourseDeadlines, list(course_ids))
        return {listed.id: listed.targets for listed in found}

    async def insert(self, deadline: Deadline) -> bool:
        """Listed under its course first (readers skip a target with no deadline); False when a concurrent
        request inserted the same deadline first."""
        await guarded_update(
            CourseDeadlines.get_pymongo_collection(),
            deadline.course_id,
            {},
            {"$addToSet": {"targets": deadline.target_id}},
            upsert=True,
        )
        try:
            await deadline.insert()
        except DuplicateKeyError:
            return False
        self._relay.document_written(Deadline.Settings.name, deadline.id)
        return True

    async def write(self, before: Deadline, decision: Decision[Deadline]) -> bool:
        return await versioned_write(self._relay, Deadline.get_pymongo_collection(), before, decision)

    async def assessment_titles(self, course_id: str) -> dict[str, str]:
        found = await CourseAssessmentTitles.find_one({"_id": course_id})
        return {} if found is None else found.titles

    async def remember_assessment(self, course_id: str, assessment_id: str, title: str) -> None:
        # An ObjectId's hex has no `.` or `$`: a safe key.
        await guarded_update(
            CourseAssessmentTitles.get_pymongo_collection(),
            course_id,
            {},
            {"$set": {f"titles.{ObjectId(assessment_id)}": title}},
            upsert=True,
        )


class CalendarFeedRepository:
    """Calendar feed secrets: the owner of a secret's hash, and each user's current secret."""

    async def owner_of(self, key: str) -> str | None:
        feed = await CalendarFeed.find_one({"_id": key})
        return None if feed is None else feed.user_id

    async def token_of(self, user_id: str) -> str | None:
        owner = await CalendarFeedOwner.find_one({"_id": user_id})
        return None if owner is None else owner.token

    async def create(self, user_id: str, token: str, key: str) -> str:
        """The user's first secret, or the one a concurrent first request stored (this one is dropped)."""
        await CalendarFeed(id=key, user_id=user_id).insert()
        try:
            await CalendarFeedOwner(id=user_id, token=token).insert()
        except DuplicateKeyError:
            await delete_ids(CalendarFeed.get_pymongo_collection(), [key])
            existing = await self.token_of(user_id)
            assert existing is not None  # owners are never deleted
            return existing
        return token

    async def replace(self, user_id: str, old: tuple[str, str], new: tuple[str, str]) -> bool:
        """Replace the user's (token, key) `old` by `new`; False if another rotation came first. The old
        key's lookup is deleted after: until then it names a token that is no longer the owner's."""
        await CalendarFeed(id=new[1], user_id=user_id).insert()
        if not await guarded_update(
            CalendarFeedOwner.get_pymongo_collection(),
            user_id,
            {"token": old[0]},
            {"$set": {"token": new[0]}},
        ):
            await delete_ids(CalendarFeed.get_pymongo_collection(), [new[1]])
            return False
        await delete_ids(CalendarFeed.get_pymongo_collection(), [old[1]])
        return True


# --- issue 17: gradebook ---


class GradebookRepository:
    """The gradebook's documents (ADR 0031 "Gradebook"), every one read by `_id`: a course's grading
    (`CourseGrading`, by the course's id), learners' grade records and the course's deadlines (ids derived
    from course and learner, course and assessment), each batch one query."""

    async def grading(self, course_id: str) -> CourseGrading | None:
        return await CourseGrading.find_one({"_id": course_id})

    async def grading_or_new(self, course_id: str) -> CourseGrading:
        """The course's grading, or a new empty one (version 0) that `write_grading` inserts."""
        return await self.grading(course_id) or CourseGrading(id=course_id)

    async def write_grading(self, before: CourseGrading, decision: Decision[CourseGrading]) -> bool:
        return await _write_or_insert(CourseGrading, before, decision)

    async def record(self, course_id: str, user_id: str) -> GradeRecord | None:
        return await GradeRecord.find_one({"_id": grade_record_id(course_id, user_id)})

    async def record_or_new(self, course_id: str, user_id: str) -> GradeRecord:
        return await self.record(course_id, user_id) or GradeRecord(
            id=grade_record_id(course_id, user_id), course_id=course_id, user_id=user_id
        )

    async def write_record(self, before: GradeRecord, decision: Decision[GradeRecord]) -> bool:
        return await _write_or_insert(GradeRecord, before, decision)

    async def records(self, course_id: str, user_ids: Sequence[str]) -> dict[str, GradeRecord]:
        """The grade records of these learners that exist, by user id: one batch."""
        found = await get_by_ids(GradeRecord, [grade_record_id(course_id, u) for u in user_ids])
        return {record.user_id: record for record in found}

    async def deadlines(self, course_id: str, target_ids: Sequence[str]) -> dict[str, Deadline]:
        """The deadlines set on these targets, by target id: one batch."""
        found = await self.deadlines_of([(course_id, t) for t in target_ids])
        return {target: deadline for (_, target), deadline in found.items()}

    async def gradings(self, course_ids: Sequence[str]) -> dict[str, CourseGrading]:
        return {grading.id: grading for grading in await get_by_ids(CourseGrading, list(course_ids))}

    async def records_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], GradeRecord]:
        """Grade records of (course id, user id) pairs, in one batch."""
        found = await get_by_ids(GradeRecord, [grade_record_id(c, u) for c, u in pairs])
        return {(record.course_id, record.user_id): record for record in found}

    async def deadlines_of(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Deadline]:
        """Deadlines of (course id, target id) pairs, in one batch."""
        found = await get_by_ids(Deadline, [deadline_id(c, t) for c, t in pairs])
        return {(deadline.course_id, deadline.target_id): deadline for deadline in found}


async def _write_or_insert(model: Any, before: Any, decision: Decision[Any]) -> bool:
    """A new document (version 0, never stored) is inserted; a stored one written guarded by its version.
    Whether it applied: an insert that collides lost a race, and `change` decides again on the stored one."""
    if before.version == 0:
        document = decision.state.model_dump(by_alias=True, exclude={"revision_id"})
        try:
            await model.get_pymongo_collection().insert_one({**document, "version": 1})
        except DuplicateKeyError:
            return False
        return True
    fields = changed_fields(before, decision.state)
    if not fields:
        return True
    return await guarded_update(
        model.get_pymongo_collection(),
        before.id,
        {"version": before.version},
        {"$set": fields, "$inc": {"version": 1}},
    )


# --- issue 17: announcements ---


class AnnouncementRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get(self, announcement_id: str) -> Announcement | None:
        return await Announcement.find_one({"_id": _object_id(announcement_id)})

    async def get_many(self, ids: Sequence[str]) -> dict[str, Announcement]:
        found = await get_by_ids(Announcement, [_object_id(i) for i in ids])
        return {str(a.id): a for a in found}

    async def ids_of_many(self, course_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of each course's announcements (and, rarely, of one a crash left unwritten)."""
        found = await get_by_ids(CourseAnnouncements, list(course_ids))
        return {listed.id: listed.announcements for listed in found}

    async def insert(self, course_id: str, announcement: Announcement) -> Announcement:
        """Listed first, then written: readers skip a listed id with no announcement."""
        await guarded_update(
            CourseAnnouncements.get_pymongo_collection(),
            course_id,
            {},
            {"$addToSet": {"announcements": str(announcement.id)}},
            upsert=True,
        )
        await announcement.insert()
        self._relay.document_written(Announcement.Settings.name, announcement.id)
        return announcement

    async def write(self, before: Announcement, decision: Decision[Announcement]) -> bool:
        """Write what was decided, only if nobody changed the announcement since `before` was read."""
        return await versioned_write(self._relay, Announcement.get_pymongo_collection(), before, decision)
