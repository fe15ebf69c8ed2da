"""Announcements' decisions (subgraphs/courses/announcements_decisions.py) and the Markdown they render
(coursegraph/rich_text.py), with no store: what is written, what is announced, what is refused, and what
HTML is allowed to remain."""

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from bson import ObjectId

from coursegraph import limits
from coursegraph.errors import Conflict, ValidationFailed
from coursegraph.rich_text import sanitise, to_html, to_text
from coursegraph.unit_of_work import Decision
from subgraphs.courses import announcements_decisions as decisions
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.models import Announcement, CourseStatus, Enrollment, EnrollmentStatus

NOW = datetime(2031, 6, 1, tzinfo=UTC)
LATER = datetime(2031, 6, 2, tzinfo=UTC)


def course(status: CourseStatus = CourseStatus.PUBLISHED) -> CourseSummary:
    return CourseSummary(
        id=str(ObjectId()),
        title="Signals",
        description="",
        instructor_id="teacher",
        status=status,
        lesson_count=1,
        enrollment_count=0,
        created_at=NOW,
        updated_at=NOW,
        published_at=NOW,
        modules=(),
        version=1,
        folded_title="signals",
    )


def events(decision: Decision[Any]) -> list[dict[str, Any]]:
    return [json.loads(entry["payload"]) for entry in decision.events]


def posted() -> Announcement:
    return decisions.post(
        course(), author_id="teacher", title="Week 1", body="Read *chapter 1*.", now=NOW
    ).state


def elements(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Collect().feed(markup)
    return found


# --- rendering and sanitising ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "<a href='javascript:alert(1)'>x</a>",
        "<iframe src='https://evil.example'></iframe>",
        "![x](javascript:alert(1))",
        '<div style="background:url(javascript:alert(1))">x</div>',
    ],
)
def test_markup_in_markdown_never_becomes_an_element_that_runs(markdown: str) -> None:
    rendered = to_html(markdown)
    for tag, attributes in elements(rendered):
        assert tag not in ("script", "iframe", "div", "style"), rendered
        assert not any(name.startswith("on") or name == "style" for name in attributes), rendered
        assert not any("javascript:" in (value or "").lower() for value in attributes.values()), rendered


def test_markdown_keeps_its_formatting_and_safe_links() -> None:
    rendered = to_html("# Title\n\n**bold** _it_ `code` ~~gone~~\n\n- [docs](https://example.org/a?b=1&c=2)")
    assert "<h1>Title</h1>" in rendered and "<strong>bold</strong>" in rendered
    assert "<em>it</em>" in rendered and "<code>code</code>" in rendered and "<s>gone</s>" in rendered
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer">docs</a>' in rendered


def test_the_sanitiser_drops_what_the_allow_list_lacks_even_from_html_it_is_given() -> None:
    given = '<p onclick="x()">Hi <a href="javascript:x()">a</a><script>x()</script><b>b</b></p>'
    assert sanitise(given) == '<p>Hi <a rel="noopener noreferrer">a</a>b</p>'


def test_the_text_part_is_the_text_of_the_html() -> None:
    assert (
        to_text(to_html("# Hello\n\nOne *two* & <three>\n\n- four")) == "Hello\n\nOne two & <three>\n\nfour"
    )


# --- decisions ------------------------------------------------------------------------------------


def test_posting_writes_the_markdown_and_its_safe_html_and_announces_it() -> None:
    on = course()
    decision = decisions.post(on, author_id="teacher", title="  Week 1 ", body="Read *this*.", now=NOW)
    announcement = decision.state
    assert (announcement.title, announcement.body) == ("Week 1", "Read *this*.")
    assert announcement.body_html == "<p>Read <em>this</em>.</p>\n"
    assert announcement.course_id == on.id and announcement.posted_at == NOW
    (event,) = events(decision)
    assert event["event_type"] == "ANNOUNCEMENT_POSTED" and event["course_id"] == on.id
    assert event["metadata"] == {
        "announcement_id": str(announcement.id),
        "title": "Week 1",
        "course_title": "Signals",
    }


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("", "Body", [("title", "REQUIRED")]),
        ("Title", "   ", [("body", "REQUIRED")]),
        ("x" * (limits.ANNOUNCEMENT_TITLE_MAX + 1), "Body", [("title", "TOO_LONG")]),
        ("Title", "x" * (limits.ANNOUNCEMENT_BODY_MAX + 1), [("body", "TOO_LONG")]),
        ("Two\nlines", "Body", [("title", "INVALID")]),
    ],
)
def test_bad_input_is_refused_field_by_field(title: str, body: str, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        decisions.post(course(), author_id="teacher", title=title, body=body, now=NOW)
    assert [(e.field, e.code) for e in refused.value.errors] == expected


def test_an_archived_course_takes_no_announcements_and_no_edits() -> None:
    with pytest.raises(Conflict) as refused:
        decisions.post(course(CourseStatus.ARCHIVED), author_id="t", title="T", body="B", now=NOW)
    assert refused.value.details == {"reason": "COURSE_ARCHIVED"}
    with pytest.raises(Conflict):
        decisions.edit(course(CourseStatus.ARCHIVED), posted(), editor_id="t", title="X", body=None, now=NOW)


def test_editing_changes_only_what_is_given_and_announces_it_without_mail() -> None:
    before = posted()
    decision = decisions.edit(course(), before, editor_id="admin", title=None, body="New **body**", now=LATER)
    assert decision is not None
    after = decision.state
    assert after.title == before.title and after.body == "New **body**"
    assert after.body_html == "<p>New <strong>body</strong></p>\n"
    assert after.edited_at == LATER and after.posted_at == NOW
    (event,) = events(decision)
    assert event["event_type"] == "ANNOUNCEMENT_UPDATED" and event["metadata"]["changed"] == ["body"]


def test_an_edit_that_changes_nothing_writes_nothing() -> None:
    before = posted()
    assert decisions.edit(course(), before, editor_id="t", title="Week 1", body=None, now=LATER) is None
    assert decisions.edit(course(), before, editor_id="t", title=None, body=None, now=LATER) is None


def test_learners_hear_the_course_while_enrolled_or_done_with_it() -> None:
    def enrolled(status: EnrollmentStatus) -> Enrollment:
        built: Enrollment = Enrollment.model_construct(
            id=ObjectId(), user_id="u", course_id="c", enrolled_at=NOW, status=status
        )
        return built

    assert decisions.hears(enrolled(EnrollmentStatus.ACTIVE))
    assert decisions.hears(enrolled(EnrollmentStatus.COMPLETED))
    assert not decisions.hears(None)
