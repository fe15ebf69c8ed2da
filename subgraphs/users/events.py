"""user.events: what the users service announces, always through the outbox."""

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.events import Event, Topic
from coursegraph.events.outbox import add_to_outbox
from subgraphs.users.models import User, outbox

SOURCE = "users"


class UserEventType(StrEnum):
    USER_REGISTERED = "USER_REGISTERED"
    USER_UPDATED = "USER_UPDATED"
    USER_ROLE_CHANGED = "USER_ROLE_CHANGED"


async def record(session: AsyncSession, event_type: UserEventType, user: User, **metadata: Any) -> Event:
    event = Event(event_type=event_type, user_id=str(user.id), metadata=metadata, source=SOURCE)
    # Keyed by user id: every event of one user keeps its order in the partition.
    await add_to_outbox(session, outbox, Topic.USER, str(user.id), event)
    return event
