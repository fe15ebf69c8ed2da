"""The media store (MongoDB): one document per uploaded file, its metadata and its storage key.

The storage key is `media/<owner>/<media id>`: it never derives from the client's filename, which is kept
(sanitised) for display only. Writes after creation are guarded by `version` (ADR 0006).
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
    storage_key: str
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
        ]
