"""Who an announcement goes to, from the courses subgraph (issue 17): a page of the course's learners at a
time, with what the email shows, through the internal `announcementAudience` and the notifications
service token (the courses service allows it that operation alone, ADR 0008)."""

from dataclasses import dataclass

from coursegraph.internal import InternalGraphQLClient

ANNOUNCEMENT_AUDIENCE = """
query Audience($id: ID!, $first: Int!, $after: String) {
  announcementAudience(announcementId: $id, first: $first, after: $after) {
    courseId courseTitle title bodyHtml bodyText learnerIds endCursor hasNextPage
  }
}"""
PAGE = 100  # learners per call: one users-service lookup's worth


@dataclass(frozen=True)
class AudiencePage:
    course_id: str
    course_title: str
    title: str
    body_html: str  # sanitised by the courses service (and again by the template)
    body_text: str
    learner_ids: list[str]
    end_cursor: str | None
    has_next: bool


class CourseAudiences:
    def __init__(self, client: InternalGraphQLClient) -> None:
        self._client = client

    async def page(self, announcement_id: str, after: str | None) -> AudiencePage | None:
        """The page of learners after `after`; None when the announcement does not exist."""
        variables = {"id": announcement_id, "first": PAGE, "after": after}
        found = (await self._client.execute(ANNOUNCEMENT_AUDIENCE, variables))["announcementAudience"]
        if found is None:
            return None
        return AudiencePage(
            course_id=str(found["courseId"]),
            course_title=str(found["courseTitle"]),
            title=str(found["title"]),
            body_html=str(found["bodyHtml"]),
            body_text=str(found["bodyText"]),
            learner_ids=[str(user_id) for user_id in found["learnerIds"]],
            end_cursor=found["endCursor"],
            has_next=bool(found["hasNextPage"]),
        )

    async def close(self) -> None:
        await self._client.close()
