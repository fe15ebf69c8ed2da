"""Rosters' decisions (subgraphs/courses/roster_decisions.py) and the REST import's CSV reading, with no
store: entries, enrolling, removing and coming back, course roles, and rows of a streamed file."""

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from rest_compat.graph import GraphError
from rest_compat.roster import ROW_BYTES_MAX, Row, csv_rows

from coursegraph import limits
from coursegraph.errors import Conflict, ValidationFailed
from coursegraph.unit_of_work import Decision
from subgraphs.courses import roster_decisions as rd
from subgraphs.courses.models import Course, CourseRole, CourseStatus, Enrollment, EnrollmentStatus

NOW = datetime(2031, 6, 1, tzinfo=UTC)


def course(status: CourseStatus = CourseStatus.PUBLISHED, assistants: list[str] | None = None) -> Course:
    built: Course = Course.model_construct(
        id=ObjectId(),
        title="Graphs",
        instructor_id="teacher",
        status=status,
        teaching_assistants=assistants or [],
        created_at=NOW,
        updated_at=NOW,
        version=3,
    )
    return built


def enrollment(of: Course, **fields: Any) -> Enrollment:
    built: Enrollment = Enrollment.model_construct(
        id=ObjectId(), user_id="learner", course_id=str(of.id), enrolled_at=NOW, version=5, **fields
    )
    return built


def events(decision: Decision[Any] | None) -> list[dict[str, Any]]:
    assert decision is not None
    return [json.loads(entry["payload"]) for entry in decision.events]


# --- entries ----------------------------------------------------------------------------------------------


def test_an_entry_is_an_email_normalised_or_a_user_id_or_invalid_with_a_reason() -> None:
    user_id = uuid.uuid4()
    assert rd.parse_entry("  Ada@Example.ORG ").email == "ada@example.org"
    assert rd.parse_entry(str(user_id).upper()).user_id == str(user_id)
    for bad in ["", "   ", "ada", "two@@example.org", "@example.org", "12345", "a\x00@example.org"]:
        parsed = rd.parse_entry(bad)
        assert parsed.email is None and parsed.user_id is None and parsed.invalid, bad
    too_long = rd.parse_entry("x" * limits.ROSTER_ROW_MAX + "@example.org")
    assert too_long.invalid == f"Longer than {limits.ROSTER_ROW_MAX} characters."


# --- enrolling, removing, coming back ---------------------------------------------------------------------


def test_an_instructor_enrolls_into_a_draft_or_published_course_never_an_archived_one_nor_themself() -> None:
    for status in (CourseStatus.DRAFT, CourseStatus.PUBLISHED):
        rd.check_open_to_roster(course(status))
    with pytest.raises(Conflict) as closed:
        rd.check_open_to_roster(course(CourseStatus.ARCHIVED))
    assert closed.value.details == {"reason": "COURSE_ARCHIVED"}
    assert rd.refusal(course(), "teacher") is not None
    assert rd.refusal(course(), "learner") is None


def test_an_enrollment_made_by_the_instructor_is_counted_and_announced_as_any_enrollment() -> None:
    c = course()
    decision = rd.enroll_by(c, user_id="learner", enrolled_by="teacher", now=NOW)
    assert decision.state.counted and decision.state.status is EnrollmentStatus.ACTIVE
    (event,) = events(decision)
    assert event["event_type"] == "COURSE_ENROLLED"
    assert event["metadata"]["enrolled_by"] == "teacher" and event["metadata"]["reactivated"] is False


def test_removing_keeps_the_history_once_and_coming_back_restores_the_status() -> None:
    c = course()
    active = enrollment(c, completed_lessons=["l1"], progress=50.0, counted=True)
    removed = rd.remove(active, removed_by="teacher", now=NOW)
    assert removed is not None
    state = removed.state
    assert (state.status, state.removed_at, state.counted) == (EnrollmentStatus.REMOVED, NOW, False)
    assert (state.completed_lessons, state.progress) == (["l1"], 50.0)
    assert [e["event_type"] for e in events(removed)] == ["ENROLLMENT_REMOVED"]
    assert events(removed)[0]["metadata"]["previous_status"] == "active"
    assert rd.remove(state, removed_by="teacher", now=NOW) is None  # removed already: nothing again

    back = rd.reactivate(c, state, enrolled_by="learner")
    assert back is not None and back.state.status is EnrollmentStatus.ACTIVE and back.state.counted
    assert back.state.completed_lessons == ["l1"]
    assert events(back)[0]["metadata"]["reactivated"] is True
    assert rd.reactivate(c, active, enrolled_by="teacher") is None  # enrolled: nothing to do
    completed = enrollment(c, status=EnrollmentStatus.REMOVED, completed_at=NOW)
    again = rd.reactivate(c, completed, enrolled_by="teacher")
    assert again is not None and again.state.status is EnrollmentStatus.COMPLETED


def test_tracked_remembers_whether_the_last_decision_wrote() -> None:
    c = course()
    tracked = rd.Tracked(lambda e: rd.remove(e, removed_by="teacher", now=NOW))
    tracked(enrollment(c))
    assert tracked.applied
    tracked(enrollment(c, status=EnrollmentStatus.REMOVED))  # a lost race: someone else removed it
    assert not tracked.applied


# --- course roles ------------------------------------------------------------------------------------------


def test_a_role_is_a_teaching_assistant_a_learner_while_enrolled_or_none() -> None:
    c = course(assistants=["ta"])
    assert rd.role_of(c, "ta", None) is CourseRole.TEACHING_ASSISTANT
    assert rd.role_of(c, "learner", enrollment(c)) is CourseRole.LEARNER
    assert rd.role_of(c, "learner", enrollment(c, status=EnrollmentStatus.REMOVED)) is None
    assert rd.role_of(c, "stranger", None) is None
    assert rd.role_of(c, None, None) is None


def test_setting_a_role_changes_the_assistants_once_and_announces_it() -> None:
    c = course()
    made = rd.set_role(c, user_id="ta", role=CourseRole.TEACHING_ASSISTANT, changed_by="teacher")
    assert made is not None and made.state.teaching_assistants == ["ta"]
    (event,) = events(made)
    assert event["event_type"] == "COURSE_ROLE_CHANGED" and event["user_id"] == "ta"
    assert (event["metadata"]["role"], event["metadata"]["previous_role"]) == (
        "TEACHING_ASSISTANT",
        "LEARNER",
    )
    assert rd.set_role(made.state, user_id="ta", role=CourseRole.TEACHING_ASSISTANT, changed_by="t") is None
    back = rd.set_role(made.state, user_id="ta", role=CourseRole.LEARNER, changed_by="teacher")
    assert back is not None and back.state.teaching_assistants == []
    assert rd.set_role(c, user_id="x", role=CourseRole.LEARNER, changed_by="teacher") is None
    with pytest.raises(Conflict):
        rd.set_role(c, user_id="teacher", role=CourseRole.TEACHING_ASSISTANT, changed_by="teacher")
    full = course(assistants=[f"ta{i}" for i in range(limits.TEACHING_ASSISTANTS_MAX)])
    with pytest.raises(ValidationFailed):
        rd.set_role(full, user_id="one-more", role=CourseRole.TEACHING_ASSISTANT, changed_by="teacher")


# --- the CSV, streamed -------------------------------------------------------------------------------------


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def rows(body: bytes, piece: int = 7) -> list[Row]:
    return [row async for row in csv_rows(stream(body[i : i + piece] for i in range(0, len(body), piece)))]


async def test_rows_are_read_across_pieces_with_their_line_numbers() -> None:
    body = "\ufeffEmail,Name\r\nada@example.org,Ada\r\n\r\n bob@example.org ,Bob\nlast@example.org".encode()
    found = await rows(body)
    assert [(r.line, r.entry, r.problem) for r in found] == [
        (2, "ada@example.org", None),
        (4, "bob@example.org", None),
        (5, "last@example.org", None),
    ]
    # No header: the first column; a header naming another column: that one.
    assert [r.entry for r in await rows(b"a@example.org\nb@example.org\n")] == [
        "a@example.org",
        "b@example.org",
    ]
    assert [r.entry for r in await rows(b"name,user_id\nAda,123\n")] == ["123"]


async def test_an_overlong_row_is_reported_and_never_held_whole() -> None:
    huge = b"x" * (ROW_BYTES_MAX * 3)
    found = await rows(b"a@example.org\n" + huge + b"\nb@example.org\n", piece=100)
    assert [(r.line, r.problem is not None) for r in found] == [(1, False), (2, True), (3, False)]
    missing = await rows(b"a@example.org\n,second column only\n")
    assert missing[1].problem == "No email or user id in this row."


async def test_a_body_that_is_not_utf8_text_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(GraphError):
        await rows(b"\xff\xfe\x00\x01\n")
    later = await rows(b"a@example.org\n\xff\xfe\n")
    assert later[1].problem == "Not UTF-8 text."
