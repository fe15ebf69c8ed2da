"""The courses store (MongoDB): the requirements' `courses` and `enrollments` documents, and more.

Added to the requirements' fields: stable ids for modules and lessons, a status lifecycle, a version for
optimistic concurrency, each enrollment's completed lessons and completion time, and each document's
pending events (`outbox`, see coursegraph.events.document_outbox). Models stay within FerretDB v1's subset.
Writes after creation use targeted update operators, never whole-document replaces (the relay edits
`outbox` concurrently).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

import pymongo
from beanie import Document
from pydantic import BaseModel, Field
from pymongo import IndexModel


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


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
    # Assessments that must be passed to complete the course (kept from assessment.events).
    required_assessments: list[str] = Field(default_factory=list)
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
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            IndexModel([("instructor_id", pymongo.ASCENDING), ("status", pymongo.ASCENDING)]),
            IndexModel([("status", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)]),
            IndexModel([("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]),
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
    version: int = 0
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "enrollments"
        indexes = [
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            IndexModel([("user_id", pymongo.ASCENDING), ("course_id", pymongo.ASCENDING)], unique=True),
            IndexModel([("course_id", pymongo.ASCENDING)]),
            IndexModel([("user_id", pymongo.ASCENDING), ("enrolled_at", pymongo.DESCENDING)]),
            IndexModel([("certificate_code", pymongo.ASCENDING)]),
        ]
