"""The courses service as the media service needs it: whether a user may see a media because a lesson
of a course they are enrolled in (or teach) references it. One internal call, with a service token."""

from coursegraph.internal import InternalGraphQLClient

MEDIA_ACCESS = """
query MediaAccess($mediaId: ID!, $userId: ID!, $ownerId: ID!) {
  mediaAccess(mediaId: $mediaId, userId: $userId, ownerId: $ownerId)
}"""


class CoursesClient:
    def __init__(self, client: InternalGraphQLClient) -> None:
        self._client = client

    async def may_see(self, media_id: str, user_id: str, owner_id: str) -> bool:
        variables = {"mediaId": media_id, "userId": user_id, "ownerId": owner_id}
        data = await self._client.execute(MEDIA_ACCESS, variables)
        return bool(data["mediaAccess"])

    async def close(self) -> None:
        await self._client.close()
