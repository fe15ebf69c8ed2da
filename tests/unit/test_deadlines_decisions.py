"""Deadlines' decisions (subgraphs/courses/deadlines_decisions.py), with no store: what a due time may be,
which targets are the course's, what each change writes and announces, and what each reader is shown."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import ObjectId

from coursegraph.codes import FieldCode
from coursegraph.errors import ValidationFailed
from coursegraph.unit_of_work import Decision
from subgraphs.courses import deadlines_decisions as decide
from subgraphs.courses.deadlines_decisions import Target
from subgraphs.courses.models import NEVER, Course, Deadline, DeadlineTarget, Module, deadline_id

NOW = datetime(2031, 6, 1, 12, tzinfo=UTC)
DUE = NOW + timedelta(days=7)
COURSE = Course.model_construct(
    id=ObjectId(), title="Graphs", instructor_id="teacher", modules=[Module(id="m1", title="Trees", order=1)]
)
MODULE = Target(DeadlineTarget.MODULE, "m1", "Trees")


def new(due: datetime = DUE) -> Deadline:
    decision = decide.set_deadline(
        None, course_id=str(COURSE.id), target=MODULE, due_at=due, actor_id="teacher", now=NOW
    )
    assert decision is not None
    return decision.state


def metadata(decision: Decision[Any] | None) -> dict[str, Any]:
    assert decision is not None
    [entry] = decision.events
    payload: dict[str, Any] = json.loads(entry["payload"])
    assert payload["event_type"] == "DEADLINE_SET" and entry["key"] == str(decision.state.id)
    found: dict[str, Any] = payload["metadata"]
    return found


def refusal(error: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    [field_error] = error.value.errors
    return field_error.field, str(field_error.code)


# --- due times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due_at", "code"),
    [
        (NOW - timedelta(seconds=1), FieldCode.IN_THE_PAST),
        (NOW, FieldCode.IN_THE_PAST),  # due now has passed by the time anyone reads it
        (datetime(2031, 7, 1, 12), FieldCode.NO_TIME_ZONE),  # naive: a different instant to every reader
        (NOW + decide.HORIZON + timedelta(seconds=1), FieldCode.OUT_OF_RANGE),
    ],
)
def test_a_due_time_is_aware_in_the_future_and_within_the_horizon(due_at: datetime, code: FieldCode) -> None:
    with pytest.raises(ValidationFailed) as error:
        decide.check_due_at(due_at, "input.dueAt", now=NOW)
    assert refusal(error) == ("input.dueAt", code)


def test_an_offset_other_than_utc_is_the_same_instant() -> None:
    paris = datetime(2031, 6, 8, 14, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    decide.check_due_at(paris, "input.dueAt", now=NOW)
    assert new(paris).due_at == DUE + timedelta(hours=2)


# --- targets --------------------------------------------------------------------------------------


def test_a_target_is_a_module_of_the_outline_or_an_assessment_of_the_course() -> None:
    assert decide.find_target(COURSE, DeadlineTarget.MODULE, "m1", {}, field="f") == MODULE
    found = decide.find_target(COURSE, DeadlineTarget.ASSESSMENT, "a1", {"a1": "Quiz"}, field="f")
    assert found == Target(DeadlineTarget.ASSESSMENT, "a1", "Quiz")
    for kind, target_id in [(DeadlineTarget.MODULE, "m2"), (DeadlineTarget.ASSESSMENT, "m1")]:
        with pytest.raises(ValidationFailed) as error:
            decide.find_target(COURSE, kind, target_id, {"a1": "Quiz"}, field="input.targetId")
        assert refusal(error) == ("input.targetId", FieldCode.UNKNOWN_ID)


# --- writes ---------------------------------------------------------------------------------------


def test_a_new_deadline_has_its_derived_id_and_announces_itself() -> None:
    decision = decide.set_deadline(
        None, course_id=str(COURSE.id), target=MODULE, due_at=DUE, actor_id="teacher", now=NOW
    )
    assert decision is not None
    assert decision.state.id == deadline_id(str(COURSE.id), "m1")
    assert metadata(decision) == {
        "deadline_id": str(decision.state.id),
        "target": "MODULE",
        "target_id": "m1",
        "title": "Trees",
        "due_at": DUE.isoformat(),
        "cleared": False,
        "extended_user_id": None,
        "extension_due_at": None,
    }


def test_moving_keeps_extensions_and_setting_the_same_time_changes_nothing() -> None:
    deadline = new().model_copy(update={"extensions": {"ada": DUE + timedelta(days=2)}})
    same = decide.set_deadline(
        deadline, course_id=str(COURSE.id), target=MODULE, due_at=DUE, actor_id="t", now=NOW
    )
    assert same is None
    moved = decide.set_deadline(
        deadline,
        course_id=str(COURSE.id),
        target=MODULE,
        due_at=DUE + timedelta(days=1),
        actor_id="t",
        now=NOW,
    )
    assert moved is not None
    assert moved.state.due_at == DUE + timedelta(days=1) and moved.state.extensions == deadline.extensions
    assert metadata(moved)["due_at"] == (DUE + timedelta(days=1)).isoformat()


def test_clearing_leaves_nothing_late_and_setting_again_starts_afresh() -> None:
    deadline = new().model_copy(update={"extensions": {"ada": DUE + timedelta(days=2)}})
    cleared = decide.clear_deadline(deadline, actor_id="t", now=NOW)
    assert cleared is not None
    assert cleared.state.cleared and cleared.state.extensions == {}
    # A reader that knows only `due_for` (the gradebook's "late") finds nothing late.
    assert cleared.state.due_for("ada") == NEVER and cleared.state.due_for("bob") == NEVER
    assert metadata(cleared) | {"deadline_id": None} == {
        "deadline_id": None,
        "target": "MODULE",
        "target_id": "m1",
        "title": "Trees",
        "due_at": None,
        "cleared": True,
        "extended_user_id": None,
        "extension_due_at": None,
    }
    assert decide.clear_deadline(cleared.state, actor_id="t", now=NOW) is None
    again = decide.set_deadline(
        cleared.state, course_id=str(COURSE.id), target=MODULE, due_at=DUE, actor_id="t", now=NOW
    )
    assert again is not None and not again.state.cleared and again.state.due_at == DUE


def test_an_extension_is_one_learners_and_null_removes_it() -> None:
    later = DUE + timedelta(days=3)
    granted = decide.grant_extension(new(), user_id="ada", due_at=later, actor_id="t", now=NOW)
    assert granted is not None
    assert granted.state.due_for("ada") == later and granted.state.due_for("bob") == DUE
    assert metadata(granted)["extended_user_id"] == "ada"
    assert metadata(granted)["extension_due_at"] == later.isoformat()
    assert decide.grant_extension(granted.state, user_id="ada", due_at=later, actor_id="t", now=NOW) is None
    removed = decide.grant_extension(granted.state, user_id="ada", due_at=None, actor_id="t", now=NOW)
    assert removed is not None and removed.state.extensions == {}
    assert metadata(removed)["extension_due_at"] is None
    assert decide.grant_extension(removed.state, user_id="ada", due_at=None, actor_id="t", now=NOW) is None


def test_no_extension_of_a_cleared_deadline_or_in_the_past() -> None:
    cleared = decide.clear_deadline(new(), actor_id="t", now=NOW)
    assert cleared is not None
    with pytest.raises(ValidationFailed) as error:
        decide.grant_extension(cleared.state, user_id="ada", due_at=DUE, actor_id="t", now=NOW)
    assert refusal(error) == ("targetId", FieldCode.UNKNOWN_ID)
    with pytest.raises(ValidationFailed) as error:
        decide.grant_extension(new(), user_id="ada", due_at=NOW - timedelta(hours=1), actor_id="t", now=NOW)
    assert refusal(error) == ("dueAt", FieldCode.IN_THE_PAST)


# --- reads ----------------------------------------------------------------------------------------


def test_each_reader_sees_their_own_due_time() -> None:
    deadline = new().model_copy(update={"extensions": {"ada": DUE + timedelta(days=1)}})
    managers = decide.managers_view(deadline)
    assert (managers.due_at, managers.extended, managers.extensions) == (DUE, False, deadline.extensions)
    ada, bob = decide.learners_view(deadline, "ada"), decide.learners_view(deadline, "bob")
    assert (ada.due_at, ada.extended, ada.extensions) == (DUE + timedelta(days=1), True, {})
    assert (bob.due_at, bob.extended) == (DUE, False)


def test_upcoming_is_what_is_ahead_next_due_first() -> None:
    soon, later = new(NOW + timedelta(days=1)), new(NOW + timedelta(days=2))
    views = [decide.learners_view(d, "ada") for d in (later, soon)]
    ordered = sorted(views, key=decide.due_order)
    assert [v.due_at for v in ordered] == [soon.due_at, later.due_at]
    assert [decide.is_ahead(v, NOW + timedelta(days=1)) for v in ordered] == [False, True]


def test_a_module_deadline_is_shown_while_the_module_is_in_the_outline_under_its_current_title() -> None:
    deadline = new()
    renamed = COURSE.model_copy(update={"modules": [Module(id="m1", title="Forests", order=1)]})
    assert decide.shown(deadline, renamed) and decide.title_of(deadline, renamed) == "Forests"
    assert not decide.shown(deadline, COURSE.model_copy(update={"modules": []}))
    cleared = decide.clear_deadline(deadline, actor_id="t", now=NOW)
    assert cleared is not None and not decide.shown(cleared.state, COURSE)


def test_a_feed_uid_is_stable_per_deadline_and_user_and_the_lookup_key_is_not_the_secret() -> None:
    deadline, moved = new(), new(DUE + timedelta(days=1))
    assert decide.calendar_uid(deadline, "ada") == decide.calendar_uid(moved, "ada")
    assert decide.calendar_uid(deadline, "ada") != decide.calendar_uid(deadline, "bob")
    token = "s3cr3t-token"
    assert decide.feed_key(token) == decide.feed_key(token) and token not in decide.feed_key(token)
