"""Progress subscriptions: who in this instance watches which learner's progress in which course.

Fed by course.events (every instance reads every new event: a broadcast listener, not a consumer group),
so a learner's progress reaches their subscription whichever replica served the write.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from coursegraph.events import Event
from subgraphs.courses.events import CourseEventType

PROGRESS_EVENTS = {
    CourseEventType.COURSE_ENROLLED,
    CourseEventType.LESSON_COMPLETED,
    CourseEventType.PROGRESS_UPDATED,
    CourseEventType.COURSE_COMPLETED,
}


class ProgressFeed:
    def __init__(self) -> None:
        self._watchers: dict[tuple[str, str], set[asyncio.Queue[None]]] = defaultdict(set)

    async def __call__(self, event: Event) -> None:
        if event.event_type not in PROGRESS_EVENTS or not event.user_id or not event.course_id:
            return
        for changes in self._watchers.get((event.user_id, event.course_id), set()):
            if changes.empty():  # coalesce: a watcher re-reads the enrollment once for a burst
                changes.put_nowait(None)

    @asynccontextmanager
    async def watch(self, user_id: str, course_id: str) -> AsyncIterator[asyncio.Queue[None]]:
        changes: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        key = (user_id, course_id)
        self._watchers[key].add(changes)
        try:
            yield changes
        finally:
            self._watchers[key].discard(changes)
            if not self._watchers[key]:
                del self._watchers[key]
