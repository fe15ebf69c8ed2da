"""GraphQL types of course activity (issue 18, ADR 0033)."""

from datetime import datetime
from typing import Self

import strawberry

from subgraphs.courses.activity import Activity, ActivityKind
from subgraphs.courses.types import UserType

# Decorates the enum itself: `ActivityKind` is the GraphQL enum wherever it is used.
strawberry.enum(ActivityKind, name="CourseActivityKind", description="What a learner did in a course.")


@strawberry.type(
    name="CourseActivity",
    description="One thing a learner did in a course, as course.events or assessment.events announced it.",
)
class CourseActivityType:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    kind: ActivityKind
    occurred_at: datetime
    course_id: strawberry.ID
    learner: UserType
    lesson_id: strawberry.ID | None = strawberry.field(description="The lesson completed.")
    progress: float | None = strawberry.field(
        description="The learner's progress in the course, percent 0-100, when the event says it."
    )
    assessment_id: strawberry.ID | None = strawberry.field(
        description="The assessment submitted or completed."
    )
    score: float | None = strawberry.field(
        description="The attempt's score in percent, on ASSESSMENT_COMPLETED."
    )
    passed: bool | None = strawberry.field(description="Whether the attempt passed, on ASSESSMENT_COMPLETED.")
    missed: int = strawberry.field(
        description="How many activities were dropped for this subscriber since its previous delivery, "
        "because it read more slowly than they happened (at most 100 wait per subscriber; the oldest are "
        "dropped); else 0."
    )

    @classmethod
    def of(cls, activity: Activity, missed: int) -> Self:
        return cls(
            id=strawberry.ID(activity.id),
            kind=activity.kind,
            occurred_at=activity.occurred_at,
            course_id=strawberry.ID(activity.course_id),
            learner=UserType(id=strawberry.ID(activity.learner_id)),
            lesson_id=None if activity.lesson_id is None else strawberry.ID(activity.lesson_id),
            progress=activity.progress,
            assessment_id=None if activity.assessment_id is None else strawberry.ID(activity.assessment_id),
            score=activity.score,
            passed=activity.passed,
            missed=missed,
        )
