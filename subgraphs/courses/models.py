"""The courses store (MongoDB): the requirements' `courses` and `enrollments` documents, and more.

Added to the requirements' fields: stable ids for modules and lessons, a status lifecycle, a version for
optimistic concurrency, the course's enrollment count, each enrollment's completed lessons and completion
time, and each document's pending events (`outbox`, see coursegraph.events.document_outbox). Models stay
within FerretDB v1's subset. Writes after creation use targeted update operators, never whole-document
replaces (the relay edits `outbox` concurrently).

Every read of a request finds its documents by `_id` (ADR 0014): an enrollment's id is derived from its
learner and course (`enrollment_id`), and a learner's `Learner` document lists their courses in the order
they enrolled, so "my enrollments" is one lookup and a page of enrollments a batch of lookups.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

import pymongo
from beanie import Document
from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo import IndexModel

from coursegraph.ids import derived_object_id


class CourseRole(StrEnum):
    """What a user is in one course besides its instructor (issue 17)."""

    LEARNER = "LEARNER"
    # Sees the roster and the gradebook; cannot edit the course.
    TEACHING_ASSISTANT = "TEACHING_ASSISTANT"


class DeadlineTarget(StrEnum):
    MODULE = "MODULE"
    ASSESSMENT = "ASSESSMENT"


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    # Unenrolled by the course's instructor (issue 17): kept with its progress, grants nothing; enrolling
    # again makes it active (or completed) again.
    REMOVED = "removed"


class Lesson(BaseModel):
    id: str
    title: str
    content: str = ""
    media_url: str | None = None
    order: int


class Module(BaseModel):
    id: str
    title: str
    order: int
    lessons: list[Lesson] = Field(default_factory=list)


class Course(Document):
    title: str
    description: str = ""
    instructor_id: str
    status: CourseStatus = CourseStatus.DRAFT
    modules: list[Module] = Field(default_factory=list)
    lesson_count: int = 0
    enrollment_count: int = 0
    # The last enrollments counted, so that counting one again (a redelivered event) changes nothing.
    counted_enrollments: list[str] = Field(default_factory=list)
    # Assessments that must be passed to complete the course (kept from assessment.events).
    required_assessments: list[str] = Field(default_factory=list)
    # Users with the course role TEACHING_ASSISTANT (few; read with the course for every permission check).
    teaching_assistants: list[str] = Field(default_factory=list)
    version: int = 0
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    archived_at: datetime | None = None
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "courses"
        indexes = [
            # The relay's poll for what no write announced (see coursegraph.events.document_outbox).
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
        ]

    def lesson_ids(self) -> set[str]:
        return {lesson.id for module in self.modules for lesson in module.lessons}


class Enrollment(Document):
    user_id: str
    course_id: str
    enrolled_at: datetime
    progress: float = 0.0
    completed_lessons: list[str] = Field(default_factory=list)
    status: EnrollmentStatus = EnrollmentStatus.ACTIVE
    completed_at: datetime | None = None
    passed_assessments: list[str] = Field(default_factory=list)
    # The certificate is part of the enrollment: issued by the same write that completes it, so once.
    certificate_code: str | None = None
    certificate_issued_at: datetime | None = None
    counted: bool = False  # included in its course's enrollment_count
    removed_at: datetime | None = None  # when it was last REMOVED
    version: int = 0
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "enrollments"
        indexes = [
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            # The requirements' one enrollment per learner and course (the derived _id enforces it too).
            IndexModel([("user_id", pymongo.ASCENDING), ("course_id", pymongo.ASCENDING)], unique=True),
        ]


def enrollment_id(user_id: str, course_id: str) -> ObjectId:
    """The id of a learner's one enrollment in a course."""
    return derived_object_id("enrollment", user_id, course_id)


class MediaUse(Document):
    """The courses whose lessons reference one media (`media:<id>`), for the media service's question
    "may this user see it?". Written before the course, and never shrunk: a course listed here may no
    longer reference the media, so readers check the course itself."""

    id: str  # type: ignore[assignment]  # the media's id
    courses: list[str] = Field(default_factory=list)

    class Settings:
        name = "media_uses"


class Learner(Document):
    """A learner's enrollments, as the ids of their courses in the order they enrolled.

    Written before the enrollment itself, so a crash in between leaves a course here with no enrollment
    behind it, which readers skip: the enrollment documents are the truth.
    """

    id: str  # type: ignore[assignment]  # the user's id
    courses: list[str] = Field(default_factory=list)

    class Settings:
        name = "learners"


class Certificate(Document):
    """Finds an enrollment by the code printed on its certificate, by `_id`.

    Written before the enrollment records the code, so a lost race leaves one pointing at an enrollment
    with another code, which verification treats as no certificate.
    """

    id: str  # type: ignore[assignment]  # the code
    enrollment_id: str

    class Settings:
        name = "certificates"


class Roster(Document):
    """A course's learners (user ids, oldest enrollment first), for the views over the whole class: the
    roster, the gradebook, announcements. Read by `_id` (ADR 0014).

    Kept by course.events (one replica each adds an enrolled learner, so enrolling stays three writes)
    and by the requests that enroll or remove learners for someone else. `complete` says it holds every
    enrollment: a roster without it (written before rosters existed, or upserted by an add) is completed
    once from the enrollments themselves (`RosterRepository.learners`).
    """

    id: str  # type: ignore[assignment]  # the course's id
    learners: list[str] = Field(default_factory=list)
    complete: bool = False

    class Settings:
        name = "rosters"


class Deadline(Document):
    """When a module or an assessment of a course is due, with per-learner extensions (issue 17).
    Its id is derived from the course and the target (`deadline_id`): found by `_id`, and set once."""

    course_id: str
    target: DeadlineTarget
    target_id: str
    title: str  # the module's or the assessment's title when the deadline was set
    due_at: datetime
    extensions: dict[str, datetime] = Field(default_factory=dict)  # user id -> their due time
    version: int = 0
    updated_at: datetime
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "deadlines"
        indexes = [IndexModel([("outbox_pending", pymongo.ASCENDING)])]

    def due_for(self, user_id: str) -> datetime:
        """The learner's due time: their extension, if they have one."""
        return self.extensions.get(user_id, self.due_at)


def deadline_id(course_id: str, target_id: str) -> ObjectId:
    return derived_object_id("deadline", course_id, target_id)
