"""Time, injected: services take a `Clock` so that tests can set the time (deadlines, reveal windows)."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, to the millisecond: what BSON dates keep, so a timestamp reads back as it was written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


system_clock: Clock = utc_now
