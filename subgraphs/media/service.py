"""The media service: the only way to media, reads and writes, taking the caller.

Uploads go the way Canvas's do: request (`create_upload`: the media is pending, the client gets a
presigned POST whose policy pins key, type and size), upload straight to storage, confirm
(`complete_upload`: the object must be there with the declared size, and libmagic must see the declared
type in its first bytes; only then is it ready). A client may skip the POST's policy and write the object
some other way, so `complete_upload` checks everything itself; what fails is deleted, never served.

A policy cannot be revoked: until it expires it writes its key again. So what is checked, hashed and
served is a copy at a key no policy names (`media/<owner>/<check id>/<media id>`), made before the
checks, one per attempt (concurrent completions never share one), and the upload's key is emptied after.
"""

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bson import ObjectId

from coursegraph.clock import Clock
from coursegraph.codes import Reason
from coursegraph.errors import Conflict, Forbidden, NotFound, ValidationFailed
from coursegraph.security import Actor
from coursegraph.unit_of_work import change, starting_with
from subgraphs.media import decisions, permissions
from subgraphs.media.delivery import Delivery, SignedUrl
from subgraphs.media.models import Media, MediaStatus
from subgraphs.media.repository import MediaRepository
from subgraphs.media.rules import (
    SNIFF_BYTES,
    UploadRules,
    detected_type,
    display_name,
    normalised_type,
)
from subgraphs.media.storage import Storage, UploadForm

logger = logging.getLogger(__name__)


class CourseMedia(Protocol):
    async def may_see(self, media_id: str, user_id: str, owner_id: str) -> bool: ...


@dataclass(frozen=True)
class Upload:
    media: Media
    form: UploadForm
    expires_at: datetime


class MediaService:
    def __init__(
        self,
        repository: MediaRepository,
        storage: Storage,
        delivery: Delivery,
        rules: UploadRules,
        courses: CourseMedia,
        clock: Clock,
        *,
        upload_expiry: timedelta,
    ) -> None:
        self._media = repository
        self._storage = storage
        self._delivery = delivery
        self._rules = rules
        self._courses = courses
        self._clock = clock
        self._upload_expiry = upload_expiry

    async def create_upload(self, actor: Actor, *, filename: str, content_type: str, size: int) -> Upload:
        owner_id = permissions.check_may_upload(actor)
        errors = self._rules.check(filename, content_type, size)
        if errors:
            raise ValidationFailed(errors)
        now = self._clock()
        media_id = ObjectId()
        media = Media(
            id=media_id,
            owner_id=owner_id,
            filename=display_name(filename),
            content_type=normalised_type(content_type),
            size=size,
            upload_closes_at=now + self._upload_expiry,
            created_at=now,
            updated_at=now,
        )
        await self._media.insert(media)
        form = await self._storage.upload_form(
            media.upload_key, media.content_type, size, self._upload_expiry
        )
        return Upload(media, form, now + self._upload_expiry)

    async def complete_upload(self, actor: Actor, media_id: str) -> Media:
        media = await self._media.get(media_id)
        if media is None:
            raise NotFound("No such media.")
        permissions.check_may_complete(actor, media)
        if not decisions.completion_wanted(media):
            return media
        # The checks read a copy no policy can write; a replay of the upload cannot change it under them.
        checked_key = f"media/{media.owner_id}/{secrets.token_hex(8)}/{media.id}"
        if not await self._storage.copy(media.upload_key, checked_key):
            current = await self._media.get(media_id)
            if current is not None and not decisions.completion_wanted(current):
                return current  # a concurrent completion kept it, and emptied the upload's key
            raise Conflict("The file has not been uploaded yet.", details={"reason": Reason.NOT_UPLOADED})
        refusal = decisions.content_refusal(
            media,
            stored_size=await self._storage.size_of(checked_key),
            detected_type=detected_type(await self._storage.head(checked_key, SNIFF_BYTES)),
        )
        if refusal is not None:
            await self._refuse(media, refusal.message, checked_key)
            raise ValidationFailed([refusal])
        digest = hashlib.sha256()
        async for chunk in self._storage.chunks(checked_key):
            digest.update(chunk)
        sha256, now = digest.hexdigest(), self._clock()
        written = await change(
            starting_with(media, lambda: self._media.get(media_id)),
            lambda current: decisions.complete(current, checked_key=checked_key, sha256=sha256, now=now),
            self._media.write,
            conflict="The media changed meanwhile; try again.",
        )
        assert written is not None  # media are never removed from the store
        if written.storage_key != checked_key:
            await self._storage.delete(checked_key)  # another attempt's copy is the one kept
        else:
            await self._storage.delete(media.upload_key)  # a replay may write it again: see close_uploads
        return written

    async def download_url(self, actor: Actor, media_id: str) -> SignedUrl:
        """A short-lived URL: for its owner and admins, and for whoever may see a lesson that shows it."""
        user_id = actor.require_user()
        media = await self._media.get(media_id)
        if media is None or media.status is MediaStatus.DELETED:
            raise NotFound("No such media.")
        if not permissions.is_manager(actor, media) and not await self._courses.may_see(
            media_id, str(user_id), media.owner_id
        ):
            raise Forbidden("Only its course's learners and instructor, and admins, may see this media.")
        if media.status is not MediaStatus.READY or media.storage_key is None:
            raise Conflict("This media's upload is not complete.", details={"reason": Reason.NOT_READY})
        return self._delivery.url(
            media.storage_key, filename=media.filename, content_type=media.content_type, now=self._clock()
        )

    async def one(
        self, actor: Actor, media_id: str, load: Callable[[str], Awaitable[Media | None]]
    ) -> Media | None:
        """`media(id)`: signed-in callers only, and (through `load`, the request's batch of `get_many`)
        only a media they manage."""
        actor.require_user()
        return await load(media_id)

    async def get_many(self, actor: Actor, ids: list[str]) -> list[Media | None]:
        """Media the caller manages (their own; admins every one)."""
        found = await self._media.get_many(ids)
        return [
            m if (m := found.get(i)) is not None and permissions.is_manager(actor, m) else None for i in ids
        ]

    async def remove_abandoned(self, *, older_than: timedelta, limit: int = 100) -> int:
        """Uploads requested and never completed: their objects (if any) and the media go."""
        removed = 0
        for media in await self._media.pending_before(self._clock() - older_than, limit=limit):
            await self._delete_objects(media)
            removed += await self._media.write_once(
                media, decisions.refuse(media, reason=decisions.NEVER_COMPLETED, now=self._clock())
            )
        if removed:
            logger.info("removed %d abandoned uploads", removed)
        return removed

    async def close_uploads(self, *, limit: int = 100) -> int:
        """Once an upload's policy has expired nothing can write its key: empty it one last time (a
        replay after completion or refusal may have written it) for media no longer pending."""
        closed = 0
        for media in await self._media.uploads_closed_before(self._clock(), limit=limit):
            await self._storage.delete(media.upload_key)
            closed += await self._media.write_once(media, decisions.close_upload(media))
        return closed

    async def _delete_objects(self, media: Media, *also: str) -> None:
        keys = {media.upload_key, *also}
        if media.storage_key is not None:
            keys.add(media.storage_key)
        for key in keys:
            await self._storage.delete(key)

    async def _refuse(self, media: Media, reason: str, checked_key: str) -> None:
        """A refused media is DELETED and its objects go: its upload's and the copy that was checked."""
        await self._delete_objects(media, checked_key)
        await self._media.write_once(media, decisions.refuse(media, reason=reason, now=self._clock()))
