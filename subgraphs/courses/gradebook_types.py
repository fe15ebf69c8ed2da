"""GraphQL types of the gradebook (issue 17): a course's learners by assessments, and one's own grades."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry.types import Info

from coursegraph.graphql import PageInfo, UserError
from subgraphs.courses.catalog import CourseSummary
from subgraphs.courses.context import CoursesContext
from subgraphs.courses.gradebook import GradebookPage
from subgraphs.courses.gradebook_decisions import Cell, GradebookSort, GradeStatus, LearnerGrade, weight_of
from subgraphs.courses.models import CourseGrading, GradedAssessment, ScorePolicy

if TYPE_CHECKING:
    from subgraphs.courses.types import UserType

Ctx = Info[CoursesContext, None]

GradeStatusEnum = strawberry.enum(
    GradeStatus,
    name="GradeStatus",
    description="GRADED; LATE: the attempt that counts came after the learner's due time (counted all "
    "the same); MISSING: no attempt (0 once the learner's due time has passed, else not counted); "
    "EXCUSED: left out of the course grade.",
)
# Decorates the enum itself: `GradebookSort` is the GraphQL enum wherever it is used.
strawberry.enum(
    GradebookSort,
    name="GradebookSort",
    description="LEARNER: the roster's order (oldest enrollment first); GRADE_ASC, GRADE_DESC: by course "
    "grade, learners with none yet last.",
)
ScorePolicyEnum = strawberry.enum(ScorePolicy, name="ScorePolicy")


@strawberry.type(description="An assessment as the gradebook counts it.")
class GradebookAssessment:
    id: strawberry.ID
    title: str
    score_policy: ScorePolicyEnum = strawberry.field(  # type: ignore[valid-type]
        description="Which attempt counts: the best or the latest."
    )
    max_score: float
    weight: float = strawberry.field(description="Its weight in the course grade (relative; 1 unless set).")

    @classmethod
    def of(cls, assessment: GradedAssessment, grading: CourseGrading) -> Self:
        return cls(
            id=strawberry.ID(assessment.id),
            title=assessment.title,
            score_policy=assessment.score_policy,
            max_score=assessment.max_score,
            weight=weight_of(grading, assessment.id),
        )


@strawberry.type(description="A learner's result in one assessment.")
class GradeCell:
    assessment: GradebookAssessment
    score: float | None = strawberry.field(description="Percent of the attempt that counts, if any.")
    status: GradeStatusEnum  # type: ignore[valid-type]
    attempts: int
    submitted_at: datetime | None = strawberry.field(
        description="When the attempt that counts was submitted."
    )
    due_at: datetime | None = strawberry.field(description="The learner's due time (with their extension).")

    @classmethod
    def of(cls, cell: Cell, grading: CourseGrading) -> Self:
        return cls(
            assessment=GradebookAssessment.of(cell.assessment, grading),
            score=cell.score,
            status=cell.status,
            attempts=cell.attempts,
            submitted_at=cell.submitted_at,
            due_at=cell.due_at,
        )


@strawberry.type(description="A learner's grades in a course.")
class LearnerGrades:
    course_grade: float | None = strawberry.field(
        description="Percent: the weighted average of the counted results; null while nothing counts."
    )
    cells: list[GradeCell] = strawberry.field(description="One per assessment of the course, in its order.")
    user_id: strawberry.Private[str]

    @classmethod
    def of(cls, grade: LearnerGrade, grading: CourseGrading) -> Self:
        return cls(
            course_grade=grade.course_grade,
            cells=[GradeCell.of(cell, grading) for cell in grade.cells],
            user_id=grade.user_id,
        )

    @strawberry.field
    def learner(self) -> Annotated["UserType", strawberry.lazy("subgraphs.courses.types")]:
        from subgraphs.courses.types import UserType  # types.py imports this module

        return UserType(id=strawberry.ID(self.user_id))


@strawberry.type
class GradebookEdge:
    cursor: str
    node: LearnerGrades


@strawberry.type(description="A page of a course's gradebook: learners by assessments.")
class GradebookConnection:
    edges: list[GradebookEdge]
    page_info: PageInfo
    assessments: list[GradebookAssessment] = strawberry.field(
        description="The columns, in the course's order."
    )
    course: strawberry.Private[CourseSummary]

    @classmethod
    def of(cls, found: GradebookPage, course: CourseSummary) -> Self:
        grading = found.grading
        return cls(
            edges=[
                GradebookEdge(cursor=cursor, node=LearnerGrades.of(grade, grading))
                for cursor, grade in found.page.items
            ],
            page_info=PageInfo.of(found.page),
            assessments=[GradebookAssessment.of(a, grading) for a in grading.assessments],
            course=course,
        )

    @strawberry.field(description="How many learners the gradebook lists, across all pages.")
    async def total_count(self, info: Ctx) -> int:
        return await info.context.gradebook.learner_count(self.course)


@strawberry.input
class GradeWeightInput:
    assessment_id: strawberry.ID
    weight: float = strawberry.field(description="Relative, 0 to 1000 (0 leaves it out of the grade).")


@strawberry.input(description="The course's weights; an assessment not named weighs 1.")
class GradingPolicyInput:
    weights: list[GradeWeightInput]


@strawberry.type
class GradingPolicy:
    assessments: list[GradebookAssessment]


@strawberry.type
class GradingPolicyPayload:
    policy: GradingPolicy | None
    errors: list[UserError]

    @classmethod
    def of(cls, grading: CourseGrading) -> Self:
        return cls(
            policy=GradingPolicy(
                assessments=[GradebookAssessment.of(a, grading) for a in grading.assessments]
            ),
            errors=[],
        )


@strawberry.type
class GradePayload:
    grades: LearnerGrades | None
    errors: list[UserError]
