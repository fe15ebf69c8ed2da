"""The roster endpoints (issue 17): a course's learners, enrolling and unenrolling others, course roles, and
a class imported from CSV, streamed row by row and sent to `enrollUsers` in chunks."""

import codecs
import csv
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from pydantic import AliasPath, ConfigDict, Field, field_validator

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from coursegraph.limits import PAGE_MAX, ROSTER_ROW_MAX
from coursegraph.text import not_text
from rest_compat.courses import ENROLLMENT_FIELDS, CourseId, Enrollment, PageInfo, graph_cursor
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    responses,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

ROSTER = f"""
query Roster($id: ID!, $first: Int!, $after: String) {{
  course(id: $id) {{
    roster(first: $first, after: $after) {{
      edges {{ cursor node {{ role user {{ id }} enrollment {{ {ENROLLMENT_FIELDS} }} }} }}
      pageInfo {{ hasNextPage endCursor }}
      totalCount
    }}
  }}
}}"""

ENROLL_USER = f"""
mutation EnrollUser($courseId: ID!, $userId: ID!) {{
  enrollUser(courseId: $courseId, userId: $userId) {{
    enrollment {{ {ENROLLMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

UNENROLL_USER = f"""
mutation UnenrollUser($courseId: ID!, $userId: ID!) {{
  unenrollUser(courseId: $courseId, userId: $userId) {{
    enrollment {{ {ENROLLMENT_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

SET_COURSE_ROLE = """
mutation SetCourseRole($courseId: ID!, $userId: ID!, $role: CourseRole!) {
  setCourseRole(courseId: $courseId, userId: $userId, role: $role) {
    role
    errors { code field message }
  }
}"""

ENROLL_USERS = """
mutation EnrollUsers($courseId: ID!, $users: [String!]!) {
  enrollUsers(courseId: $courseId, users: $users) {
    results { outcome reason }
    errors { code field message }
  }
}"""

# --- request and response bodies ------------------------------------------------------------------------

Role = Literal["learner", "teaching_assistant"]
# Matched as a UUID (`{user_id:uuid}`), so that `/roster/import` is no user's path.
UserId = Annotated[UUID, Path(description="The user's id (a UUID).")]
# The roster's cursor, spelled plainly as the catalog's is (docs/rest-api.md): the microseconds since the
# Unix epoch of the last learner's enrollment, `_`, and their user id. Every string of this form is a place.
CURSOR_PATTERN = r"^[0-9]{1,16}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class RosterParams(GraphInput):
    model_config = ConfigDict(strict=False)  # query parameters arrive as text

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None,
        pattern=CURSOR_PATTERN,
        description="`page_info.end_cursor` of the previous page: microseconds since the Unix epoch of the "
        "last learner's enrollment, `_`, and their user id; the page starts after that learner (or, if they "
        "left the roster, after that time).",
        examples=["1764547200000000_0b5f1f38-6f6b-4a3c-9a56-3c1f0e1d2a4b"],
    )


class RosterEntry(GraphOutput):
    user_id: str = Field(validation_alias=AliasPath("user", "id"))
    role: Annotated[Role, FromGraphEnum]
    enrollment: Enrollment


class RosterPage(GraphOutput):
    items: list[RosterEntry] = Field(validation_alias="edges")
    page_info: PageInfo
    total_count: int = Field(description="How many learners the course has.")

    @field_validator("items", mode="before")
    @classmethod
    def nodes_of_edges(cls, edges: list[dict[str, Any]]) -> list[Any]:
        return [edge["node"] for edge in edges]


class EnrollUserRequest(GraphInput):
    user_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="The user to enroll (their id, a UUID).",
    )


class CourseRoleRequest(GraphInput):
    role: Role = Field(
        description="`teaching_assistant`: sees the roster and the gradebook, cannot edit the course; "
        "`learner`: no longer a teaching assistant."
    )


class CourseRole(GraphOutput):
    course_id: str
    user_id: str
    role: Role


class Outcome(StrEnum):
    """`enrollUsers`' outcome of one entry (the graph's `RosterOutcome`)."""

    ENROLLED = "ENROLLED"
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    UNKNOWN_USER = "UNKNOWN_USER"
    INVALID = "INVALID"


Problem = Literal["unknown_user", "invalid"]


class ImportProblem(GraphOutput):
    line: int = Field(description="The row's line number in the file (the first line is 1).")
    entry: str = Field(description="The row's email or user id as given (at most its first 100 characters).")
    outcome: Problem
    reason: str


class ImportReport(GraphOutput):
    rows: int = Field(description="Rows read (blank lines and a header row are not rows).")
    enrolled: int = Field(description="Rows whose user is enrolled now.")
    already_enrolled: int = Field(description="Rows whose user was enrolled already: nothing changed.")
    unknown_users: int
    invalid: int
    problems: list[ImportProblem] = Field(description="Each row that was not enrolled, with its reason.")


# --- CSV, streamed --------------------------------------------------------------------------------------

# Rows per `enrollUsers` call: a bounded request, and a report that never holds more than the problems.
CHUNK_ROWS = 250
# A row's bytes: ROSTER_ROW_MAX characters of UTF-8 at most, plus the line break.
ROW_BYTES_MAX = 4 * ROSTER_ROW_MAX + 2
HEADERS = {"email", "email_address", "user", "user_id", "userid", "id", "login"}
ENTRY_SHOWN = 100


@dataclass
class Row:
    line: int
    entry: str
    problem: str | None = None  # set: the row is INVALID without asking the graph


async def lines_of(body: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """The body's lines (line number, bytes without the line break), holding at most one row: a line
    longer than a row may be is answered as None (and its bytes dropped as they arrive)."""
    buffer, line, overlong = b"", 1, False
    async for chunk in body:
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            yield line, None if overlong else buffer[:end].removesuffix(b"\r")
            buffer, line, overlong = buffer[end + 1 :], line + 1, False
        if len(buffer) > ROW_BYTES_MAX:
            buffer, overlong = b"", True
    if buffer or overlong:
        yield line, None if overlong else buffer.removesuffix(b"\r")


async def csv_rows(body: AsyncIterator[bytes]) -> AsyncIterator[Row]:
    """The roster's rows: one column of emails or user ids (or, after a header row naming it, the column
    called `email`, `user_id`, ...). Blank lines are skipped."""
    column: int | None = None
    async for number, raw in lines_of(body):
        if raw is None:
            yield Row(number, "", f"Longer than {ROSTER_ROW_MAX} characters.")
            continue
        try:
            text = codecs.decode(raw, "utf-8")
        except UnicodeDecodeError:
            if column is None:  # nothing sent yet: the whole body is refused
                raise GraphError(ErrorCode.BAD_USER_INPUT, "The body is not UTF-8 CSV text.") from None
            yield Row(number, "", "Not UTF-8 text.")
            continue
        if not_text(text) is not None:  # NUL, which neither CSV nor the graph takes
            yield Row(number, "", "Not valid text.")
            continue
        fields = next(csv.reader([text.removeprefix("\ufeff") if number == 1 else text]), [])
        if not any(field.strip() for field in fields):
            continue
        if column is None:
            names = [field.strip().lower() for field in fields]
            column = next((i for i, name in enumerate(names) if name in HEADERS), -1)
            if column >= 0:
                continue  # the header row
            column = 0
        entry = fields[column].strip() if column < len(fields) else ""
        if len(entry) > ROSTER_ROW_MAX:
            yield Row(number, entry, f"Longer than {ROSTER_ROW_MAX} characters.")
        elif not entry:
            yield Row(number, entry, "No email or user id in this row.")
        else:
            yield Row(number, entry)


class Tally:
    """The import's report, row by row."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(Outcome, 0)
        self.problems: list[ImportProblem] = []

    def add(self, row: Row, outcome: Outcome, reason: str | None) -> None:
        self.counts[outcome] += 1
        if outcome in (Outcome.UNKNOWN_USER, Outcome.INVALID):
            entry = row.entry[:ENTRY_SHOWN]
            self.problems.append(
                ImportProblem(line=row.line, entry=entry, outcome=outcome.lower(), reason=reason or outcome)
            )

    def report(self) -> ImportReport:
        return ImportReport(
            rows=sum(self.counts.values()),
            enrolled=self.counts[Outcome.ENROLLED],
            already_enrolled=self.counts[Outcome.ALREADY_ENROLLED],
            unknown_users=self.counts[Outcome.UNKNOWN_USER],
            invalid=self.counts[Outcome.INVALID],
            problems=sorted(self.problems, key=lambda problem: problem.line),
        )


def is_csv(request: Request) -> bool:
    given = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return given in ("text/csv", "text/plain")


CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One column of emails or user ids, one per row (UTF-8; a header row naming the "
        "column `email` or `user_id` is optional, and then other columns may be present). Rows over "
        f"{ROSTER_ROW_MAX} characters are reported, not enrolled.",
        "content": {
            # At least one character that could be an entry (a file of blank lines has no rows: a 400).
            media_type: {"schema": {"type": "string", "pattern": r"[^\s,]"}}
            for media_type in ("text/csv", "text/plain")
        },
    }
}


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["roster"])

    async def enrollment_of(
        request: Request, query: str, name: str, course_id: str, user_id: UUID
    ) -> Envelope[Enrollment]:
        data = await run(request, query, {"courseId": course_id, "userId": str(user_id)})
        payload = data[name]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="user_id")
        enrollment = Enrollment.model_validate(
            payload["enrollment"], context={"course_id": course_id.lower()}
        )
        return Envelope.ok(enrollment)

    @router.get(
        "/courses/{course_id}/roster",
        summary="The course's learners, oldest first: its instructor, teaching assistants and admins",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def get_roster(
        request: Request, course_id: CourseId, params: Annotated[RosterParams, Query()]
    ) -> Envelope[RosterPage]:
        variables = {"id": course_id, "first": params.first, "after": graph_cursor(params.after)}
        data = await run(request, ROSTER, variables)
        course = data["course"]
        if course is None or course["roster"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        return Envelope.ok(RosterPage.model_validate(course["roster"]))

    @router.post(
        "/courses/{course_id}/roster",
        status_code=201,
        summary="The course's instructor or an admin: enroll a user (a removed learner comes back with their "
        "progress; enrolled already is a 409)",
        responses=responses(403, 404, 409),
        openapi_extra=SIGNED_IN,
    )
    async def enroll_user(
        request: Request, course_id: CourseId, body: EnrollUserRequest
    ) -> Envelope[Enrollment]:
        return await enrollment_of(request, ENROLL_USER, "enrollUser", course_id, UUID(body.user_id))

    @router.delete(
        "/courses/{course_id}/roster/{user_id:uuid}",
        summary="The course's instructor or an admin: unenroll a learner; the enrollment is kept, `removed`, "
        "with its progress (again: the same answer)",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def unenroll_user(request: Request, course_id: CourseId, user_id: UserId) -> Envelope[Enrollment]:
        return await enrollment_of(request, UNENROLL_USER, "unenrollUser", course_id, user_id)

    @router.put(
        "/courses/{course_id}/roster/{user_id:uuid}/role",
        summary="The course's instructor or an admin: make a user a teaching assistant, or a learner again",
        responses=responses(403, 404, 409),
        openapi_extra=SIGNED_IN,
    )
    async def set_role(
        request: Request, course_id: CourseId, user_id: UserId, body: CourseRoleRequest
    ) -> Envelope[CourseRole]:
        variables = {"courseId": course_id, "userId": str(user_id), "role": body.role.upper()}
        payload = (await run(request, SET_COURSE_ROLE, variables))["setCourseRole"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="role")
        return Envelope.ok(CourseRole(course_id=course_id.lower(), user_id=str(user_id), role=body.role))

    @router.post(
        "/courses/{course_id}/roster/import",
        summary="The course's instructor or an admin: enroll a class from CSV (streamed); each row not "
        "enrolled is reported with its line and reason, and importing the same file again changes nothing",
        responses=responses(403, 404, 409, 413),
        openapi_extra={**SIGNED_IN, **CSV_BODY},
    )
    async def import_roster(request: Request, course_id: CourseId) -> Envelope[ImportReport]:
        if not is_csv(request):
            raise GraphError(ErrorCode.BAD_USER_INPUT, "Send the roster as text/csv.")
        tally, chunk = Tally(), list[Row]()

        async def send() -> None:
            variables = {"courseId": course_id, "users": [row.entry for row in chunk]}
            payload = (await run(request, ENROLL_USERS, variables))["enrollUsers"]
            if payload["errors"]:
                raise user_errors(payload["errors"], default_field="users")
            for row, result in zip(chunk, payload["results"], strict=True):
                tally.add(row, Outcome(result["outcome"]), result["reason"])
            chunk.clear()

        sent = False
        async for row in csv_rows(request.stream()):
            if row.problem is not None:
                tally.add(row, Outcome.INVALID, row.problem)
                continue
            chunk.append(row)
            if len(chunk) == CHUNK_ROWS:
                await send()
                sent = True
        if chunk or not sent:  # at least once: the graph decides who may import, even an empty file
            await send()
        report = tally.report()
        if report.rows == 0:
            raise GraphError(ErrorCode.BAD_USER_INPUT, "The CSV has no rows.")
        return Envelope.ok(report)

    return router
