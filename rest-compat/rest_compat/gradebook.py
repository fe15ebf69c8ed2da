"""The gradebook endpoints (issue 17): a course's grades as a page of JSON or a streamed CSV, and its grading
policy."""

import base64
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AliasPath, ConfigDict, Field, field_validator

from coursegraph.codes import ErrorCode
from coursegraph.envelope import Envelope
from coursegraph.limits import GRADE_WEIGHT_MAX, PAGE_MAX
from rest_compat.courses import CourseId
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
    responses,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

ASSESSMENT_FIELDS = "id title scorePolicy maxScore weight"
GRADES_FIELDS = """
  courseGrade learner { id name }
  cells { assessment { id } score status attempts submittedAt dueAt }"""

GRADEBOOK = f"""
query Gradebook($courseId: ID!, $first: Int!, $after: String, $sort: GradebookSort!) {{
  course(id: $courseId) {{
    gradebook(first: $first, after: $after, sort: $sort) {{
      assessments {{ {ASSESSMENT_FIELDS} }}
      edges {{ node {{ {GRADES_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
      totalCount
    }}
  }}
}}"""

# The CSV's pages: no total (a roster read the export does not need).
GRADEBOOK_ROWS = f"""
query GradebookRows($courseId: ID!, $first: Int!, $after: String, $sort: GradebookSort!) {{
  course(id: $courseId) {{
    gradebook(first: $first, after: $after, sort: $sort) {{
      assessments {{ {ASSESSMENT_FIELDS} }}
      edges {{ node {{ {GRADES_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""

SET_GRADING_POLICY = f"""
mutation SetGradingPolicy($courseId: ID!, $input: GradingPolicyInput!) {{
  setGradingPolicy(courseId: $courseId, input: $input) {{
    policy {{ assessments {{ {ASSESSMENT_FIELDS} }} }}
    errors {{ code field message }}
  }}
}}"""


# --- cursors ----------------------------------------------------------------------------------------------
# The graph's gradebook cursor is opaque (base64url of the learner's id); REST spells it plainly: the id of
# the last learner seen, so that every string of the pattern is a place (the page starts after them).

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def rest_cursor(graph_cursor: str | None) -> str | None:
    return None if graph_cursor is None else base64.urlsafe_b64decode(graph_cursor.encode()).decode()


def graph_cursor(cursor: str | None) -> str | None:
    return None if cursor is None else base64.urlsafe_b64encode(cursor.encode()).decode()


# --- request and response bodies ------------------------------------------------------------------------

GradebookSort = Literal["learner", "grade_asc", "grade_desc"]
GradeStatus = Literal["graded", "late", "missing", "excused"]
ScorePolicy = Literal["best", "latest"]
# The CSV is read a full page at a time.
CSV_PAGE = PAGE_MAX


class GradebookParams(GraphInput):
    model_config = ConfigDict(strict=False)

    first: int = Field(20, ge=1, le=PAGE_MAX, description="Page size (1 to 100).")
    after: str | None = Field(
        None,
        pattern=UUID_PATTERN,
        description="`page_info.end_cursor` of the previous page: the last learner's id; the page starts "
        "after them.",
    )
    sort: Annotated[GradebookSort, ToGraphEnum] = Field(
        "learner",
        description="`learner`: the roster's order (oldest enrollment first); `grade_asc`, `grade_desc`: "
        "by course grade, learners with none yet last.",
    )

    def to_graph(self) -> dict[str, Any]:
        given = self.model_dump(mode="json", by_alias=True)
        return {**given, "after": graph_cursor(self.after)}


class CsvParams(GraphInput):
    model_config = ConfigDict(strict=False)

    sort: Annotated[GradebookSort, ToGraphEnum] = Field("learner", description="As for the JSON gradebook.")


class GradeWeight(GraphInput):
    assessment_id: str = Field(pattern=r"^[0-9a-fA-F]{24}$", description="An assessment of the course.")
    weight: float = Field(
        ge=0, le=GRADE_WEIGHT_MAX, allow_inf_nan=False, description="Relative; 0 leaves it out of the grade."
    )


class GradingPolicyRequest(GraphInput):
    """The course's weights, replacing the last policy; an assessment not named weighs 1."""

    weights: list[GradeWeight]


class GradebookAssessment(GraphOutput):
    id: str
    title: str
    score_policy: Annotated[ScorePolicy, FromGraphEnum] = Field(description="Which attempt counts.")
    max_score: float
    weight: float = Field(description="Its weight in the course grade (relative; 1 unless set).")


class GradeCell(GraphOutput):
    assessment_id: str = Field(validation_alias=AliasPath("assessment", "id"))
    score: float | None = Field(description="Percent of the attempt that counts, if any.")
    status: Annotated[GradeStatus, FromGraphEnum] = Field(
        description="`late`: the attempt that counts came after the learner's due time (counted all the "
        "same); `missing`: no attempt (0 once the learner's due time has passed, else not counted); "
        "`excused`: left out of the course grade."
    )
    attempts: int
    submitted_at: datetime | None = Field(description="When the attempt that counts was submitted.")
    due_at: datetime | None = Field(description="The learner's due time (with their extension).")


class LearnerGrades(GraphOutput):
    learner_id: str = Field(validation_alias=AliasPath("learner", "id"))
    learner_name: str = Field(validation_alias=AliasPath("learner", "name"))
    course_grade: float | None = Field(description="Percent; null while nothing counts.")
    cells: list[GradeCell]


class PageInfo(GraphOutput):
    has_next_page: bool
    end_cursor: str | None = Field(description="Where the next page starts (`after`): the last learner's id.")

    @field_validator("end_cursor", mode="before")
    @classmethod
    def spelled_for_rest(cls, cursor: Any) -> Any:
        return rest_cursor(cursor) if isinstance(cursor, str) else cursor


class GradebookPage(GraphOutput):
    assessments: list[GradebookAssessment]
    items: list[LearnerGrades] = Field(validation_alias="edges")
    page_info: PageInfo
    total_count: int

    @field_validator("items", mode="before")
    @classmethod
    def nodes_of_edges(cls, edges: list[dict[str, Any]]) -> list[Any]:
        return [edge["node"] for edge in edges]


class GradingPolicy(GraphOutput):
    assessments: list[GradebookAssessment]


# --- CSV ------------------------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV Injection"): such a cell
# is written with a leading single quote, which the spreadsheet shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def csv_header(assessments: list[dict[str, Any]]) -> list[str]:
    columns = ["learner_id", "learner_name", "course_grade"]
    for assessment in assessments:
        columns += [f"{assessment['title']} (score)", f"{assessment['title']} (status)"]
    return columns


def csv_row(node: dict[str, Any]) -> list[Any]:
    row: list[Any] = [node["learner"]["id"], node["learner"]["name"], node["courseGrade"]]
    for cell in node["cells"]:
        row += [cell["score"], cell["status"].lower()]
    return row


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["gradebook"])

    async def gradebook_page(
        request: Request, query: str, course_id: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        data = await run(request, query, {"courseId": course_id, **variables})
        if data["course"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "Course not found.")
        page: dict[str, Any] = data["course"]["gradebook"]
        return page

    @router.get(
        "/courses/{course_id}/gradebook",
        summary="The course's instructors and teaching assistants: its learners' grades, a page at a time",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def get_gradebook(
        request: Request, course_id: CourseId, params: Annotated[GradebookParams, Query()]
    ) -> Envelope[GradebookPage]:
        page = await gradebook_page(request, GRADEBOOK, course_id, params.to_graph())
        return Envelope.ok(GradebookPage.model_validate(page))

    @router.get(
        "/courses/{course_id}/gradebook.csv",
        summary="The course's instructors and teaching assistants: the whole gradebook as CSV, streamed",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The gradebook."},
            **responses(403, 404),
        },
        openapi_extra=SIGNED_IN,
    )
    async def gradebook_csv(
        request: Request, course_id: CourseId, params: Annotated[CsvParams, Query()]
    ) -> StreamingResponse:
        variables = {"first": CSV_PAGE, "sort": params.model_dump(mode="json", by_alias=True)["sort"]}
        # The first page is asked before answering: a refusal is still an envelope with its status.
        first = await gradebook_page(request, GRADEBOOK_ROWS, course_id, {**variables, "after": None})

        async def pages() -> AsyncIterator[str]:
            page = first
            yield csv_lines([csv_header(page["assessments"])])
            while True:
                yield csv_lines([csv_row(edge["node"]) for edge in page["edges"]])
                if not page["pageInfo"]["hasNextPage"]:
                    return
                after = page["pageInfo"]["endCursor"]
                page = await gradebook_page(request, GRADEBOOK_ROWS, course_id, {**variables, "after": after})

        return StreamingResponse(
            pages(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="gradebook-{course_id.lower()}.csv"'},
        )

    @router.put(
        "/courses/{course_id}/grading-policy",
        summary="The course's instructor or an admin: the weights of its assessments in the course grade",
        responses=responses(403, 404),
        openapi_extra=SIGNED_IN,
    )
    async def put_grading_policy(
        request: Request, course_id: CourseId, body: GradingPolicyRequest
    ) -> Envelope[GradingPolicy]:
        data = await run(request, SET_GRADING_POLICY, {"courseId": course_id, "input": body.to_graph()})
        payload = data["setGradingPolicy"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="weights")
        return Envelope.ok(GradingPolicy.model_validate(payload["policy"]))

    return router
