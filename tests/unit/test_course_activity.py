"""Course activity (subgraphs/courses/activity.py): events mapped to activities, the feed's bounded
queues and what a slow subscriber is told it missed, and a subscription's end at its token's expiry."""

import asyncio
import time
import uuid
from typing import Any

import pytest

from coursegraph.errors import Unauthenticated
from coursegraph.events import Event
from coursegraph.security import Actor, Role, before_token_expires
from subgraphs.courses.activity import ActivityFeed, ActivityKind, activity_of

COURSE = "64b000000000000000000001"


def event(event_type: str, source: str = "courses", course_id: str = COURSE, **metadata: Any) -> Event:
    """An event of `learner-1` in a course (`source` names the service: assessment events are theirs)."""
    return Event(
        event_type=event_type, user_id="learner-1", course_id=course_id, metadata=metadata, source=source
    )


def test_a_learners_course_events_become_activities() -> None:
    enrolled = event("COURSE_ENROLLED", enrollment_id="e1", course_title="Graphs", enrolled_by="learner-1")
    activity = activity_of(enrolled)
    assert activity is not None
    assert (activity.id, activity.kind, activity.occurred_at) == (
        str(enrolled.event_id),
        ActivityKind.ENROLLED,
        enrolled.timestamp,
    )
    assert (activity.course_id, activity.learner_id) == (COURSE, "learner-1")
    assert [activity.lesson_id, activity.progress, activity.score, activity.passed] == [None] * 4

    lesson = activity_of(event("LESSON_COMPLETED", lesson_id="l1"))
    assert lesson is not None and (lesson.kind, lesson.lesson_id) == (ActivityKind.LESSON_COMPLETED, "l1")
    progress = activity_of(event("PROGRESS_UPDATED", progress=50, previous_progress=0))
    assert progress is not None
    assert (progress.kind, progress.progress) == (ActivityKind.PROGRESS_UPDATED, 50.0)
    completed = activity_of(event("COURSE_COMPLETED", course_title="Graphs"))
    assert completed is not None and completed.kind is ActivityKind.COURSE_COMPLETED
    removed = activity_of(event("ENROLLMENT_REMOVED", removed_by="teacher", previous_status="active"))
    assert removed is not None and removed.kind is ActivityKind.UNENROLLED


def test_assessment_results_carry_the_score_in_percent_only_when_completed() -> None:
    common: dict[str, Any] = {"assessment_id": "a1", "attempt_id": "t1", "attempt_number": 1}
    submitted = activity_of(event("ASSESSMENT_SUBMITTED", "assessments", closed_by_deadline=False, **common))
    assert submitted is not None
    assert (submitted.kind, submitted.assessment_id, submitted.score, submitted.passed) == (
        ActivityKind.ASSESSMENT_SUBMITTED,
        "a1",
        None,
        None,
    )
    result: dict[str, Any] = {
        "score": 3,
        "max_score": 4,
        "percent": 75.0,
        "passed": True,
        "assessment_title": "Quiz",
    }
    completed = activity_of(event("ASSESSMENT_COMPLETED", "assessments", **common, **result))
    assert completed is not None
    assert (completed.kind, completed.score, completed.passed) == (
        ActivityKind.ASSESSMENT_COMPLETED,
        75.0,
        True,
    )


@pytest.mark.parametrize(
    "not_a_learners_doing",
    [
        event("COURSE_CREATED", title="Graphs"),
        event("COURSE_UPDATED", changed=["title"]),
        event("COURSE_ROLE_CHANGED", role="assistant", previous_role="learner", changed_by="t"),
        event("ANNOUNCEMENT_POSTED"),
        event("DEADLINE_SET"),
        event("ASSESSMENT_CREATED", "assessments", assessment_id="a1", title="Quiz"),
        event("LESSON_COMPLETED", course_id="", lesson_id="l1"),
    ],
)
def test_other_events_are_not_activities(not_a_learners_doing: Event) -> None:
    assert activity_of(not_a_learners_doing) is None


def test_a_bad_metadata_value_is_left_out_not_guessed() -> None:
    odd = activity_of(event("PROGRESS_UPDATED", progress="fifty"))
    assert odd is not None and odd.progress is None
    odd = activity_of(event("ASSESSMENT_COMPLETED", "assessments", percent=True, passed="yes"))
    assert odd is not None and (odd.score, odd.passed) == (None, None)


async def test_each_watcher_of_a_course_gets_its_activities_and_no_others() -> None:
    feed = ActivityFeed()
    async with feed.watch(COURSE) as first, feed.watch(COURSE) as second, feed.watch("other") as other:
        await feed(event("LESSON_COMPLETED", lesson_id="l1"))
        for watcher in (first, second):
            activity, missed = await asyncio.wait_for(watcher.next(), 1)
            assert (activity.lesson_id, missed) == ("l1", 0)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.next(), 0.05)


async def test_a_slow_watcher_keeps_the_newest_and_is_told_how_many_it_missed() -> None:
    feed = ActivityFeed(queue_max=100)
    async with feed.watch(COURSE) as slow, feed.watch(COURSE) as quick:
        for n in range(250):
            await feed(event("LESSON_COMPLETED", lesson_id=f"l{n}"))
            activity, missed = await quick.next()  # a reader keeping up misses nothing
            assert (activity.lesson_id, missed) == (f"l{n}", 0)
        # The slow one holds at most 100: the 150 oldest were dropped, and the first it reads says so.
        assert len(slow) == 100
        activity, missed = await slow.next()
        assert (activity.lesson_id, missed) == ("l150", 150)
        following = [await slow.next() for _ in range(99)]
        assert [(a.lesson_id, m) for a, m in following] == [(f"l{n}", 0) for n in range(151, 250)]
        # Dropped again after it caught up: counted anew, from its previous delivery.
        for n in range(103):
            await feed(event("LESSON_COMPLETED", lesson_id=f"m{n}"))
        assert (await slow.next())[1] == 3
        assert len(feed) == 2
    assert len(feed) == 0  # a watcher that left is forgotten


async def test_a_watcher_waits_for_the_next_activity() -> None:
    feed = ActivityFeed()
    async with feed.watch(COURSE) as watcher:
        waiting = asyncio.create_task(watcher.next())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await feed(event("COURSE_COMPLETED"))
        activity, missed = await asyncio.wait_for(waiting, 1)
        assert (activity.kind, missed) == (ActivityKind.COURSE_COMPLETED, 0)


def actor_expiring_in(seconds: float) -> Actor:
    claims = {"sub": str(uuid.uuid4()), "exp": time.time() + seconds}
    return Actor(user_id=uuid.uuid4(), role=Role.INSTRUCTOR, claims=claims)


async def test_waiting_ends_when_the_token_expires() -> None:
    started = time.monotonic()
    with pytest.raises(Unauthenticated, match="Token expired"):
        await before_token_expires(actor_expiring_in(0.2), asyncio.sleep(30))
    assert 0.15 < time.monotonic() - started < 2
    with pytest.raises(Unauthenticated):
        await before_token_expires(actor_expiring_in(-1), asyncio.sleep(0, "ready"))
    # A token still valid: what was awaited.
    assert await before_token_expires(actor_expiring_in(30), asyncio.sleep(0, "ready")) == "ready"
    assert await before_token_expires(Actor(), asyncio.sleep(0, "anonymous")) == "anonymous"
