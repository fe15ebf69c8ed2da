"""The media domain's decisions: pure functions from a media as read (and what the checks of its bytes
found, the time) to the media as it should be and the events that announce it (ADR 0027).

A media is PENDING until its upload is checked, then READY (its checked copy's key, its SHA-256) or
DELETED (why). Nothing here touches storage or the store: the service copies, checks and hashes the bytes,
and writes what these functions decide through the kernel's unit of work.
"""

from datetime import datetime

from coursegraph.codes import FieldCode, Reason
from coursegraph.errors import Conflict, FieldError
from coursegraph.unit_of_work import Decision
from subgraphs.media.events import MediaEventType, media_event
from subgraphs.media.models import Media, MediaStatus
from subgraphs.media.rules import NEVER

NEVER_COMPLETED = "never completed"


def completion_wanted(media: Media) -> bool:
    """Whether completing the upload has anything to do: a ready media is done (completing again answers
    it), a refused one can never be completed."""
    if media.status is MediaStatus.DELETED:
        raise Conflict(
            f"This upload was refused: {media.failure or 'deleted'}", details={"reason": Reason.DELETED}
        )
    return media.status is MediaStatus.PENDING


def content_refusal(media: Media, *, stored_size: int | None, detected_type: str) -> FieldError | None:
    """What is wrong with the uploaded bytes against what was declared, if anything."""
    if stored_size != media.size:
        message = f"The file has {stored_size} bytes, not the {media.size} declared."
        return FieldError("size", FieldCode.MISMATCH, message)
    if detected_type != media.content_type or detected_type in NEVER:
        message = f"The file's content is {detected_type}, not the declared {media.content_type}."
        return FieldError("contentType", FieldCode.MISMATCH, message)
    return None


def complete(media: Media, *, checked_key: str, sha256: str, now: datetime) -> Decision[Media] | None:
    """A checked upload is ready, served from its checked copy; completed already: nothing to change."""
    if not completion_wanted(media):
        return None
    ready = media.model_copy(
        update={
            "status": MediaStatus.READY,
            "storage_key": checked_key,
            "sha256": sha256,
            "ready_at": now,
            "updated_at": now,
        }
    )
    key, owner = str(media.id), media.owner_id
    events = [
        media_event(
            MediaEventType.MEDIA_UPLOADED,
            media_id=key,
            user_id=owner,
            size=media.size,
            content_type=media.content_type,
        ),
        media_event(MediaEventType.MEDIA_READY, media_id=key, user_id=owner, sha256=sha256),
    ]
    return Decision(ready, events)


def refuse(media: Media, *, reason: str, now: datetime) -> Decision[Media] | None:
    """A pending upload whose bytes failed the checks (or never came) is deleted, with why."""
    if media.status is not MediaStatus.PENDING:
        return None  # completed or refused meanwhile: that stands
    return Decision(
        media.model_copy(update={"status": MediaStatus.DELETED, "failure": reason, "updated_at": now})
    )


def close_upload(media: Media) -> Decision[Media] | None:
    """Once the upload's policy has expired and its key was emptied, nothing is left to close."""
    if media.upload_closes_at is None or media.status is MediaStatus.PENDING:
        return None
    return Decision(media.model_copy(update={"upload_closes_at": None}))
