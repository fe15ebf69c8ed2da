"""Recipients from the users subgraph: a batch of user ids in, their addresses and names out.

One internal call per batch of events, with the notifications service token, whose client id the users
service allows `mailRecipients` and nothing else of its internal operations (ADR 0008, ADR 0019).
"""

import uuid
from collections.abc import Iterable

from coursegraph.internal import InternalGraphQLClient
from subgraphs.notifications.events import Recipient

MAIL_RECIPIENTS = """
query MailRecipients($ids: [ID!]!) { mailRecipients(ids: $ids) { id email name } }"""
BATCH = 100  # the users service's limit per call


class UsersDirectory:
    def __init__(self, client: InternalGraphQLClient) -> None:
        self._client = client

    async def recipients(self, user_ids: Iterable[str]) -> dict[str, Recipient]:
        """The users that exist among `user_ids`, by id (a deleted account gets no email). An id that is
        not a user id at all is left out here, so that one bad event cannot hold its batch back."""
        ids = [user_id for user_id in dict.fromkeys(user_ids) if _is_uuid(user_id)]
        found: dict[str, Recipient] = {}
        for start in range(0, len(ids), BATCH):
            data = await self._client.execute(MAIL_RECIPIENTS, {"ids": ids[start : start + BATCH]})
            for user in data["mailRecipients"]:
                found[str(user["id"])] = Recipient(str(user["id"]), str(user["email"]), str(user["name"]))
        return found

    async def close(self) -> None:
        await self._client.close()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
