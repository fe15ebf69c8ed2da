"""Deadlines and the calendar feed (issue 17, ADR 0031 "Deadlines"): the one door to them. No GraphQL here.

Due times of a course's modules and assessments, set by its managers, with per-learner extensions; each
learner's upcoming deadlines; a per-user secret calendar feed. Every read goes by `_id` (ADR 0014): a
course's deadlines are its `CourseDeadlines` list and then a batch of derived ids, a learner's courses
their `Learner` document. Writes go through `coursegraph.unit_of_work.change` with a DEADLINE_SET in the
deadline's outbox; what to write is decided in `deadlines_decisions`.
"""

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coursegraph.clock import Clock
from coursegraph.codes import FieldCode
from coursegraph.errors import BadUserInput, Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from coursegraph.limits import UPCOMING_DEADLINES_MAX
from coursegraph.security import Actor
from coursegraph.unit_of_work import change, starting_with, with_outbox
from subgraphs.courses import deadlines_decisions as decide
from subgraphs.courses import permissions
from subgraphs.courses.catalog import Catalog, CourseSummary
from subgraphs.courses.deadlines_decisions import DeadlineView
from subgraphs.courses.models import Deadline, DeadlineTarget, Enrollment
from subgraphs.courses.repository import (
    CalendarFeedRepository,
    DeadlineRepository,
    EnrollmentRepository,
    LearnerRepository,
)
from subgraphs.courses.service import ASSESSMENTS, COURSES, CourseService

CONFLICT = "The deadline is being changed by someone else; try again."


@dataclass(frozen=True)
class CourseDeadline:
    """A deadline as a learner sees it, with its course and, in a feed, its event's UID."""

    view: DeadlineView
    course: CourseSummary
    uid: str = ""


class DeadlineService:
    def __init__(
        self,
        courses: CourseService,
        deadlines: DeadlineRepository,
        enrollments: EnrollmentRepository,
        learners: LearnerRepository,
        feeds: CalendarFeedRepository,
        catalog: Catalog,
        clock: Clock,
        *,
        feed_url: str,
    ) -> None:
        """`feed_url`: the public URL of a calendar feed, with `{token}` where its secret goes."""
        self._courses = courses
        self._deadlines = deadlines
        self._enrollments = enrollments
        self._learners = learners
        self._feeds = feeds
        self._catalog = catalog
        self._clock = clock
        self._feed_url = feed_url

    # --- writes -----------------------------------------------------------------------------------

    async def _managed(self, actor: Actor, course_id: str) -> CourseSummary:
        actor.require_user()
        course = (await self._courses.any_courses([course_id]))[0]
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        if not permissions.can_manage(actor, course):
            raise Forbidden("Only the course's instructor or an admin can set its deadlines.")
        return course

    async def set_deadline(
        self, actor: Actor, course_id: str, kind: DeadlineTarget, target_id: str, due_at: datetime
    ) -> DeadlineView:
        course = await self._managed(actor, course_id)
        titles = (
            await self._deadlines.assessment_titles(course_id) if kind is DeadlineTarget.ASSESSMENT else {}
        )
        target = decide.find_target(course, kind, target_id, titles, field="input.targetId")
        actor_id, now = str(actor.user_id), self._clock()
        existing = await self._deadlines.get(course_id, target_id)
        if existing is None:
            decision = decide.set_deadline(
                None, course_id=course_id, target=target, due_at=due_at, actor_id=actor_id, now=now
            )
            assert decision is not None  # a new deadline is always a change
            if await self._deadlines.insert(with_outbox(decision)):
                return decide.managers_view(decision.state)
            existing = await self._deadlines.get(course_id, target_id)  # a concurrent set won the insert
            assert existing is not None
        written = await change(
            starting_with(existing, lambda: self._deadlines.get(course_id, target_id)),
            lambda d: decide.set_deadline(
                d, course_id=course_id, target=target, due_at=due_at, actor_id=actor_id, now=now
            ),
            self._deadlines.write,
            conflict=CONFLICT,
        )
        assert written is not None
        return decide.managers_view(written)

    async def clear_deadline(self, actor: Actor, course_id: str, target_id: str) -> DeadlineView:
        await self._managed(actor, course_id)
        actor_id, now = str(actor.user_id), self._clock()
        written = await change(
            lambda: self._set_deadline_of(course_id, target_id),
            lambda d: decide.clear_deadline(d, actor_id=actor_id, now=now),
            self._deadlines.write,
            conflict=CONFLICT,
        )
        assert written is not None
        return decide.managers_view(written)

    async def grant_extension(
        self, actor: Actor, course_id: str, target_id: str, user_id: str, due_at: datetime | None
    ) -> DeadlineView:
        """A learner's own due time for one target (None removes it): only for the course's learners."""
        await self._managed(actor, course_id)
        enrollment = await self._enrollments.get(user_id, course_id)
        if due_at is not None and not permissions.has_deadlines_in(enrollment):
            raise ValidationFailed(
                [FieldError("userId", FieldCode.NOT_ENROLLED, "userId is not a learner of this course.")]
            )
        actor_id, now = str(actor.user_id), self._clock()
        written = await change(
            lambda: self._set_deadline_of(course_id, target_id),
            lambda d: decide.grant_extension(d, user_id=user_id, due_at=due_at, actor_id=actor_id, now=now),
            self._deadlines.write,
            conflict=CONFLICT,
        )
        assert written is not None
        return decide.managers_view(written)

    async def _set_deadline_of(self, course_id: str, target_id: str) -> Deadline:
        return decide.require_set(await self._deadlines.get(course_id, target_id), "targetId")

    async def remember_assessment(self, actor: Actor, course_id: str, assessment_id: str, title: str) -> None:
        """Internal (the assessments service as it writes one, and this service's consumer of
        assessment.events): an assessment of a course, and its title, for checking a deadline's target.
        Only for a course the catalog knows: no store call for an event about any other (a new consumer
        group reads the topic from its start)."""
        actor.require_service(ASSESSMENTS, COURSES)
        if self._catalog.get(course_id) is not None:
            await self._deadlines.remember_assessment(course_id, assessment_id, title)

    # --- reads ------------------------------------------------------------------------------------

    async def course_deadlines(
        self, actor: Actor, courses: Sequence[CourseSummary], viewer: Sequence[Enrollment | None]
    ) -> list[list[DeadlineView]]:
        """Each course's deadlines, next due first: its managers and teaching assistants see the course's
        due times and every extension, its learners their own due times, anyone else none. One batch for
        the courses' lists and one for the deadlines, however many courses."""
        user_id = None if actor.user_id is None else str(actor.user_id)
        all_of = [permissions.sees_all_deadlines(actor, course) for course in courses]
        own_of = [user_id is not None and permissions.has_deadlines_in(e) for e in viewer]
        found = await self._deadlines_of(
            [c for c, a, o in zip(courses, all_of, own_of, strict=True) if a or o]
        )
        answers: list[list[DeadlineView]] = []
        for course, sees_all, sees_own in zip(courses, all_of, own_of, strict=True):
            listed = found.get(course.id, [])
            if sees_all:
                views = [decide.managers_view(d) for d in listed]
            elif sees_own and user_id is not None:
                views = [decide.learners_view(d, user_id) for d in listed]
            else:
                views = []
            answers.append(sorted(views, key=decide.due_order))
        return answers

    async def upcoming(self, actor: Actor, user_id: str, *, first: int) -> list[CourseDeadline]:
        """The user's next due times across their active enrollments, next due first: the user only."""
        if actor.user_id is None or str(actor.user_id) != user_id:
            raise Forbidden("Only the user themself sees their upcoming deadlines.")
        if not 1 <= first <= UPCOMING_DEADLINES_MAX:
            raise BadUserInput(f"first must be 1 to {UPCOMING_DEADLINES_MAX}.", details={"field": "first"})
        now = self._clock()
        ahead = [d for d in await self._learners_deadlines(user_id) if decide.is_ahead(d.view, now)]
        return ahead[:first]

    async def _learners_deadlines(self, user_id: str) -> list[CourseDeadline]:
        """Every deadline of the user's active enrollments as they see it, next due first: the learner's
        list, their enrollments, the courses' lists, the deadlines (four batches; courses from the
        catalog)."""
        enrolled = await self._learners.courses_of(user_id)
        enrollments = await self._enrollments.of_user(user_id, enrolled)
        active = [c for c in enrolled if permissions.has_upcoming_deadlines_in(enrollments.get(c))]
        courses = [c for c in await self._courses.any_courses(active) if c is not None]
        found = await self._deadlines_of(courses)
        mine = [
            CourseDeadline(decide.learners_view(d, user_id), course)
            for course in courses
            for d in found.get(course.id, [])
        ]
        return sorted(mine, key=lambda d: decide.due_order(d.view))

    async def _deadlines_of(self, courses: Sequence[CourseSummary]) -> dict[str, list[Deadline]]:
        """The shown deadlines of each course (titled as the outline now has them), by course id."""
        if not courses:
            return {}
        targets = await self._deadlines.targets_of([c.id for c in courses])
        pairs = [(c.id, target) for c in courses for target in targets.get(c.id, [])]
        outlines = {c.id: c for c in courses}
        by_course: dict[str, list[Deadline]] = {}
        for deadline in await self._deadlines.of_targets(pairs):
            course = outlines[deadline.course_id]
            if decide.shown(deadline, course):
                titled = deadline.model_copy(update={"title": decide.title_of(deadline, course)})
                by_course.setdefault(course.id, []).append(titled)
        return by_course

    # --- the calendar feed --------------------------------------------------------------------------

    def _url(self, token: str) -> str:
        return self._feed_url.replace("{token}", token)

    async def calendar_feed_url(self, actor: Actor, user_id: str) -> str:
        """The user's feed URL, its secret made on the first ask: the user only."""
        if actor.user_id is None or str(actor.user_id) != user_id:
            raise Forbidden("Only the user themself sees their calendar feed.")
        token = await self._feeds.token_of(user_id)
        if token is None:
            fresh = new_feed_token()
            token = await self._feeds.create(user_id, fresh, decide.feed_key(fresh))
        return self._url(token)

    async def rotate_calendar_feed(self, actor: Actor) -> str:
        """A new secret for the caller's feed: the old URL answers nothing from now on."""
        user_id = str(actor.require_user())
        for _ in range(ROTATION_ATTEMPTS):
            old, fresh = await self._feeds.token_of(user_id), new_feed_token()
            if old is None:
                return self._url(await self._feeds.create(user_id, fresh, decide.feed_key(fresh)))
            if await self._feeds.replace(
                user_id, (old, decide.feed_key(old)), (fresh, decide.feed_key(fresh))
            ):
                return self._url(fresh)
        raise Conflict("The calendar feed is being rotated concurrently; try again.")

    async def calendar_feed(self, token: str) -> list[CourseDeadline] | None:
        """Public: every deadline (past ones too, so calendars keep them) of the feed's owner, by its
        secret; None for a string that is not (or no longer) a feed's secret, whatever it is."""
        if not 1 <= len(token) <= FEED_TOKEN_MAX:
            return None
        key = decide.feed_key(token)
        user_id = await self._feeds.owner_of(key)
        if user_id is None:
            return None
        current = await self._feeds.token_of(user_id)
        # A lookup left behind by an interrupted rotation names a token that is no longer the owner's.
        if current is None or not hmac.compare_digest(decide.feed_key(current), key):
            return None
        return [
            CourseDeadline(d.view, d.course, decide.calendar_uid(d.view.deadline, user_id))
            for d in await self._learners_deadlines(user_id)
        ]


# A feed's secret: 32 random bytes, URL-safe base64 (43 characters); a longer string is no feed's.
FEED_TOKEN_MAX = 128
# Concurrent rotations of one feed: one wins each round.
ROTATION_ATTEMPTS = 3


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)
