"""media.events: what the media service announces, in the changed document's outbox."""

from enum import StrEnum
from typing import Any

from coursegraph.events import Event, Topic
from coursegraph.events.document_outbox import outbox_entry

SOURCE = "media"


class MediaEventType(StrEnum):
    MEDIA_UPLOADED = "MEDIA_UPLOADED"
    MEDIA_READY = "MEDIA_READY"


def media_event(
    event_type: MediaEventType, *, media_id: str, user_id: str, **metadata: Any
) -> dict[str, Any]:
    """Keyed by the media id: one file's events keep their order."""
    event = Event(
        event_type=event_type, user_id=user_id, metadata={"media_id": media_id, **metadata}, source=SOURCE
    )
    return outbox_entry(Topic.MEDIA, media_id, event)
