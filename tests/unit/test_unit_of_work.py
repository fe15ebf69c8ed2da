"""The kernel's unit of work (coursegraph/unit_of_work.py): decide again after a lost race, answer the
state written, refuse without writing, and write only the fields a decision changed."""

from typing import Any

import pytest
from pydantic import BaseModel

from coursegraph.errors import Conflict, NotFound
from coursegraph.unit_of_work import Decision, change, changed_fields


class Doc(BaseModel):
    id: str = "d1"
    version: int = 0
    count: int = 0
    tags: list[str] = []
    outbox: list[dict[str, Any]] = []


class Store:
    """A document that someone else changes `races` times between our read and our write."""

    def __init__(self, races: int = 0) -> None:
        self.doc: Doc | None = Doc()
        self.races = races
        self.reads = 0
        self.writes: list[dict[str, Any]] = []

    async def read(self) -> Doc | None:
        self.reads += 1
        return None if self.doc is None else self.doc.model_copy()

    async def write(self, before: Doc, decision: Decision[Doc]) -> bool:
        assert self.doc is not None
        if self.races:
            self.races -= 1
            raced = {"count": self.doc.count + 10, "version": self.doc.version + 1}
            self.doc = self.doc.model_copy(update=raced)
        if before.version != self.doc.version:
            return False
        self.writes.append(changed_fields(before, decision.state))
        self.doc = decision.state.model_copy(update={"version": before.version + 1})
        return True


def add_one(doc: Doc) -> Decision[Doc]:
    return Decision(doc.model_copy(update={"count": doc.count + 1}), [{"event": "ADDED"}])


async def test_a_lost_race_is_decided_again_on_the_fresh_document() -> None:
    store = Store(races=2)
    written = await change(store.read, add_one, store.write, conflict="busy")
    assert written is not None and written.count == 21 and written.version == 3
    assert store.reads == 3 and store.writes == [{"count": 21}], "only the changed field is written"
    assert store.doc == written, "the answer is the state written"


async def test_nothing_to_change_writes_nothing() -> None:
    store = Store()
    answered = await change(store.read, lambda doc: None, store.write, conflict="busy")
    assert answered == Doc() and store.writes == []


async def test_a_refusal_writes_nothing() -> None:
    store = Store()

    def refuse(doc: Doc) -> Decision[Doc]:
        raise NotFound("No such thing.")

    with pytest.raises(NotFound):
        await change(store.read, refuse, store.write, conflict="busy")
    assert store.writes == [] and store.doc == Doc()


async def test_a_missing_document_answers_none() -> None:
    store = Store()
    store.doc = None
    assert await change(store.read, add_one, store.write, conflict="busy") is None


async def test_every_attempt_lost_is_a_conflict() -> None:
    store = Store(races=5)
    with pytest.raises(Conflict, match="busy"):
        await change(store.read, add_one, store.write, conflict="busy", attempts=5)
    assert store.writes == []


def test_changed_fields_leave_identity_version_and_outbox_alone() -> None:
    before = Doc()
    after = before.model_copy(update={"tags": ["a"], "version": 9, "outbox": [{"x": 1}]})
    assert changed_fields(before, after) == {"tags": ["a"]}
