"""Issue 17's acceptance for announcements, through the router and REST on the real stores, Kafka and the
fake SendGrid: every learner of the course gets exactly one email, a learner who opted out gets none and
still reads it in the graph, markup in the body is sanitised in the email and in the graph, editing mails
nobody again, and only the course's instructor (or an admin) may post or edit."""

import time
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.e2e.conftest import E2EStack, unique_email
from tests.e2e.test_assessments_flow import ENROLL
from tests.fakes.sendgrid import FakeSendGrid

pytestmark = pytest.mark.e2e

# Markup that would run if it reached a page or a mail client as HTML.
HOSTILE_BODY = """Welcome to **week 1**.

<script>alert('body')</script>
<img src=x onerror="alert('img')">

[a harmless link](https://example.org/syllabus) and [a hostile one](javascript:alert('link'))

<a href="javascript:alert('raw')">raw link</a>
"""

ANNOUNCEMENTS = """
query($c: ID!, $first: Int!, $after: String) {
  course(id: $c) {
    announcements(first: $first, after: $after) {
      edges { cursor node { id courseId title body bodyHtml postedAt editedAt author { id } } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
  }
}"""
POST = """
mutation($c: ID!, $input: AnnouncementInput!) {
  postAnnouncement(courseId: $c, input: $input) {
    announcement { id title bodyHtml } errors { code field message }
  }
}"""
UPDATE = """
mutation($id: ID!, $input: UpdateAnnouncementInput!) {
  updateAnnouncement(id: $id, input: $input) {
    announcement { id title body editedAt } errors { code field message }
  }
}"""


class _Elements(HTMLParser):
    """Every element of an HTML document, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def assert_inert(markup: str) -> None:
    """No element that runs script: no <script>, no on* handler, no javascript: URL."""
    parser = _Elements()
    parser.feed(markup)
    for tag, attributes in parser.found:
        assert tag not in ("script", "iframe", "object", "embed", "style"), (tag, markup)
        for name, value in attributes.items():
            assert not name.startswith("on"), (tag, name, markup)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, markup)


def announcement_mail(sendgrid: FakeSendGrid, address: str, subject: str) -> list[dict[str, Any]]:
    return [m for m in sendgrid.to(address) if m["subject"] == subject]


def wait_for_mail(
    sendgrid: FakeSendGrid, addresses: list[str], subject: str, *, within: float = 60
) -> dict[str, dict[str, Any]]:
    """Until each of `addresses` has an email with `subject`, then a little longer: no second may come."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(announcement_mail(sendgrid, a, subject) for a in addresses):
            break
        time.sleep(0.2)
    time.sleep(2.0)
    found: dict[str, dict[str, Any]] = {}
    for address in addresses:
        received = announcement_mail(sendgrid, address, subject)
        assert len(received) == 1, (address, [m["subject"] for m in sendgrid.to(address)])
        found[address] = received[0]
    return found


def page(
    stack: E2EStack, course_id: str, token: str | None, first: int = 20, after: str | None = None
) -> Any:
    answer = stack.graphql(
        ANNOUNCEMENTS, {"c": course_id, "first": first, "after": after}, token=token
    ).json()
    assert answer.get("errors") is None, answer
    return answer["data"]["course"]["announcements"]


def enrolled_learner(stack: E2EStack, course_id: str, tag: str) -> dict[str, Any]:
    learner = stack.sign_in(unique_email(tag), name=f"Learner {tag}")
    enrolled = stack.graphql(ENROLL, {"c": course_id}, token=learner["access_token"]).json()
    assert enrolled.get("errors") is None, enrolled
    return learner


def test_every_learner_gets_one_email_except_who_opted_out_and_editing_mails_nobody(
    stack: E2EStack, sendgrid: FakeSendGrid
) -> None:
    instructor = stack.sign_in_as("instructor", name="Announcing Instructor")
    teacher = instructor["access_token"]
    course_title = f"Announced {uuid.uuid4().hex[:6]}"
    course = stack.create_course(teacher, title=course_title)
    learners = [enrolled_learner(stack, course["id"], f"ann-{i}") for i in range(3)]
    opted_out = enrolled_learner(stack, course["id"], "ann-optout")
    switched = stack.rest(
        "PUT",
        "/notifications/preferences",
        token=opted_out["access_token"],
        json={"preferences": [{"category": "announcements", "subscribed": False}]},
    )
    assert switched.status_code == 200, switched.text
    assert {"category": "announcements", "subscribed": False, "essential": False} in switched.json()["data"]
    stranger = stack.sign_in(unique_email("ann-stranger"))

    title = "Week 1 starts <b>Monday</b>"
    posted = stack.rest(
        "POST",
        f"/courses/{course['id']}/announcements",
        token=teacher,
        json={"title": title, "body": HOSTILE_BODY},
    )
    assert posted.status_code == 201, posted.text
    announcement = posted.json()["data"]
    assert announcement["title"] == title and announcement["body"] == HOSTILE_BODY.strip()
    assert announcement["course_id"] == course["id"] and announcement["edited_at"] is None
    assert_inert(announcement["body_html"])
    assert '<a href="https://example.org/syllabus"' in announcement["body_html"]
    assert "<strong>week 1</strong>" in announcement["body_html"]

    # Every learner: exactly one email, its HTML sanitised, unsubscribable from this category alone.
    subject = f"{course_title}: {title}"
    emails = [learner["user"]["email"] for learner in learners]
    mail = wait_for_mail(sendgrid, emails, subject)
    for address, message in mail.items():
        parts = {part["type"]: part["value"] for part in message["content"]}
        assert_inert(parts["text/html"])
        assert "<strong>week 1</strong>" in parts["text/html"]
        assert "Week 1 starts &lt;b&gt;Monday&lt;/b&gt;" in parts["text/html"]  # the title is escaped
        assert "Welcome to week 1." in parts["text/plain"] and "<strong>" not in parts["text/plain"]
        assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["headers"]["List-Unsubscribe"].startswith(
            f"<{stack.rest_url}/notifications/unsubscribe"
        )
        assert message["personalizations"][0]["to"] == [{"email": address}]
    assert announcement_mail(sendgrid, opted_out["user"]["email"], subject) == []
    assert announcement_mail(sendgrid, instructor["user"]["email"], subject) == []
    assert announcement_mail(sendgrid, stranger["user"]["email"], subject) == []

    # The opted-out learner still reads it (newest first), as does every learner and the instructor.
    for token in [opted_out["access_token"], learners[0]["access_token"], teacher]:
        seen = page(stack, course["id"], token)
        assert seen["totalCount"] == 1
        (edge,) = seen["edges"]
        assert edge["node"]["id"] == announcement["id"] and edge["node"]["title"] == title
        assert edge["node"]["author"]["id"] == instructor["user"]["id"]
        assert_inert(edge["node"]["bodyHtml"])
    # Someone not in the course reads nothing; a course that is not there is a 404.
    assert page(stack, course["id"], stranger["access_token"]) == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "totalCount": 0,
    }
    refused = stack.rest("GET", f"/courses/{course['id']}/announcements", token=stranger["access_token"])
    assert refused.status_code == 200 and refused.json()["data"]["items"] == []
    missing = stack.rest("GET", f"/courses/{'0' * 24}/announcements", token=teacher)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    # The opted-out learner's history says why no email came.
    history = stack.rest("GET", "/notifications", token=opted_out["access_token"], params={"first": 50})
    skipped = [n for n in history.json()["data"]["items"] if n["type"] == "announcement"]
    assert [(n["status"], n["category"]) for n in skipped] == [("skipped", "announcements")]

    # Editing changes what every reader sees, and mails nobody again.
    edited = stack.rest(
        "PATCH",
        f"/announcements/{announcement['id']}",
        token=teacher,
        json={"title": "Week 1 starts Tuesday"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"]["title"] == "Week 1 starts Tuesday"
    assert edited.json()["data"]["edited_at"] is not None
    time.sleep(3.0)
    for learner in learners:
        received = [m for m in sendgrid.to(learner["user"]["email"]) if m["subject"].startswith(course_title)]
        assert len(received) == 1, [m["subject"] for m in received]
    listed = stack.rest("GET", f"/courses/{course['id']}/announcements", token=learners[1]["access_token"])
    assert listed.status_code == 200, listed.text
    assert [a["title"] for a in listed.json()["data"]["items"]] == ["Week 1 starts Tuesday"]


def test_announcements_are_listed_newest_first_a_page_at_a_time(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")
    teacher = instructor["access_token"]
    course = stack.create_course(teacher)
    titles = [f"Notice {i}" for i in range(3)]
    for title in titles:
        answer = stack.graphql(
            POST, {"c": course["id"], "input": {"title": title, "body": "x"}}, token=teacher
        )
        assert answer.json()["data"]["postAnnouncement"]["errors"] == [], answer.text
    first = page(stack, course["id"], teacher, first=2)
    assert [e["node"]["title"] for e in first["edges"]] == ["Notice 2", "Notice 1"]
    assert first["pageInfo"]["hasNextPage"] is True and first["totalCount"] == 3
    rest = page(stack, course["id"], teacher, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["title"] for e in rest["edges"]] == ["Notice 0"]
    assert rest["pageInfo"]["hasNextPage"] is False
    bad = stack.graphql(ANNOUNCEMENTS, {"c": course["id"], "first": 2, "after": "nope"}, token=teacher).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad
    # REST pages the same way, with the catalog's plain cursors.
    one = stack.rest("GET", f"/courses/{course['id']}/announcements", token=teacher, params={"first": 1})
    cursor = one.json()["data"]["page_info"]["end_cursor"]
    two = stack.rest(
        "GET", f"/courses/{course['id']}/announcements", token=teacher, params={"first": 5, "after": cursor}
    )
    assert [a["title"] for a in two.json()["data"]["items"]] == ["Notice 1", "Notice 0"]


def test_only_the_courses_instructor_or_an_admin_posts_and_edits(stack: E2EStack) -> None:
    instructor = stack.sign_in_as("instructor")
    teacher = instructor["access_token"]
    course = stack.create_course(teacher)
    learner = enrolled_learner(stack, course["id"], "ann-refused")
    other = stack.sign_in_as("instructor")["access_token"]
    posted = stack.graphql(
        POST, {"c": course["id"], "input": {"title": "Original", "body": "Body"}}, token=teacher
    )
    announcement_id = posted.json()["data"]["postAnnouncement"]["announcement"]["id"]

    # A learner reads the announcement and is refused; another course's instructor does not even see it.
    for token, edit_status in [(learner["access_token"], 403), (other, 404)]:
        refused = stack.graphql(
            POST, {"c": course["id"], "input": {"title": "Mine", "body": "x"}}, token=token
        )
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused.text
        rest = stack.rest(
            "POST", f"/courses/{course['id']}/announcements", token=token, json={"title": "Mine", "body": "x"}
        )
        assert rest.status_code == 403 and rest.json()["error"]["code"] == "FORBIDDEN", rest.text
        edit = stack.rest("PATCH", f"/announcements/{announcement_id}", token=token, json={"title": "Taken"})
        assert edit.status_code == edit_status, edit.text
    # Signed out: who is asking must be known.
    anonymous = stack.rest("POST", f"/courses/{course['id']}/announcements", json={"title": "A", "body": "b"})
    assert anonymous.status_code == 401, anonymous.text
    # Nor is anyone else who cannot read it.
    stranger = stack.sign_in(unique_email("ann-nosy"))["access_token"]
    hidden = stack.rest("PATCH", f"/announcements/{announcement_id}", token=stranger, json={"title": "x"})
    assert hidden.status_code == 404, hidden.text

    # Nothing changed; an admin may edit.
    seen = page(stack, course["id"], teacher)
    assert seen["totalCount"] == 1 and seen["edges"][0]["node"]["title"] == "Original"
    admin = stack.sign_in_admin()["access_token"]
    edited = stack.graphql(UPDATE, {"id": announcement_id, "input": {"body": "Moved"}}, token=admin).json()
    assert edited["data"]["updateAnnouncement"]["announcement"]["body"] == "Moved", edited


def test_bad_input_gets_a_clear_error_and_changes_nothing(stack: E2EStack) -> None:
    teacher = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(teacher)
    empty = stack.graphql(POST, {"c": course["id"], "input": {"title": "  ", "body": "Body"}}, token=teacher)
    payload = empty.json()["data"]["postAnnouncement"]
    assert payload["announcement"] is None
    assert payload["errors"] == [
        {"code": "REQUIRED", "field": "title", "message": "title must not be empty."}
    ]
    long = stack.graphql(
        POST, {"c": course["id"], "input": {"title": "T", "body": "x" * 20_001}}, token=teacher
    )
    assert long.json()["data"]["postAnnouncement"]["errors"][0]["code"] == "TOO_LONG", long.text
    # REST refuses the same before the graph is asked, naming the fields.
    rest = stack.rest(
        "POST",
        f"/courses/{course['id']}/announcements",
        token=teacher,
        json={"title": "", "body": "x" * 20_001},
    )
    assert rest.status_code == 400, rest.text
    error = rest.json()["error"]
    assert error["code"] == "BAD_USER_INPUT" and set(error["details"]["fields"]) == {"title", "body"}
    assert page(stack, course["id"], teacher)["totalCount"] == 0

    posted = stack.graphql(
        POST, {"c": course["id"], "input": {"title": "Fine", "body": "Body"}}, token=teacher
    )
    announcement_id = posted.json()["data"]["postAnnouncement"]["announcement"]["id"]
    edit = stack.graphql(UPDATE, {"id": announcement_id, "input": {"title": "two\nlines"}}, token=teacher)
    assert edit.json()["data"]["updateAnnouncement"]["errors"][0]["field"] == "title", edit.text
    assert page(stack, course["id"], teacher)["edges"][0]["node"]["title"] == "Fine"
