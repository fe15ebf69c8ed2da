"""The media store (MongoDB): one document per uploaded file, its metadata and its storage key.

Two storage keys, neither derived from the client's filename (kept, sanitised, for display only): the
upload's, `uploads/<owner>/<media id>`, which the upload policy names, and the checked copy's,
`media/<owner>/<check id>/<media id>`, which no policy names (ADR 0020). Writes after creation are
guarded by `version` (ADR 0006).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

import pymongo
from beanie import Document
from pydantic import Field
from pymongo import IndexModel


class MediaStatus(StrEnum):
    PENDING = "pending"  # an upload was requested; the object may or may not be there yet
    READY = "ready"  # the object is there, with the declared size and a detected type that matches
    DELETED = "deleted"  # refused, abandoned or removed: its object is gone


class Media(Document):
    owner_id: str
    filename: str  # for display; sanitised
    content_type: str  # declared, and once ready, detected too
    size: int  # declared, in bytes; once ready, the object's
    sha256: str | None = None
    status: MediaStatus = MediaStatus.PENDING
    # The checked copy, served once ready. (Media made before issue 16 have it from the start: the
    # key their upload wrote, whose policies have long expired.)
    storage_key: str | None = None
    # Until then the upload's policy may write its key; after, a copy still there is removed.
    upload_closes_at: datetime | None = None
    failure: str | None = None  # why it was refused
    version: int = 0
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None = None
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    outbox_pending: bool = False
    outbox_lease: datetime | None = None

    class Settings:
        name = "media"
        indexes = [
            IndexModel([("outbox_pending", pymongo.ASCENDING)]),
            # The periodic cleanup: uploads requested long ago and never completed.
            IndexModel([("status", pymongo.ASCENDING), ("created_at", pymongo.ASCENDING)]),
            # The same task: uploads whose policy has expired, whose key may hold a replayed copy.
            IndexModel([("upload_closes_at", pymongo.ASCENDING)]),
        ]

    @property
    def upload_key(self) -> str:
        """Where the upload's policy lets the client write (and write again, until it expires)."""
        return f"uploads/{self.owner_id}/{self.id}"
