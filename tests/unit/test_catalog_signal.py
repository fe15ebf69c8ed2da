"""The catalog signal's in-process stand-in (dev profile), the announcer, the read model's change hook, and
the settings that choose Redis (tests/integration/test_catalog_signal_redis.py covers the Redis one)."""

import asyncio
from datetime import UTC, datetime

import pytest

from coursegraph.catalog_signal import (
    Announcer,
    CatalogSignal,
    LocalCatalogSignal,
    RedisCatalogSignal,
    catalog_signal,
)
from coursegraph.settings import ServiceSettings
from subgraphs.courses.catalog import Catalog, CourseSummary
from subgraphs.courses.models import CourseStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_in_process_signals_share_one_version() -> None:
    courses, rest = LocalCatalogSignal(), LocalCatalogSignal()
    assert courses.version is None and not courses.healthy  # not started: unknown
    await courses.start()
    await rest.start()
    try:
        before = rest.version
        assert before is not None and rest.healthy
        await courses.announce()
        assert rest.version == before + 1
        await rest.announce()
        assert courses.version == before + 2
        assert rest.describe() == {"backend": "in-process", "healthy": True, "version": before + 2}
    finally:
        await courses.stop()
        await rest.stop()
    assert courses.version is None and courses.describe()["healthy"] is False


class CountingSignal(LocalCatalogSignal):
    """The stand-in, slowed down and counting its announces (to see the announcer coalesce)."""

    announced = 0

    async def announce(self) -> None:
        await asyncio.sleep(0.01)
        self.announced += 1
        await super().announce()


async def test_the_announcer_coalesces_a_burst_and_announces_after_the_last_change() -> None:
    signal = CountingSignal()
    await signal.start()
    announcer = Announcer(signal)
    start = signal.version
    assert start is not None
    for _ in range(50):  # a reload putting 50 courses
        announcer.changed()
    await asyncio.sleep(0)  # the first announce is under way ...
    announcer.changed()  # ... when one more change comes: it gets an announce of its own
    await announcer.flush()
    assert signal.announced == 2
    assert signal.version == start + 2
    await announcer.flush()  # nothing pending: returns at once
    assert signal.announced == 2


def summary(course_id: str, version: int) -> CourseSummary:
    return CourseSummary(
        id=course_id, title="Graphs", description="", instructor_id="u1", status=CourseStatus.PUBLISHED,
        lesson_count=0, enrollment_count=0, created_at=T0, updated_at=T0, published_at=T0, modules=(),
        version=version, folded_title="graphs",
    )  # fmt: skip


def test_the_read_model_reports_changes_and_only_changes() -> None:
    changes: list[str] = []
    catalog = Catalog(on_change=lambda: changes.append("changed"))
    catalog.put(summary("a" * 24, 1))
    catalog.put(summary("b" * 24, 1))
    assert len(changes) == 2
    catalog.put(summary("a" * 24, 1))  # what it has already (a replica's own write coming back as an event)
    assert len(changes) == 2
    catalog.put(summary("a" * 24, 2))
    assert len(changes) == 3
    # A reload that finds everything as it was changes nothing; one that finds a course gone does.
    loaded_at = catalog.changes
    catalog.replace_all([summary("a" * 24, 2), summary("b" * 24, 1)], since=loaded_at)
    assert len(changes) == 3
    catalog.replace_all([summary("a" * 24, 2)], since=loaded_at)
    assert len(changes) == 4
    assert catalog.get("b" * 24) is None


def test_redis_is_chosen_by_its_url_and_required_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("COURSEGRAPH_REDIS_URL", "COURSEGRAPH_REDIS_CA_FILE", "COURSEGRAPH_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    assert isinstance(catalog_signal(ServiceSettings(profile="dev")), LocalCatalogSignal)
    assert isinstance(catalog_signal(ServiceSettings(profile="test")), LocalCatalogSignal)
    with pytest.raises(RuntimeError, match="production profile needs COURSEGRAPH_REDIS_URL"):
        catalog_signal(ServiceSettings(profile="production"))
    monkeypatch.setenv("COURSEGRAPH_REDIS_URL", "")  # compose's `${X:-}`: unset, not an invalid URL
    assert ServiceSettings().redis_url is None

    url = "rediss://:s3cret-password@redis.example:6380/0"
    monkeypatch.setenv("COURSEGRAPH_REDIS_URL", url)
    settings = ServiceSettings(profile="production")
    signal: CatalogSignal = catalog_signal(settings)
    assert isinstance(signal, RedisCatalogSignal)
    # The password is a secret: not in the settings' text, not in what readiness shows.
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert "s3cret" not in str(signal.describe())
    assert signal.describe() == {"backend": "redis", "healthy": False, "version": None}
