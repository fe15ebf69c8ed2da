"""The one way to change a stored document: read it, decide, write the decision guarded by the version
that was read (with its events, through the document outbox), decide again on a lost race, and answer
the state written.

Decisions are pure: they take the document as read (and the time, new ids, a fresh certificate code:
whatever varies is passed in) and return the document as it should be, or None for "nothing to change",
or raise a `CourseGraphError` to refuse. So every rule of a write is a function that a unit test calls
without a store, and no service writes its own retry loop (ADR 0027).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.errors import Conflict
from coursegraph.events.document_outbox import DocumentOutboxRelay, Versioned, versioned_update

# A lost race is decided again this many times before the caller is told to try again. Each retry
# reads the document afresh, so only a document changed faster than it can be read runs out.
UPDATE_ATTEMPTS = 20
# Fields a decision never sets: identity, the version (the write bumps it) and the outbox's own fields.
_NOT_DECIDED = frozenset({"id", "revision_id", "version", "outbox", "outbox_pending", "outbox_lease"})


# A stored document with an `id` and a `version` (a Beanie document, or any pydantic model with both).
D = TypeVar("D", bound=BaseModel)


@dataclass(frozen=True)
class Decision(Generic[D]):
    """The document as it should be after a change, and the events that announce it."""

    state: D
    events: Sequence[dict[str, Any]] = field(default_factory=tuple)


def with_outbox(decision: Decision[D]) -> D:
    """A new document, to be inserted with the events that announce it waiting in its outbox."""
    return decision.state.model_copy(update={"outbox": list(decision.events), "outbox_pending": True})


def changed_fields(before: BaseModel, after: BaseModel) -> dict[str, Any]:
    """The top-level fields a decision changed, as the store keeps them."""
    names = [
        name
        for name in type(after).model_fields
        if name not in _NOT_DECIDED and getattr(before, name) != getattr(after, name)
    ]
    # Python mode keeps datetimes and ObjectIds for the driver; StrEnums are str to BSON.
    return after.model_dump(include=set(names)) if names else {}


async def versioned_write(
    relay: DocumentOutboxRelay,
    collection: AsyncCollection[dict[str, Any]],
    before: BaseModel,
    decision: Decision[Any],
) -> bool:
    """Write what the decision changed, with its events, only if the document is still at the version
    it was read at; whether it applied."""
    fields = changed_fields(before, decision.state)
    return await versioned_update(relay, collection, cast(Versioned, before), fields, decision.events)


def starting_with(document: D, read: Callable[[], Awaitable[D | None]]) -> Callable[[], Awaitable[D | None]]:
    """A `read` for `change` that answers the document already in hand first and reads it afresh only
    after a lost race: the usual write costs no second read."""
    in_hand = [document]

    async def first_then_fresh() -> D | None:
        return in_hand.pop() if in_hand else await read()

    return first_then_fresh


async def change(
    read: Callable[[], Awaitable[D | None]],
    decide: Callable[[D], Decision[D] | None],
    write: Callable[[D, Decision[D]], Awaitable[bool]],
    *,
    conflict: str,
    attempts: int = UPDATE_ATTEMPTS,
) -> D | None:
    """Read, decide, write guarded by version; on a lost race read and decide again.

    Answers the state written (its version one higher), the document as read when the decision was
    "nothing to change", or None when `read` found nothing (a `read` that must find its document raises
    instead). Raises `Conflict(conflict)` when every attempt lost its race.
    """
    for _ in range(attempts):
        document = await read()
        if document is None:
            return None
        decision = decide(document)
        if decision is None:
            return document
        if await write(document, decision):
            version = cast(Versioned, document).version
            return decision.state.model_copy(update={"version": version + 1})
    raise Conflict(conflict)
