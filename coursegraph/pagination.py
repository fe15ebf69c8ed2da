"""Relay-style pagination (`first`/`after`) with one cursor format for every connection.

A cursor is keyset position: the sort value of the last item seen and its id (base64url of a JSON pair),
so a page stays correct while items are added before it, and a client can neither read nor forge
anything but a position. Anything else a client sends as `after` is a BAD_USER_INPUT, never an error
of ours: `decode_cursor` is every connection's one decoder, and what it answers is a position every
store can hold (its time in UTC, within years 1 to 9999; its id text).
"""

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from coursegraph.errors import BadUserInput
from coursegraph.limits import PAGE_MAX
from coursegraph.text import not_text

T = TypeVar("T")
CURSOR_MAX = 200  # characters: longer is not a cursor of ours


@dataclass(frozen=True, order=True)
class Position:
    """Where an item sits in a newest-first list: its time, then its id (ties)."""

    at: datetime
    id: str


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.at.isoformat(), position.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None, *, valid_id: Callable[[str], bool] | None = None) -> Position | None:
    """The position a cursor names; `valid_id` says whether an id could be one of the list's."""
    if cursor is None:
        return None
    invalid = BadUserInput("`after` is not a cursor this API returned.", details={"field": "after"})
    if len(cursor) > CURSOR_MAX:
        raise invalid
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        at, item_id = value
        if not isinstance(at, str) or not isinstance(item_id, str):
            raise invalid
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise invalid
        # A time every store can hold: year 1 at +14:00 is before year 1 in UTC (BSON overflowed).
        at_utc = parsed.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError, RecursionError) as exc:
        raise invalid from exc
    if not_text(item_id) is not None or (valid_id is not None and not valid_id(item_id)):
        raise invalid
    return Position(at_utc, item_id)


def page_size(first: int, maximum: int = PAGE_MAX) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"`first` must be between 1 and {maximum}.", details={"field": "first"})
    return first


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item), in order
    has_next: bool
    total: Callable[[], int] | None = None  # counts every item across pages, when asked

    @property
    def start_cursor(self) -> str | None:
        return self.items[0][0] if self.items else None

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None
