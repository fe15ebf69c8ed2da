"""One ANNOUNCEMENT_POSTED becomes exactly one email per learner (issue 17, ADR 0031): the notifications
pipeline on the real store and the fake SendGrid, redelivered after a page could not be finished, and
delivered again whole. The courses and users services, which answer across the wire, are stood in for
by their ports (`Audiences`, `Directory`) serving a fixed class."""

# The notifier's tests' fixtures are imported, and pytest passes them in by name.
# ruff: noqa: F811

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from coursegraph.events import Event, Topic
from subgraphs.notifications.audience import AudiencePage
from subgraphs.notifications.events import Links, Recipient
from subgraphs.notifications.pipeline import Done, Pipeline, Postpone
from subgraphs.notifications.repository import Preferences
from subgraphs.notifications.unsubscribe import Category, OptOut
from tests.fakes.sendgrid import FakeSendGrid

# The store and the fake SendGrid of the notifier's own tests, and its notifier on them.
from tests.integration.test_notifier import database, sendgrid  # noqa: F401 (fixtures)
from tests.integration.test_notifier import notifier as notifier_on

pytestmark = pytest.mark.integration

CLASS = [str(uuid.uuid4()) for _ in range(23)]
PAGE = 10
COURSE_ID = "6b0e48e58e255fc7add36f17"


class Roster:
    """The courses service's `announcementAudience`, over a fixed class, PAGE learners at a time."""

    def __init__(self) -> None:
        self.asked = 0

    async def page(self, announcement_id: str, after: str | None) -> AudiencePage | None:
        self.asked += 1
        start = int(after or 0)
        return AudiencePage(
            course_id=COURSE_ID,
            course_title="Signals",
            title="Week 1",
            body_html="<p>Read <em>chapter 1</em>.</p><script>x()</script>",
            body_text="Read chapter 1.",
            learner_ids=CLASS[start : start + PAGE],
            end_cursor=str(start + PAGE),
            has_next=start + PAGE < len(CLASS),
        )


class Users:
    async def recipients(self, user_ids: list[str]) -> dict[str, Recipient]:
        return {u: Recipient(u, address(u), f"Learner {u[:4]}") for u in user_ids}


def address(user_id: str) -> str:
    return f"{user_id}@example.org"


def pipeline(database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid, roster: Roster) -> Pipeline:
    links = Links(app_url="https://learn.example.org", api_url="https://api.example.org")
    notifier = notifier_on(database, sendgrid, lease=timedelta(minutes=5))
    return Pipeline(notifier, Users(), links, audiences=roster)


def posted() -> Event:
    return Event(
        event_type="ANNOUNCEMENT_POSTED",
        user_id=str(uuid.uuid4()),
        course_id=COURSE_ID,
        metadata={
            "announcement_id": "6b0e48e58e255fc7add36f18",
            "title": "Week 1",
            "course_title": "Signals",
        },
        source="courses",
    )


def per_learner(sendgrid: FakeSendGrid) -> dict[str, int]:
    return {user_id: len(sendgrid.to(address(user_id))) for user_id in CLASS}


async def test_a_page_cut_short_is_postponed_and_the_redelivery_sends_only_the_rest(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    roster = Roster()
    fan_out = pipeline(database, sendgrid, roster)
    opted_out = CLASS[4]
    await Preferences(database["preferences"]).opt_out(OptOut(opted_out, Category.ANNOUNCEMENTS))
    # SendGrid is away for one learner of the second page (every attempt): that page cannot finish.
    stuck = CLASS[PAGE + 3]
    for _ in range(2):
        sendgrid.answer_next(503, to=address(stuck))
    event = posted()

    (first,) = await fan_out.handle([(Topic.COURSE, event)])
    assert isinstance(first, Postpone), first
    sent = per_learner(sendgrid)
    assert sent[stuck] == 0 and sent[opted_out] == 0
    assert all(sent[u] == 1 for u in CLASS[: 2 * PAGE] if u not in (stuck, opted_out))
    assert all(sent[u] == 0 for u in CLASS[2 * PAGE :]), "the third page waits for the second"

    # The redelivery (or a restart of the consumer) goes through the class again.
    (second,) = await fan_out.handle([(Topic.COURSE, event)])
    assert isinstance(second, Done), second
    assert per_learner(sendgrid) == {u: 0 if u == opted_out else 1 for u in CLASS}
    # Once more, as Kafka may: nothing new.
    (third,) = await fan_out.handle([(Topic.COURSE, event)])
    assert isinstance(third, Done)
    assert sum(per_learner(sendgrid).values()) == len(CLASS) - 1

    records = database["notifications"]
    assert await records.count_documents({"kind": "announcement", "status": "sent"}) == len(CLASS) - 1
    skipped = await records.find_one({"user_id": opted_out})
    assert skipped is not None and skipped["status"] == "skipped" and skipped["category"] == "announcements"

    # Each email: the course's title and the announcement's in the subject, sanitised HTML, plain text.
    message = sendgrid.to(address(CLASS[0]))[0]
    assert message["subject"] == "Signals: Week 1"
    parts = {part["type"]: part["value"] for part in message["content"]}
    assert "<p>Read <em>chapter 1</em>.</p>" in parts["text/html"] and "<script>" not in parts["text/html"]
    assert "Read chapter 1." in parts["text/plain"]
    assert f"https://learn.example.org/courses/{COURSE_ID}" in parts["text/plain"]
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_an_announcement_that_is_gone_mails_nobody_and_an_update_is_no_email(
    database: AsyncDatabase[dict[str, Any]], sendgrid: FakeSendGrid
) -> None:
    class Gone(Roster):
        async def page(self, announcement_id: str, after: str | None) -> AudiencePage | None:
            return None

    fan_out = pipeline(database, sendgrid, Gone())
    updated = Event(
        event_type="ANNOUNCEMENT_UPDATED",
        user_id=str(uuid.uuid4()),
        course_id=COURSE_ID,
        metadata={"announcement_id": "6b0e48e58e255fc7add36f18", "changed": ["title"]},
        source="courses",
    )
    results = await fan_out.handle([(Topic.COURSE, posted()), (Topic.COURSE, updated)])
    assert results == [Done(None), Done(None)]
    assert sendgrid.received == []
