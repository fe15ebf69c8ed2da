"""Keeps this replica's catalog read model equal to the store (ADR 0015, ADR 0025).

What can change the catalog, and how each change reaches every replica:
- a request's write on this replica: the service puts the course it wrote (a client reads its writes);
- a write on another replica: course.events, read by every replica, make it read that course again;
- a write outside any request (the seed, a restore): the writer advances the catalog's *generation*; every
  replica reads it every few seconds (one lookup by `_id`) and, when it moved, loads the catalog again;
- anything missed all the same: a full reload every so often.

Starting: the catalog comes from the latest snapshot when that snapshot belongs to the current generation
(a few point reads, whatever the catalog's size); a full read of the store follows in the background and
repairs what changed since the snapshot was taken. Only without a usable snapshot (the first start on a
store, or a store written by hand) does a replica read every course before it is ready. Every full read
leaves a snapshot for the next replica to start from, and so does a catalog that changed since the last one.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from coursegraph.clock import Clock
from subgraphs.courses.catalog import Catalog, CourseSummary, decode_snapshot, encode_snapshot
from subgraphs.courses.repository import CatalogStateRepository, CourseRepository

logger = logging.getLogger(__name__)


class CatalogKeeper:
    def __init__(
        self,
        catalog: Catalog,
        courses: CourseRepository,
        state: CatalogStateRepository,
        clock: Clock,
    ) -> None:
        self._catalog = catalog
        self._courses = courses
        self._state = state
        self._clock = clock
        self._generation: int | None = None
        self._snapshot_changes = -1  # the catalog's change count when it was last written as a snapshot
        self.source = "none"  # where the catalog came from at start: "snapshot" or "store"

    @property
    def generation(self) -> int | None:
        return self._generation

    async def start(self) -> bool:
        """Load the catalog before the replica serves; whether a full read should follow (from a snapshot)."""
        generation = await self._state.generation()
        if await self._load_snapshot(generation):
            self.source = "snapshot"
            return True
        await self._load_store(generation)
        self.source = "store"
        return False

    async def reload(self) -> int:
        """Read every course again (the periodic repair); how many there are."""
        return await self._load_store(await self._state.generation())

    async def refresh(self, course_id: str) -> None:
        """Another replica changed this course (course.events): read it again."""
        summary = await self._courses.summary(course_id)
        if summary is not None:
            self._catalog.put(summary)

    async def follow_generation(self) -> None:
        """Courses written outside a request (the seed, a restore) reach this replica: if the generation
        moved since the catalog was loaded, load it again (from the snapshot of that generation, if any)."""
        generation = await self._state.generation()
        if generation == self._generation:
            return
        logger.info("catalog generation %s -> %s: loading the catalog again", self._generation, generation)
        if not await self._load_snapshot(generation):
            await self._load_store(generation)

    async def save_snapshot(self) -> bool:
        """Write the catalog as a snapshot if it changed since the last one; whether one was written."""
        if self._generation is None or self._catalog.changes == self._snapshot_changes:
            return False
        return await self._write_snapshot(self._generation, self._clock())

    async def _load_snapshot(self, generation: int) -> bool:
        head = await self._state.snapshot_head()
        if head is None or head.generation != generation:
            return False
        since = self._catalog.changes
        blob = await self._state.read_snapshot(head)
        if blob is None:
            return False  # replaced while we read it: the store is the truth
        try:
            summaries = decode_snapshot(blob)
        except ValueError:
            logger.warning("catalog snapshot unreadable; reading every course instead", exc_info=True)
            return False
        # Courses this replica put while the snapshot was read stay; the rest of what it held goes.
        self._catalog.replace_all(summaries, since=since)
        self._generation = generation
        self._snapshot_changes = self._catalog.changes
        logger.info("catalog loaded from the snapshot of %s: %d courses", head.taken_at, len(summaries))
        return True

    async def _load_store(self, generation: int) -> int:
        started, since = self._clock(), self._catalog.changes
        summaries = await self._courses.all_summaries()
        self._catalog.replace_all(summaries, since=since)
        self._generation = generation
        await self._write_snapshot(generation, started)
        return len(summaries)

    async def _write_snapshot(self, generation: int, taken_at: datetime) -> bool:
        changes = self._catalog.changes
        written = await self._state.write_snapshot(
            encode_snapshot(self._catalog.summaries()),
            generation=generation,
            taken_at=taken_at,
            courses=len(self._catalog),
        )
        if written:
            self._snapshot_changes = changes
        return written


async def announce_catalog(
    state: CatalogStateRepository, catalog: Sequence[CourseSummary], now: datetime
) -> int:
    """For writers outside a request (the seed, after a restore): tell every running replica that the
    catalog is now `catalog`. The snapshot of the next generation goes first, then the generation itself,
    which replicas look at every few seconds: they load that snapshot, not every course. Returns the
    generation."""
    generation = await state.generation() + 1
    await state.write_snapshot(
        encode_snapshot(catalog), generation=generation, taken_at=now, courses=len(catalog)
    )
    return await state.advance_generation()
