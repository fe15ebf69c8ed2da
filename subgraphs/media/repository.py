"""Every media-store query and write: by `_id` (ADR 0014), but for the cleanup's two queries (old pending
uploads, expired upload policies), which indexes answer on MongoDB."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId

from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import get_by_ids
from coursegraph.unit_of_work import Decision, versioned_write
from subgraphs.media.models import Media, MediaStatus

Events = Sequence[dict[str, Any]]


class MediaRepository:
    def __init__(self, relay: DocumentOutboxRelay) -> None:
        self._relay = relay

    async def get(self, media_id: str) -> Media | None:
        if not ObjectId.is_valid(media_id):
            return None
        return await Media.get(ObjectId(media_id))

    async def get_many(self, ids: Sequence[str]) -> dict[str, Media]:
        found = await get_by_ids(Media, [ObjectId(i) for i in ids if ObjectId.is_valid(i)])
        return {str(media.id): media for media in found}

    async def insert(self, media: Media) -> Media:
        await media.insert()
        return media

    async def write(self, before: Media, decision: Decision[Media]) -> bool:
        """Write what was decided, only if nobody changed the media since `before` was read."""
        return await versioned_write(self._relay, Media.get_pymongo_collection(), before, decision)

    async def write_once(self, before: Media, decision: Decision[Media] | None) -> bool:
        """Background work's write: what was decided, if anything, once; a lost race is left to the
        next run (the task reads its media again then)."""
        return decision is not None and await self.write(before, decision)

    async def uploads_closed_before(self, now: datetime, *, limit: int) -> list[Media]:
        """Media no longer pending whose upload policy has expired and whose upload key was not yet
        cleared (`upload_closes_at` is unset once it is)."""
        query = {"upload_closes_at": {"$lt": now}, "status": {"$ne": MediaStatus.PENDING.value}}
        return await Media.find(query).limit(limit).to_list()

    async def pending_before(self, created_before: datetime, *, limit: int) -> list[Media]:
        query = {"status": MediaStatus.PENDING.value, "created_at": {"$lt": created_before}}
        return await Media.find(query).sort("created_at").limit(limit).to_list()
