"""Course activity (issue 18): what learners do in a course, for those who teach it, as it happens (ADR 0033).

Fed by course.events and assessment.events through the broadcast listener (every replica reads every new
event), so a subscriber hears of a write whichever replica made it. Each subscriber has a bounded queue:
a consumer slower than the course's activity loses the oldest activities, never the server's memory, and
the next activity it receives says how many it missed.
"""

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coursegraph.events import Event
from subgraphs.courses.events import CourseEventType

# Activities kept for one subscriber that has not read them yet; past this the oldest are dropped.
QUEUE_MAX = 100


class ActivityKind(StrEnum):
    ENROLLED = "ENROLLED"
    UNENROLLED = "UNENROLLED"
    LESSON_COMPLETED = "LESSON_COMPLETED"
    PROGRESS_UPDATED = "PROGRESS_UPDATED"
    COURSE_COMPLETED = "COURSE_COMPLETED"
    ASSESSMENT_SUBMITTED = "ASSESSMENT_SUBMITTED"
    ASSESSMENT_COMPLETED = "ASSESSMENT_COMPLETED"


# The events that are a learner's doing, by type. assessment.events' types are the assessments service's
# (named here as strings: a subgraph never imports another's code).
KINDS: dict[str, ActivityKind] = {
    CourseEventType.COURSE_ENROLLED: ActivityKind.ENROLLED,
    CourseEventType.ENROLLMENT_REMOVED: ActivityKind.UNENROLLED,
    CourseEventType.LESSON_COMPLETED: ActivityKind.LESSON_COMPLETED,
    CourseEventType.PROGRESS_UPDATED: ActivityKind.PROGRESS_UPDATED,
    CourseEventType.COURSE_COMPLETED: ActivityKind.COURSE_COMPLETED,
    "ASSESSMENT_SUBMITTED": ActivityKind.ASSESSMENT_SUBMITTED,
    "ASSESSMENT_COMPLETED": ActivityKind.ASSESSMENT_COMPLETED,
}


@dataclass(frozen=True)
class Activity:
    id: str
    kind: ActivityKind
    occurred_at: datetime
    course_id: str
    learner_id: str
    lesson_id: str | None = None
    progress: float | None = None
    assessment_id: str | None = None
    score: float | None = None
    passed: bool | None = None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def activity_of(event: Event) -> Activity | None:
    """The activity an event reports, or None when it is not a learner's doing in a course."""
    kind = KINDS.get(event.event_type)
    if kind is None or not event.course_id or not event.user_id:
        return None
    metadata = event.metadata
    passed = metadata.get("passed")
    return Activity(
        id=str(event.event_id),
        kind=kind,
        occurred_at=event.timestamp,
        course_id=event.course_id,
        learner_id=event.user_id,
        lesson_id=_text(metadata.get("lesson_id")),
        progress=_number(metadata.get("progress")),
        assessment_id=_text(metadata.get("assessment_id")),
        # The score as a percentage: only a completed attempt has one.
        score=_number(metadata.get("percent")) if kind is ActivityKind.ASSESSMENT_COMPLETED else None,
        passed=passed if isinstance(passed, bool) else None,
    )


class Watcher:
    """One subscriber's queue: at most `limit` activities; when full, the oldest goes and is counted."""

    def __init__(self, limit: int = QUEUE_MAX) -> None:
        self._queue: deque[Activity] = deque(maxlen=limit)
        self._missed = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, activity: Activity) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._missed += 1  # the deque drops its oldest on append
        self._queue.append(activity)
        self._ready.set()

    async def next(self) -> tuple[Activity, int]:
        """The oldest waiting activity and how many were dropped since the previous one was taken."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        missed, self._missed = self._missed, 0
        return self._queue.popleft(), missed


class ActivityFeed:
    """Who in this instance watches which course's activity; hands each new activity to them."""

    def __init__(self, queue_max: int = QUEUE_MAX) -> None:
        self._queue_max = queue_max
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)

    async def __call__(self, event: Event) -> None:
        if event.course_id not in self._watchers:
            return  # nobody here watches this course: not even mapped
        activity = activity_of(event)
        if activity is None:
            return
        for watcher in self._watchers[activity.course_id]:
            watcher.put(activity)

    def __len__(self) -> int:
        """How many subscribers this instance serves."""
        return sum(len(watchers) for watchers in self._watchers.values())

    @asynccontextmanager
    async def watch(self, course_id: str) -> AsyncIterator[Watcher]:
        watcher = Watcher(self._queue_max)
        self._watchers[course_id].add(watcher)
        try:
            yield watcher
        finally:
            self._watchers[course_id].discard(watcher)
            if not self._watchers[course_id]:
                del self._watchers[course_id]
