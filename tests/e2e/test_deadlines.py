"""Deadlines and the calendar feed (issue 17) end to end, through the router and REST on the real stores
and Kafka: due dates on a module and an assessment, a learner's upcoming deadlines, an extension for one
learner only, the iCalendar feed read by a second, independent parser (vobject), a moved date keeping its
UID, a rotated secret answering 404, refusals that change nothing, and bad input with a clear error."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import vobject

from tests.e2e.conftest import E2EStack
from tests.support.kafka import collect_events

pytestmark = pytest.mark.e2e

DEADLINE_FIELDS = (
    "id courseId target targetId title dueAt courseDueAt extended extensions { user { id } dueAt }"
)
SET = f"""mutation($c: ID!, $input: DeadlineInput!) {{
  setDeadline(courseId: $c, input: $input) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""
CLEAR = f"""mutation($c: ID!, $t: ID!) {{
  clearDeadline(courseId: $c, targetId: $t) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""
EXTEND = f"""mutation($c: ID!, $t: ID!, $u: ID!, $due: DateTime) {{
  grantExtension(courseId: $c, targetId: $t, userId: $u, dueAt: $due) {{
    deadline {{ {DEADLINE_FIELDS} }} errors {{ code field message }}
  }}
}}"""
COURSE_DEADLINES = f"query($c: ID!) {{ course(id: $c) {{ deadlines {{ {DEADLINE_FIELDS} }} }} }}"
ME_UPCOMING = """query($first: Int!) {
  me {
    id upcomingDeadlines(first: $first) { course { id title } deadline { targetId title dueAt extended } }
  }
}"""
ME_FEED_URL = "query { me { id calendarFeedUrl } }"
OTHER_USER = """query($u: ID!) {
  user(id: $u) { id calendarFeedUrl upcomingDeadlines(first: 5) { deadline { id } } }
}"""
ROTATE = "mutation { rotateCalendarFeed { url errors { code message } } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
CREATE_ASSESSMENT = """mutation($c: ID!, $input: AssessmentInput!) {
  createAssessment(courseId: $c, input: $input) { assessment { id title } errors { code field message } }
}"""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ahead(days: float) -> datetime:
    """A due time `days` from now, to the second (the store keeps milliseconds; feeds show seconds)."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def ok(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body.get("errors") is None, body
    data: dict[str, Any] = body["data"]
    return data


def payload(stack: E2EStack, query: str, variables: dict[str, Any], token: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(stack.graphql(query, variables, token=token))[name]
    return found


def first_error_code(stack: E2EStack, query: str, variables: dict[str, Any], token: str) -> str:
    body = stack.graphql(query, variables, token=token).json()
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


class Class:
    """A published course with two modules and an assessment, its instructor and two enrolled learners."""

    def __init__(self, stack: E2EStack) -> None:
        self.stack = stack
        self.instructor = stack.sign_in_as("instructor", name="Ada Teacher")["access_token"]
        course = stack.create_course(self.instructor, title=f"Deadlines {uuid.uuid4().hex[:6]}", lessons=2)
        self.course_id: str = course["id"]
        self.title: str = course["title"]
        self.module_id: str = course["modules"][0]["id"]
        created = payload(
            stack,
            CREATE_ASSESSMENT,
            {"c": self.course_id, "input": {"title": "Quiz one"}},
            self.instructor,
            "createAssessment",
        )
        assert created["errors"] == [], created
        self.assessment_id: str = created["assessment"]["id"]
        self.learners = [stack.sign_in() for _ in range(2)]
        for learner in self.learners:
            ok(stack.graphql(ENROLL, {"c": self.course_id}, token=learner["access_token"]))

    def token(self, index: int) -> str:
        return str(self.learners[index]["access_token"])

    def user_id(self, index: int) -> str:
        return str(self.learners[index]["user"]["id"])

    def set(self, target: str, target_id: str, due: datetime, token: str | None = None) -> dict[str, Any]:
        variables = {
            "c": self.course_id,
            "input": {"target": target, "targetId": target_id, "dueAt": iso(due)},
        }
        return payload(self.stack, SET, variables, token or self.instructor, "setDeadline")

    def set_assessment(self, due: datetime) -> dict[str, Any]:
        """The assessment's deadline, once the courses service has heard of the assessment (from
        assessment.events, within a second or so)."""
        give_up = time.monotonic() + 30
        while True:
            result = self.set("ASSESSMENT", self.assessment_id, due)
            if not result["errors"] or time.monotonic() > give_up:
                return result
            assert result["errors"][0]["code"] == "UNKNOWN_ID", result
            time.sleep(0.2)

    def deadlines(self, token: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = ok(
            self.stack.graphql(COURSE_DEADLINES, {"c": self.course_id}, token=token)
        )["course"]["deadlines"]
        return found

    def upcoming(self, token: str, first: int = 20) -> list[dict[str, Any]]:
        me = ok(self.stack.graphql(ME_UPCOMING, {"first": first}, token=token))["me"]
        return [u for u in me["upcomingDeadlines"] if u["course"]["id"] == self.course_id]


def feed_url(stack: E2EStack, token: str) -> str:
    url: str = ok(stack.graphql(ME_FEED_URL, token=token))["me"]["calendarFeedUrl"]
    return url


def read_feed(stack: E2EStack, url: str) -> Any:
    """The feed as a second, independent iCalendar parser reads it."""
    response = stack.rest("GET", url.removeprefix(stack.rest_url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return vobject.readOne(response.text)


def events_of(calendar: Any, course_title: str) -> dict[str, Any]:
    """The feed's events of one course, by SUMMARY."""
    events = calendar.contents.get("vevent", [])
    return {e.summary.value: e for e in events if e.summary.value.startswith(course_title)}


# --- tests ----------------------------------------------------------------------------------------


async def test_due_dates_reach_managers_learners_and_course_events(
    stack: E2EStack, kafka_bootstrap: str
) -> None:
    lesson = Class(stack)
    module_due, quiz_due = ahead(14), ahead(7)
    module = lesson.set("MODULE", lesson.module_id, module_due)
    assert module["errors"] == [], module
    assert module["deadline"]["title"] == "Module 1"
    quiz = lesson.set_assessment(quiz_due)
    assert quiz["errors"] == [], quiz
    assert quiz["deadline"]["title"] == "Quiz one"

    # The instructor sees the course's dates, next due first.
    managed = lesson.deadlines(lesson.instructor)
    assert [(d["targetId"], d["dueAt"]) for d in managed] == [
        (lesson.assessment_id, iso(quiz_due).replace("Z", "+00:00")),
        (lesson.module_id, iso(module_due).replace("Z", "+00:00")),
    ]
    # A learner sees them as theirs, and as upcoming, next due first; a stranger sees none.
    assert [d["targetId"] for d in lesson.deadlines(lesson.token(0))] == [
        lesson.assessment_id,
        lesson.module_id,
    ]
    upcoming = lesson.upcoming(lesson.token(0))
    assert [(u["deadline"]["title"], u["course"]["title"]) for u in upcoming] == [
        ("Quiz one", lesson.title),
        ("Module 1", lesson.title),
    ]
    assert [u["deadline"]["title"] for u in lesson.upcoming(lesson.token(0), first=1)] == ["Quiz one"]
    assert lesson.deadlines(stack.sign_in()["access_token"]) == []

    # REST shows the same, in the envelope.
    listed = stack.rest("GET", f"/courses/{lesson.course_id}/deadlines", token=lesson.instructor)
    assert listed.status_code == 200, listed.text
    assert [d["target"] for d in listed.json()["data"]] == ["assessment", "module"]

    # Each change is a DEADLINE_SET on course.events, keyed by the deadline.
    events = await collect_events(
        kafka_bootstrap,
        "course.events",
        lambda e: e["event_type"] == "DEADLINE_SET" and e["course_id"] == lesson.course_id,
        expect=2,
    )
    by_target = {event["metadata"]["target_id"]: (key, event) for key, event in events}
    key, event = by_target[lesson.module_id]
    assert key == module["deadline"]["id"].encode()
    assert event["metadata"]["target"] == "MODULE" and event["metadata"]["cleared"] is False
    assert datetime.fromisoformat(event["metadata"]["due_at"]) == module_due


def test_the_calendar_feed_keeps_uids_moves_dates_and_rotates(stack: E2EStack) -> None:
    lesson = Class(stack)
    first_due = ahead(10)
    assert lesson.set("MODULE", lesson.module_id, first_due)["errors"] == []
    assert lesson.set_assessment(ahead(20))["errors"] == []
    url = feed_url(stack, lesson.token(0))
    assert feed_url(stack, lesson.token(0)) == url  # made once, then the same
    assert url.startswith(stack.rest_url + "/calendar/") and url.endswith(".ics")

    calendar = read_feed(stack, url)
    assert calendar.version.value == "2.0"
    events = events_of(calendar, lesson.title)
    assert sorted(events) == [f"{lesson.title}: Module 1", f"{lesson.title}: Quiz one"]
    before = events[f"{lesson.title}: Module 1"]
    assert before.dtstart.value == first_due
    assert before.dtstamp.value is not None

    # The date moves: the same UID, the new time, a higher SEQUENCE.
    moved_due = ahead(12)
    assert lesson.set("MODULE", lesson.module_id, moved_due)["errors"] == []
    after = events_of(read_feed(stack, url), lesson.title)[f"{lesson.title}: Module 1"]
    assert after.uid.value == before.uid.value
    assert after.dtstart.value == moved_due
    assert int(after.sequence.value) > int(before.sequence.value)
    # Another learner's feed has the same events under their own UIDs.
    other = events_of(read_feed(stack, feed_url(stack, lesson.token(1))), lesson.title)
    assert other[f"{lesson.title}: Module 1"].uid.value != after.uid.value

    # Rotated: the old URL answers 404 in the envelope, the new one the feed.
    rotated = ok(stack.graphql(ROTATE, token=lesson.token(0)))["rotateCalendarFeed"]
    assert rotated["errors"] == [] and rotated["url"] != url
    gone = stack.rest("GET", url.removeprefix(stack.rest_url))
    assert gone.status_code == 404, gone.text
    assert gone.json()["success"] is False and gone.json()["error"]["code"] == "NOT_FOUND"
    assert feed_url(stack, lesson.token(0)) == rotated["url"]
    assert f"{lesson.title}: Module 1" in events_of(read_feed(stack, rotated["url"]), lesson.title)
    # A secret that never was answers the same 404.
    never = stack.rest("GET", f"/calendar/{uuid.uuid4().hex}.ics")
    assert never.status_code == 404 and never.json() | {"timestamp": None} == gone.json() | {
        "timestamp": None
    }

    # The URL and the upcoming deadlines are the user's own.
    someone = stack.sign_in()["access_token"]
    denied = stack.graphql(OTHER_USER, {"u": lesson.user_id(0)}, token=someone).json()
    assert denied["errors"] and all(e["extensions"]["code"] == "FORBIDDEN" for e in denied["errors"]), denied


def test_an_extension_shows_only_for_its_learner(stack: E2EStack) -> None:
    lesson = Class(stack)
    course_due, extended_due = ahead(5), ahead(9)
    assert lesson.set("MODULE", lesson.module_id, course_due)["errors"] == []
    variables = {
        "c": lesson.course_id,
        "t": lesson.module_id,
        "u": lesson.user_id(0),
        "due": iso(extended_due),
    }
    granted = payload(stack, EXTEND, variables, lesson.instructor, "grantExtension")
    assert granted["errors"] == [], granted
    assert granted["deadline"]["extensions"] == [
        {"user": {"id": lesson.user_id(0)}, "dueAt": iso(extended_due).replace("Z", "+00:00")}
    ]

    mine, theirs = lesson.upcoming(lesson.token(0)), lesson.upcoming(lesson.token(1))
    assert [(u["deadline"]["dueAt"], u["deadline"]["extended"]) for u in mine] == [
        (iso(extended_due).replace("Z", "+00:00"), True)
    ]
    assert [(u["deadline"]["dueAt"], u["deadline"]["extended"]) for u in theirs] == [
        (iso(course_due).replace("Z", "+00:00"), False)
    ]
    [own] = lesson.deadlines(lesson.token(0))
    assert own["extensions"] == [] and own["courseDueAt"] == iso(course_due).replace("Z", "+00:00")
    summary = f"{lesson.title}: Module 1"
    assert events_of(read_feed(stack, feed_url(stack, lesson.token(0))), lesson.title)[
        summary
    ].dtstart.value == (extended_due)
    assert events_of(read_feed(stack, feed_url(stack, lesson.token(1))), lesson.title)[
        summary
    ].dtstart.value == (course_due)

    # Through REST, null removes it.
    path = f"/courses/{lesson.course_id}/deadlines/{lesson.module_id}/extensions/{lesson.user_id(0)}"
    removed = stack.rest("PUT", path, token=lesson.instructor, json={"due_at": None})
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["extensions"] == []
    assert [u["deadline"]["extended"] for u in lesson.upcoming(lesson.token(0))] == [False]


def test_learners_and_other_instructors_are_refused_and_nothing_changes(stack: E2EStack) -> None:
    lesson = Class(stack)
    due = ahead(3)
    assert lesson.set("MODULE", lesson.module_id, due)["errors"] == []
    stranger = stack.sign_in_as("instructor", name="Other Teacher")["access_token"]
    later = iso(ahead(30))
    for token in (lesson.token(0), stranger):
        variables = {
            "c": lesson.course_id,
            "input": {"target": "MODULE", "targetId": lesson.module_id, "dueAt": later},
        }
        assert first_error_code(stack, SET, variables, token) == "FORBIDDEN"
        assert (
            first_error_code(stack, CLEAR, {"c": lesson.course_id, "t": lesson.module_id}, token)
            == "FORBIDDEN"
        )
        extend = {"c": lesson.course_id, "t": lesson.module_id, "u": lesson.user_id(0), "due": later}
        assert first_error_code(stack, EXTEND, extend, token) == "FORBIDDEN"
        rest = stack.rest(
            "PUT",
            f"/courses/{lesson.course_id}/deadlines/{lesson.module_id}",
            token=token,
            json={"target": "module", "due_at": later},
        )
        assert rest.status_code == 403, rest.text
        deleted = stack.rest(
            "DELETE", f"/courses/{lesson.course_id}/deadlines/{lesson.module_id}", token=token
        )
        assert deleted.status_code == 403, deleted.text
    [unchanged] = lesson.deadlines(lesson.instructor)
    assert unchanged["dueAt"] == iso(due).replace("Z", "+00:00") and unchanged["extensions"] == []

    # The instructor clears it: gone for everyone.
    cleared = payload(
        stack, CLEAR, {"c": lesson.course_id, "t": lesson.module_id}, lesson.instructor, "clearDeadline"
    )
    assert cleared["errors"] == [], cleared
    assert lesson.deadlines(lesson.instructor) == [] and lesson.upcoming(lesson.token(0)) == []


def test_bad_input_gets_a_clear_error_and_changes_nothing(stack: E2EStack) -> None:
    lesson = Class(stack)
    due = ahead(3)
    assert lesson.set("MODULE", lesson.module_id, due)["errors"] == []
    cases = [
        ("MODULE", lesson.module_id, iso(datetime.now(UTC) - timedelta(hours=1)), "IN_THE_PAST"),
        (
            "MODULE",
            lesson.module_id,
            (datetime.now() + timedelta(days=2)).replace(microsecond=0).isoformat(),
            "NO_TIME_ZONE",
        ),
        ("MODULE", lesson.module_id, iso(ahead(6 * 366)), "OUT_OF_RANGE"),
        ("MODULE", uuid.uuid4().hex, iso(ahead(2)), "UNKNOWN_ID"),
        ("ASSESSMENT", lesson.module_id, iso(ahead(2)), "UNKNOWN_ID"),
        ("ASSESSMENT", "0123456789abcdef01234567", iso(ahead(2)), "UNKNOWN_ID"),
    ]
    for target, target_id, due_at, code in cases:
        variables = {
            "c": lesson.course_id,
            "input": {"target": target, "targetId": target_id, "dueAt": due_at},
        }
        result = payload(stack, SET, variables, lesson.instructor, "setDeadline")
        assert result["deadline"] is None, result
        assert [e["code"] for e in result["errors"]] == [code], (due_at, result)
    # Clearing, or extending, what has no deadline; extending for someone not enrolled.
    nothing = payload(
        stack, CLEAR, {"c": lesson.course_id, "t": lesson.assessment_id}, lesson.instructor, "clearDeadline"
    )
    assert [e["code"] for e in nothing["errors"]] == ["UNKNOWN_ID"]
    stranger = stack.sign_in()["user"]["id"]
    extend = {"c": lesson.course_id, "t": lesson.module_id, "u": stranger, "due": iso(ahead(4))}
    refused = payload(stack, EXTEND, extend, lesson.instructor, "grantExtension")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("NOT_ENROLLED", "userId")]

    # REST: 400 in the envelope, naming the field.
    path = f"/courses/{lesson.course_id}/deadlines/{lesson.module_id}"
    past = stack.rest(
        "PUT", path, token=lesson.instructor, json={"target": "module", "due_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 400, past.text
    assert (
        past.json()["error"]["code"] == "BAD_USER_INPUT"
        and "due_at" in past.json()["error"]["details"]["fields"]
    )
    naive = stack.rest(
        "PUT", path, token=lesson.instructor, json={"target": "module", "due_at": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 400, naive.text
    unknown = stack.rest(
        "PUT",
        f"/courses/{lesson.course_id}/deadlines/{uuid.uuid4().hex}",
        token=lesson.instructor,
        json={"target": "module", "due_at": iso(ahead(2))},
    )
    assert unknown.status_code == 400 and "target_id" in unknown.json()["error"]["details"]["fields"], (
        unknown.text
    )

    [unchanged] = lesson.deadlines(lesson.instructor)
    assert unchanged["dueAt"] == iso(due).replace("Z", "+00:00") and unchanged["extensions"] == []
