"""The catalog read model: every course's summary and outline (no lesson bodies), in this process's memory.

Why (ADR 0015): the catalog is read far more than it is written, and its reads need what the document
store answers worst: newest-first pages, counts, and text search over every course. FerretDB v1 answers
each by decoding the whole collection (0.5 to 0.9 s a page with the demo catalog). Kept here, a page is a
walk down a sorted list, a count is a loop, and search is a literal substring test: no store call at all.

How it stays current (`catalog_keeper.py`, ADR 0025): loaded when the service starts, from the latest
snapshot when there is one; every write of this process puts the course it wrote; course.events bring
other replicas' writes (the service refreshes those courses by id); writes outside any request (the
seed, a restore) advance a generation that every replica follows; a periodic reload repairs anything
missed. A summary only replaces one of a lower version, so a late refresh never undoes a newer write.
Between replicas it is as fresh as the events (milliseconds); within a replica, a client reads its own
writes. Every change calls `on_change`, which announces it to the shared caches (ADR 0022).
"""

import bisect
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coursegraph.pagination import Position
from subgraphs.courses.models import CourseStatus


@dataclass(frozen=True, slots=True)
class LessonOutline:
    id: str
    title: str
    order: int
    media_url: str | None


@dataclass(frozen=True, slots=True)
class ModuleOutline:
    id: str
    title: str
    order: int
    lessons: tuple[LessonOutline, ...]


@dataclass(frozen=True, slots=True)
class CourseSummary:
    """A course as lists show it: everything but its lessons' bodies."""

    id: str
    title: str
    description: str
    instructor_id: str
    status: CourseStatus
    lesson_count: int
    enrollment_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    modules: tuple[ModuleOutline, ...]
    version: int
    folded_title: str  # for case-insensitive search
    teaching_assistants: tuple[str, ...] = ()
    # Passing these is needed to complete the course, besides every lesson.
    required_assessments: tuple[str, ...] = ()

    @property
    def position(self) -> Position:
        return Position(self.created_at, self.id)

    def lesson_ids(self) -> set[str]:
        return {lesson.id for module in self.modules for lesson in module.lessons}


class Catalog:
    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        """`on_change`: called after every change (ADR 0022: the service announces a new catalog version)."""
        self._on_change = on_change
        self._by_id: dict[str, CourseSummary] = {}
        self._order: list[Position] = []  # ascending; read from the end for newest first
        # Counts every change actually made: a snapshot is worth writing only when it moved.
        self.changes = 0
        self._put_at: dict[str, int] = {}  # the value of `changes` when each course was last put

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, course_id: str) -> CourseSummary | None:
        return self._by_id.get(course_id)

    def summaries(self) -> list[CourseSummary]:
        return list(self._by_id.values())

    def put(self, summary: CourseSummary) -> bool:
        """Keep `summary` unless a version as new is here already; whether anything changed."""
        current = self._by_id.get(summary.id)
        if current is not None and current.version >= summary.version:
            return False  # what this replica has already, or a stale read of it (writes bump the version)
        if current is None:
            bisect.insort(self._order, summary.position)
        self._by_id[summary.id] = summary
        self.changes += 1
        self._put_at[summary.id] = self.changes
        self._on_change()
        return True

    def replace_all(self, summaries: Iterable[CourseSummary], *, since: int) -> None:
        """A whole catalog read from the store (or a snapshot) once `changes` was `since`: courses it did
        not hold and nobody put since are gone; for the rest the newer version wins. (Counting changes
        instead of comparing times: the clocks of other replicas and of the seed do not matter.)"""
        seen = set()
        for summary in summaries:
            seen.add(summary.id)
            self.put(summary)
        gone = [
            course_id
            for course_id in self._by_id
            if course_id not in seen and self._put_at.get(course_id, 0) <= since
        ]
        for course_id in gone:
            summary = self._by_id.pop(course_id)
            self._put_at.pop(course_id, None)
            self._order.remove(summary.position)
            self.changes += 1
        if gone:
            self._on_change()

    def newest_first(
        self, matches: Callable[[CourseSummary], bool], *, after: Position | None = None
    ) -> Iterator[CourseSummary]:
        """Courses that match, newest first, starting after `after`."""
        end = len(self._order) if after is None else bisect.bisect_left(self._order, after)
        for index in range(end - 1, -1, -1):
            summary = self._by_id[self._order[index].id]
            if matches(summary):
                yield summary

    def count(self, matches: Callable[[CourseSummary], bool]) -> int:
        return sum(1 for summary in self._by_id.values() if matches(summary))


# --- snapshots: the whole catalog as one compressed blob (ADR 0025) ---------------------------------------
# A replica starts from the latest snapshot instead of reading every course document (whose lesson bodies
# FerretDB decodes even when they are projected away). JSON keeps it readable by any later version; zlib
# keeps it a few hundred bytes per course.

SNAPSHOT_FORMAT = 1


def _lesson(lesson: LessonOutline) -> list[Any]:
    return [lesson.id, lesson.title, lesson.order, lesson.media_url]


def _summary_row(summary: CourseSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "description": summary.description,
        "instructor_id": summary.instructor_id,
        "status": summary.status.value,
        "lesson_count": summary.lesson_count,
        "enrollment_count": summary.enrollment_count,
        "created_at": summary.created_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
        "published_at": summary.published_at.isoformat() if summary.published_at else None,
        "version": summary.version,
        "teaching_assistants": list(summary.teaching_assistants),
        "required_assessments": list(summary.required_assessments),
        "modules": [
            [module.id, module.title, module.order, [_lesson(lesson) for lesson in module.lessons]]
            for module in summary.modules
        ],
    }


def _summary_from_row(row: dict[str, Any]) -> CourseSummary:
    published_at = row["published_at"]
    return CourseSummary(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        instructor_id=row["instructor_id"],
        status=CourseStatus(row["status"]),
        lesson_count=row["lesson_count"],
        enrollment_count=row["enrollment_count"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        published_at=datetime.fromisoformat(published_at) if published_at else None,
        modules=tuple(
            ModuleOutline(
                id=module_id,
                title=title,
                order=order,
                lessons=tuple(
                    LessonOutline(id=lesson_id, title=lesson_title, order=lesson_order, media_url=media_url)
                    for lesson_id, lesson_title, lesson_order, media_url in lessons
                ),
            )
            for module_id, title, order, lessons in row["modules"]
        ),
        version=row["version"],
        folded_title=row["title"].casefold(),
        teaching_assistants=tuple(row.get("teaching_assistants", ())),
        required_assessments=tuple(row.get("required_assessments", ())),
    )


def encode_snapshot(summaries: Iterable[CourseSummary]) -> bytes:
    body = {"format": SNAPSHOT_FORMAT, "courses": [_summary_row(summary) for summary in summaries]}
    return zlib.compress(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), level=6)


def decode_snapshot(blob: bytes) -> list[CourseSummary]:
    """The summaries of a snapshot; ValueError if it is not one this code can read."""
    try:
        body = json.loads(zlib.decompress(blob))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a catalog snapshot: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        raise ValueError("a catalog snapshot of another format")
    return [_summary_from_row(row) for row in body["courses"]]
