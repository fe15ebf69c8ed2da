"""GraphQL types of rosters (issue 17): the roster connection, course roles, bulk enrollment's report."""

from typing import Self

import strawberry

from coursegraph.graphql import PageInfo, UserError
from coursegraph.pagination import Page
from subgraphs.courses.models import CourseRole
from subgraphs.courses.roster import RosterEntry, RosterResult
from subgraphs.courses.roster_decisions import RosterOutcome
from subgraphs.courses.types import CourseType, EnrollmentType, UserType

CourseRoleEnum = strawberry.enum(
    CourseRole,
    name="CourseRole",
    description="A user's role in one course besides its instructor: a teaching assistant sees the roster "
    "and the gradebook and cannot edit the course.",
)
RosterOutcomeEnum = strawberry.enum(
    RosterOutcome, name="RosterOutcome", description="What became of one entry of a bulk enrollment."
)


@strawberry.type(
    name="RosterEntry", description="One learner of a course: who, their role, their enrollment."
)
class RosterEntryType:
    role: CourseRoleEnum  # type: ignore[valid-type]
    enrollment: EnrollmentType
    user_id: strawberry.Private[str]

    @strawberry.field
    def user(self) -> UserType:
        return UserType(id=strawberry.ID(self.user_id))


@strawberry.type
class RosterEdge:
    cursor: str
    node: RosterEntryType


@strawberry.type
class RosterConnection:
    edges: list[RosterEdge]
    page_info: PageInfo
    page: strawberry.Private[Page[RosterEntry]]

    @classmethod
    def from_page(cls, page: Page[RosterEntry]) -> Self:
        return cls(
            edges=[
                RosterEdge(
                    cursor=cursor,
                    node=RosterEntryType(
                        role=entry.role,
                        enrollment=EnrollmentType.from_row(entry.enrollment),
                        user_id=entry.user_id,
                    ),
                )
                for cursor, entry in page.items
            ],
            page_info=PageInfo.of(page),
            page=page,
        )

    @strawberry.field(description="How many learners the course has (its enrollment count).")
    def total_count(self) -> int:
        assert self.page.total is not None
        return self.page.total()


@strawberry.type(description="One entry of `enrollUsers`, in the order given.")
class RosterImportResult:
    entry: str = strawberry.field(description="The entry as given.")
    outcome: RosterOutcomeEnum  # type: ignore[valid-type]
    reason: str | None = strawberry.field(description="Why an entry is INVALID or UNKNOWN_USER.")
    enrollment: EnrollmentType | None
    user_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, result: RosterResult) -> Self:
        return cls(
            entry=result.entry,
            outcome=result.outcome,
            reason=result.reason,
            enrollment=None if result.enrollment is None else EnrollmentType.from_row(result.enrollment),
            user_id=result.user_id,
        )

    @strawberry.field(description="The user the entry names, if it names one.")
    def user(self) -> UserType | None:
        return None if self.user_id is None else UserType(id=strawberry.ID(self.user_id))


@strawberry.type
class RosterImportPayload:
    results: list[RosterImportResult]
    errors: list[UserError]

    @strawberry.field(description="How many entries had each outcome.")
    def enrolled(self) -> int:
        return self._count(RosterOutcome.ENROLLED)

    @strawberry.field
    def already_enrolled(self) -> int:
        return self._count(RosterOutcome.ALREADY_ENROLLED)

    @strawberry.field
    def unknown_users(self) -> int:
        return self._count(RosterOutcome.UNKNOWN_USER)

    @strawberry.field
    def invalid(self) -> int:
        return self._count(RosterOutcome.INVALID)

    def _count(self, outcome: RosterOutcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)


@strawberry.type
class CourseRolePayload:
    course: CourseType | None
    user: UserType | None
    role: CourseRoleEnum | None  # type: ignore[valid-type]
    errors: list[UserError]
