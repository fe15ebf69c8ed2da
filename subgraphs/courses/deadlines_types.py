"""GraphQL types of deadlines and the calendar feed (issue 17)."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Self

import strawberry

from coursegraph.errors import ValidationFailed
from coursegraph.graphql import UserError
from subgraphs.courses.deadlines import CourseDeadline
from subgraphs.courses.deadlines_decisions import DeadlineView
from subgraphs.courses.models import DeadlineTarget
from subgraphs.courses.types import CourseType, UserType

DeadlineTargetEnum = strawberry.enum(
    DeadlineTarget, name="DeadlineTarget", description="What a deadline is for: a module or an assessment."
)


@strawberry.type(name="DeadlineExtension", description="One learner's own due time for a deadline.")
class DeadlineExtensionType:
    user: UserType
    due_at: datetime


@strawberry.type(
    name="Deadline",
    description="When a module or an assessment of a course is due. The course's managers and teaching "
    "assistants see the course's due time and every extension; a learner sees their own due time.",
)
class DeadlineType:
    id: strawberry.ID
    course_id: strawberry.ID
    target: DeadlineTargetEnum  # type: ignore[valid-type]
    target_id: strawberry.ID
    title: str = strawberry.field(description="The module's or the assessment's title.")
    due_at: datetime = strawberry.field(description="For a learner, their extension when they have one.")
    course_due_at: datetime = strawberry.field(description="The course's due time, for everyone.")
    extended: bool = strawberry.field(description="Whether `dueAt` is the caller's own extension.")
    extensions: list[DeadlineExtensionType] = strawberry.field(
        description="Every learner's extension: the course's managers and teaching assistants only."
    )
    updated_at: datetime

    @classmethod
    def of(cls, view: DeadlineView) -> Self:
        deadline = view.deadline
        return cls(
            id=strawberry.ID(str(deadline.id)),
            course_id=strawberry.ID(deadline.course_id),
            target=deadline.target,
            target_id=strawberry.ID(deadline.target_id),
            title=deadline.title,
            due_at=view.due_at,
            course_due_at=deadline.due_at,
            extended=view.extended,
            extensions=[
                DeadlineExtensionType(user=UserType(id=strawberry.ID(user_id)), due_at=due_at)
                for user_id, due_at in sorted(view.extensions.items(), key=lambda item: (item[1], item[0]))
            ],
            updated_at=deadline.updated_at,
        )


@strawberry.type(name="UpcomingDeadline", description="A due time ahead of a learner, with its course.")
class UpcomingDeadlineType:
    deadline: DeadlineType
    course: CourseType

    @classmethod
    def of(cls, found: CourseDeadline) -> Self:
        return cls(deadline=DeadlineType.of(found.view), course=CourseType.of(found.course))


@strawberry.input(description="A due time for a module or an assessment of the course.")
class DeadlineInput:
    target: DeadlineTargetEnum  # type: ignore[valid-type]
    target_id: strawberry.ID = strawberry.field(description="The module's or the assessment's id.")
    due_at: datetime = strawberry.field(
        description="With a UTC offset; in the future, at most 5 years from now."
    )


@strawberry.type
class DeadlinePayload:
    deadline: DeadlineType | None
    errors: list[UserError]


async def deadline_payload(action: Callable[[], Awaitable[DeadlineView]]) -> DeadlinePayload:
    try:
        view = await action()
    except ValidationFailed as exc:
        return DeadlinePayload(deadline=None, errors=[UserError.from_field_error(e) for e in exc.errors])
    return DeadlinePayload(deadline=DeadlineType.of(view), errors=[])


@strawberry.type
class CalendarFeedPayload:
    url: str | None = strawberry.field(description="The feed's new secret URL (the old one answers 404).")
    errors: list[UserError]


@strawberry.type(
    name="CalendarFeedEvent", description="One due time of a calendar feed (an iCalendar VEVENT)."
)
class CalendarFeedEventType:
    uid: str = strawberry.field(description="Stable for this deadline and this user, whatever its due time.")
    sequence: int = strawberry.field(description="Grows whenever the deadline changes.")
    course_id: strawberry.ID
    course_title: str
    target: DeadlineTargetEnum  # type: ignore[valid-type]
    target_id: strawberry.ID
    title: str
    due_at: datetime = strawberry.field(description="The user's due time (their extension, if any).")
    updated_at: datetime

    @classmethod
    def of(cls, found: CourseDeadline) -> Self:
        deadline = found.view.deadline
        return cls(
            uid=found.uid,
            sequence=deadline.version,
            course_id=strawberry.ID(found.course.id),
            course_title=found.course.title,
            target=deadline.target,
            target_id=strawberry.ID(deadline.target_id),
            title=deadline.title,
            due_at=found.view.due_at,
            updated_at=deadline.updated_at,
        )


@strawberry.type(name="CalendarFeed", description="A user's deadlines, for their calendar feed.")
class CalendarFeedType:
    events: list[CalendarFeedEventType]
