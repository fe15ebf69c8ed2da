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

from datetime import UTC, datetime
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
            # A course's enrollments, read once to complete a roster written before rosters (ADR 0031).
            IndexModel([("course_id", pymongo.ASCENDING)]),
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
    # Cleared by its course's managers: `due_at` is then NEVER and there are no extensions, so a reader
    # that only asks `due_for` finds nothing late (the document stays: it carries the DEADLINE_SET).
    cleared: bool = False
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


# --- issue 17: deadlines ---

# A cleared deadline's due time: nothing is ever late for it.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


class CourseDeadlines(Document):
    """The targets of a course's deadline documents (set, or cleared since), so that a course's deadlines
    are one lookup and then a batch of lookups by derived id (ADR 0014). Written before the deadline."""

    id: str  # type: ignore[assignment]  # the course's id
    targets: list[str] = Field(default_factory=list)

    class Settings:
        name = "course_deadlines"


class CourseAssessmentTitles(Document):
    """A course's assessments and their titles, kept from assessment.events (ASSESSMENT_CREATED and
    ASSESSMENT_UPDATED): where a deadline's assessment is found to belong to the course."""

    id: str  # type: ignore[assignment]  # the course's id
    titles: dict[str, str] = Field(default_factory=dict)  # assessment id -> title

    class Settings:
        name = "course_assessment_titles"


class CalendarFeed(Document):
    """Finds the owner of a calendar feed by its secret, in one lookup by `_id`: the secret's SHA-256, so
    the secret itself is never a key in the store or in a logged query."""

    id: str  # type: ignore[assignment]  # sha256(token), hexadecimal
    user_id: str

    class Settings:
        name = "calendar_feeds"


class CalendarFeedOwner(Document):
    """A user's current calendar feed secret (to show its URL again). A `CalendarFeed` whose hash is not
    this token's is a rotated one, and answers nothing."""

    id: str  # type: ignore[assignment]  # the user's id
    token: str

    class Settings:
        name = "calendar_feed_owners"


# --- issue 17: gradebook ---


class ScorePolicy(StrEnum):
    """Which attempt of an assessment counts, as the assessments service says (`assessment.events`)."""

    BEST = "best"
    LATEST = "latest"


class GradedAssessment(BaseModel):
    """An assessment of the course as the gradebook knows it, from ASSESSMENT_CREATED/UPDATED."""

    id: str
    title: str
    score_policy: ScorePolicy = ScorePolicy.BEST
    max_score: float = 0.0


class CourseGrading(Document):
    """A course's gradebook columns (its assessments, in the order they were created, kept from
    assessment.events) and the weights its instructor set. Read by `_id`: the course's id."""

    id: str  # type: ignore[assignment]  # the course's id
    assessments: list[GradedAssessment] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)  # assessment id -> weight; unlisted weigh 1
    version: int = 0  # 0: not stored yet

    class Settings:
        name = "course_gradings"


class AssessmentResult(BaseModel):
    """A learner's results in one assessment: the best and the last attempt, by attempt number."""

    attempts: list[int] = Field(default_factory=list)  # attempt numbers recorded (a redelivery adds none)
    best_attempt: int
    best_percent: float
    best_submitted_at: datetime
    last_attempt: int
    last_percent: float
    last_submitted_at: datetime


class GradeRecord(Document):
    """A learner's grades in a course (id derived from both, `grade_record_id`): kept from
    ASSESSMENT_COMPLETED as each result arrives, and the assessments the course's managers excused."""

    course_id: str
    user_id: str
    results: dict[str, AssessmentResult] = Field(default_factory=dict)  # by assessment id
    excused: list[str] = Field(default_factory=list)  # assessment ids
    version: int = 0  # 0: not stored yet

    class Settings:
        name = "grade_records"


def grade_record_id(course_id: str, user_id: str) -> ObjectId:
    return derived_object_id("grade", course_id, user_id)


# --- issue 17: announcements ---


class Announcement(Document):
    """A message from a course's managers to its learners (issue 17): the Markdown as written, and its
    HTML rendered and sanitised once, when written (coursegraph.rich_text)."""

    course_id: str
    author_id: str
    title: str
    body: str  # Markdown
    body_html: str  # sanitised
    posted_at: datetime
    updated_at: datetime
    edited_at: datetime | None = None
    version: int = 0
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "announcements"
        indexes = [IndexModel([("outbox_pending", pymongo.ASCENDING)])]


class CourseAnnouncements(Document):
    """A course's announcements, as their ids (ADR 0014: a page is a batch of lookups by `_id`).

    Written before the announcement itself, so a crash in between leaves an id here with no announcement
    behind it, which readers skip.
    """

    id: str  # type: ignore[assignment]  # the course's id
    announcements: list[str] = Field(default_factory=list)

    class Settings:
        name = "course_announcements"
