"""The courses service as the assessment engine needs it: ownership and enrollment, by service token."""

from uuid import UUID

from coursegraph.internal import InternalGraphQLClient
from subgraphs.assessments.ports import CourseAccess

COURSE_ACCESS = """
query CourseAccess($courseId: ID!, $userId: ID!) {
  courseAccess(courseId: $courseId, userId: $userId) { courseId instructorId status enrollmentId }
}"""


# An anonymous caller is asked about as a user that does not exist: enrolled nowhere, so the answer is the
# course's status alone (courseAccess takes a user id).
NOBODY = str(UUID(int=0))

RECORD_REQUIREMENT = """
mutation Requirement($courseId: ID!, $assessmentId: ID!, $required: Boolean!, $title: String) {
  recordAssessmentRequirement(
    courseId: $courseId, assessmentId: $assessmentId, required: $required, title: $title
  )
}"""


class CoursesClient:
    def __init__(self, client: InternalGraphQLClient) -> None:
        self._client = client

    async def access(self, course_id: str, user_id: str | None) -> CourseAccess | None:
        variables = {"courseId": course_id, "userId": user_id or NOBODY}
        data = await self._client.execute(COURSE_ACCESS, variables)
        found = data["courseAccess"]
        if found is None:
            return None
        return CourseAccess(
            course_id=str(found["courseId"]),
            instructor_id=str(found["instructorId"]),
            status=str(found["status"]),
            enrolled=found["enrollmentId"] is not None,
        )

    async def record_requirement(
        self, course_id: str, assessment_id: str, *, required: bool, title: str | None = None
    ) -> None:
        variables = {
            "courseId": course_id,
            "assessmentId": assessment_id,
            "required": required,
            "title": title,
        }
        await self._client.execute(RECORD_REQUIREMENT, variables)
