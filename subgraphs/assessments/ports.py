"""The courses service as the assessments service needs it: who teaches a course, its status, who is
enrolled (answered by `courses_client.CoursesClient`, with a service token; tests pass their own)."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CourseAccess:
    course_id: str
    instructor_id: str
    status: str  # "DRAFT" | "PUBLISHED" | "ARCHIVED"
    enrolled: bool


class CoursesPort(Protocol):
    async def access(self, course_id: str, user_id: str | None) -> CourseAccess | None:
        """A course's instructor and status, and whether the user (None: an anonymous caller, who is
        enrolled nowhere) is enrolled; None when there is no such course."""
        ...

    async def record_requirement(
        self, course_id: str, assessment_id: str, *, required: bool, title: str | None = None
    ) -> None: ...
