"""The users service as rosters need it (issue 17): which users a batch of ids and emails names, by the
users subgraph's internal `lookupUsers`, called directly with the courses service token."""

from collections.abc import Sequence

from coursegraph.internal import InternalGraphQLClient

LOOKUP_USERS = """
query LookupUsers($ids: [ID!]!, $emails: [String!]!) {
  lookupUsers(ids: $ids, emails: $emails) { id email }
}"""


class UsersDirectory:
    def __init__(self, client: InternalGraphQLClient) -> None:
        self._client = client

    async def find(self, ids: Sequence[str], emails: Sequence[str]) -> list[tuple[str, str]]:
        data = await self._client.execute(LOOKUP_USERS, {"ids": list(ids), "emails": list(emails)})
        return [(str(user["id"]), str(user["email"])) for user in data["lookupUsers"]]

    async def close(self) -> None:
        await self._client.close()
