"""The catalog read model: every course's summary and outline (no lesson bodies), in this process's memory.

Why (ADR 0015): the catalog is read far more than it is written, and its reads need what the document
store answers worst: newest-first pages, counts, and text search over every course. FerretDB v1 answers
each by decoding the whole collection (0.5 to 0.9 s a page with the demo catalog). Kept here, a page is a
walk down a sorted list, a count is a loop, and search is a literal substring test: no store call at all.

How it stays current: loaded in full when the service starts; every write of this process puts the
course it wrote; course.events bring other replicas' writes (the service refreshes those courses by id);
a periodic reload repairs anything missed. A summary only replaces one of a lower version, so a late
refresh never undoes a newer write. Between replicas it is as fresh as the events (milliseconds); within
a replica, a client reads its own writes.
"""

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

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

    @property
    def position(self) -> Position:
        return Position(self.created_at, self.id)


class Catalog:
    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        """`on_change`: called after every change (ADR 0022: the service announces a new catalog version)."""
        self._on_change = on_change
        self._by_id: dict[str, CourseSummary] = {}
        self._order: list[Position] = []  # ascending; read from the end for newest first

    def get(self, course_id: str) -> CourseSummary | None:
        return self._by_id.get(course_id)

    def put(self, summary: CourseSummary) -> None:
        current = self._by_id.get(summary.id)
        if current is not None and current.version >= summary.version:
            return  # what this replica has already, or a stale read of it (writes bump the version)
        if current is None:
            bisect.insort(self._order, summary.position)
        self._by_id[summary.id] = summary
        self._on_change()

    def replace_all(self, summaries: Iterable[CourseSummary], *, started_at: datetime) -> None:
        """A full reload read from the store since `started_at`: courses it did not see and nobody put
        since are gone; for the rest the newer version wins."""
        seen = set()
        for summary in summaries:
            seen.add(summary.id)
            self.put(summary)
        gone = [
            course_id
            for course_id, summary in self._by_id.items()
            if course_id not in seen and summary.updated_at < started_at
        ]
        for course_id in gone:
            summary = self._by_id.pop(course_id)
            self._order.remove(summary.position)
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
