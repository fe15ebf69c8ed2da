"""Announcements (issue 17): a course's managers post to its learners, who read them in the graph and get
each by email (the notifications service asks `audience` for whom to write to). ADR 0031, Announcements.

Every read is by `_id` (ADR 0014): a course's announcement ids are one small document
(`CourseAnnouncements`), a page of them is a batch of lookups. Writes go through the unit of work with
their events in the announcement's outbox; what to write is `announcements_decisions`'s to decide.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bson import ObjectId

from coursegraph.clock import Clock
from coursegraph.errors import CourseGraphError, Forbidden, NotFound
from coursegraph.pagination import Page, Position, decode_cursor, encode_cursor, page_size
from coursegraph.rich_text import to_text
from coursegraph.security import Actor
from coursegraph.unit_of_work import change, with_outbox
from subgraphs.courses import announcements_decisions as decisions
from subgraphs.courses import permissions
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.models import Announcement, Enrollment
from subgraphs.courses.repository import AnnouncementRepository, EnrollmentRepository, RosterRepository
from subgraphs.courses.service import CourseService

# The service identity (OAuth client id) allowed to ask for an announcement's audience.
NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Audience:
    """One page of the learners an announcement is mailed to, and what the email shows."""

    announcement: Announcement
    course_title: str
    body_text: str
    learners: list[str]  # user ids with an enrollment that hears the course
    end_cursor: str | None  # where the next page starts (`after`)
    has_next: bool


class AnnouncementService:
    def __init__(
        self,
        courses: CourseService,
        announcements: AnnouncementRepository,
        enrollments: EnrollmentRepository,
        rosters: RosterRepository,
        clock: Clock,
    ) -> None:
        self._courses = courses
        self._announcements = announcements
        self._enrollments = enrollments
        self._rosters = rosters
        self._clock = clock

    async def _course(self, actor: Actor, course_id: str) -> CourseSummary:
        """The course, for a caller who may see it (a draft is its managers' only)."""
        (course,) = await self._courses.any_courses([course_id])
        if course is None or not permissions.can_see(actor, course):
            raise NotFound("Course not found.")
        return course

    async def post(self, actor: Actor, course_id: str, *, title: str, body: str) -> Announcement:
        author_id = str(actor.require_user())
        course = await self._course(actor, course_id)
        if not permissions.can_manage(actor, course):
            raise Forbidden("Only the course's instructor or an admin can post announcements.")
        decision = decisions.post(course, author_id=author_id, title=title, body=body, now=self._clock())
        return await self._announcements.insert(course_id, with_outbox(decision))

    async def update(
        self, actor: Actor, announcement_id: str, *, title: str | None, body: str | None
    ) -> Announcement:
        """Edit; mails nobody again (ANNOUNCEMENT_UPDATED is for readers, not for email)."""
        editor_id = str(actor.require_user())
        found = await self._announcements.get(announcement_id)
        if found is None:
            raise NotFound("Announcement not found.")
        course = await self._course(actor, found.course_id)
        if not permissions.can_manage(actor, course):
            (enrollment,) = await self._courses.viewer_enrollments(actor, [course.id])
            # Who may not read it is not told that it exists.
            if permissions.can_read_announcements(actor, course, enrollment):
                raise Forbidden("Only the course's instructor or an admin can edit its announcements.")
            raise NotFound("Announcement not found.")
        now = self._clock()

        async def read() -> Announcement:
            fresh = await self._announcements.get(announcement_id)
            if fresh is None:
                raise NotFound("Announcement not found.")
            return fresh

        written = await change(
            read,
            lambda announcement: decisions.edit(
                course, announcement, editor_id=editor_id, title=title, body=body, now=now
            ),
            self._announcements.write,
            conflict="The announcement is being edited by someone else; try again.",
        )
        assert written is not None  # read raises rather than answer None
        return written

    async def pages(
        self, actor: Actor, requests: Sequence[tuple[CourseSummary, Enrollment | None, int, str | None]]
    ) -> list[Page[Announcement] | CourseGraphError]:
        """A page of each course's announcements, newest first (course, the caller's enrollment in it,
        first, after): empty for a caller who may not read them, an error for a bad `first` or `after`.
        Every page's ids, then every announcement, each in one batch; a listed id with no announcement
        (a crash between the two writes) is skipped, and the page filled from the ids after it."""
        readable = [permissions.can_read_announcements(actor, c, e) for c, e, _, _ in requests]
        listed = await self._announcements.ids_of_many(
            [course.id for (course, *_), ok in zip(requests, readable, strict=True) if ok]
        )
        pending: list[tuple[int, list[str], int] | CourseGraphError] = []  # (size, ids from `after`, all)
        for (course, _, first, after), ok in zip(requests, readable, strict=True):
            try:
                size, start = page_size(first), decode_cursor(after, valid_id=ObjectId.is_valid)
            except CourseGraphError as error:
                pending.append(error)
                continue
            # Newest first: ObjectIds grow with the time they were made (posted).
            ids = sorted(listed.get(course.id, []), reverse=True) if ok else []
            rest = ids if start is None else [i for i in ids if i < start.id.lower()]
            pending.append((size, rest, len(ids)))
        wanted = [i for p in pending if not isinstance(p, CourseGraphError) for i in p[1][: p[0]]]
        found = await self._announcements.get_many(wanted)
        pages: list[Page[Announcement] | CourseGraphError] = []
        for asked in pending:
            if isinstance(asked, CourseGraphError):
                pages.append(asked)
                continue
            size, rest, total = asked
            kept = [found[i] for i in rest[:size] if i in found]
            taken = min(size, len(rest))
            while len(kept) < size and taken < len(rest):  # the rare page with a gap
                more = rest[taken : taken + size - len(kept)]
                taken += len(more)
                extra = await self._announcements.get_many(more)
                kept += [extra[i] for i in more if i in extra]
            items = [(encode_cursor(Position(a.posted_at, str(a.id))), a) for a in kept]
            pages.append(Page(items, has_next=taken < len(rest), total=constant(total)))
        return pages

    async def audience(
        self, actor: Actor, announcement_id: str, *, first: int, after: str | None
    ) -> Audience | None:
        """Internal (the notifications service): a page of the course's learners to mail the
        announcement to, in roster order, skipping learners whose enrollment no longer hears the course.
        The cursor is the last learner looked at, with their place as a fallback (a removal meanwhile)."""
        actor.require_service(NOTIFICATIONS)
        size = page_size(first)
        announcement = await self._announcements.get(announcement_id)
        if announcement is None:
            return None
        (course,) = await self._courses.any_courses([announcement.course_id])
        roster = await self._rosters.learners(announcement.course_id)
        start = _roster_position(roster, after)
        looked_at = roster[start : start + size]
        enrollments = await self._enrollments.of_pairs([(u, announcement.course_id) for u in looked_at])
        hearing = [
            user_id
            for user_id in looked_at
            if decisions.hears(enrollments.get((user_id, announcement.course_id)))
        ]
        end = start + len(looked_at)
        return Audience(
            announcement=announcement,
            course_title=course.title if course is not None else "",
            body_text=to_text(announcement.body_html),
            learners=hearing,
            end_cursor=f"{end}:{looked_at[-1]}" if looked_at else after,
            has_next=end < len(roster),
        )


def _roster_position(roster: list[str], after: str | None) -> int:
    """Where the page after cursor `after` (`<place>:<user id>`) starts in the roster."""
    if not after:
        return 0
    place, _, user_id = after.partition(":")
    if user_id in roster:
        return roster.index(user_id) + 1
    return min(int(place), len(roster)) if place.isdigit() else 0


def constant(value: int) -> Callable[[], int]:
    return lambda: value
