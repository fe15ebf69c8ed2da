"""MediaService on the real document store and on local-disk storage, no GraphQL: an upload's way from
request to ready or refused, what was written and announced, and refusals that change nothing. The
decisions themselves are unit-tested in tests/unit/test_media_decisions.py."""

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from coursegraph.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.mongo import init_models, mongo_client
from coursegraph.security import Actor, Role
from subgraphs.media.delivery import Delivery
from subgraphs.media.models import Media, MediaStatus
from subgraphs.media.repository import MediaRepository
from subgraphs.media.rules import UploadRules
from subgraphs.media.service import MediaService
from subgraphs.media.storage import LocalStorage
from tests.support.files import png
from tests.support.outbox import NoPublisher, outbox_event_types

pytestmark = pytest.mark.integration

PNG = png(200)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2031, 6, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class NoCourses:
    """The courses service's answer to "may this user see this media?": nobody but its managers here."""

    async def may_see(self, media_id: str, user_id: str, owner_id: str) -> bool:
        return False


class Setup:
    def __init__(self, database: Any, root: Path) -> None:
        self.database = database
        self.storage = LocalStorage(root, public_url="http://127.0.0.1:9/media", secret="not a secret")
        self.clock = Clock()
        relay = DocumentOutboxRelay([database["media"]], NoPublisher())
        self.service = MediaService(
            MediaRepository(relay),
            self.storage,
            Delivery(expiry=timedelta(minutes=5), local=self.storage),
            UploadRules(frozenset({"image/png"}), 10_000),
            NoCourses(),
            self.clock,
            upload_expiry=timedelta(minutes=10),
        )

    def upload(self, key: str, data: bytes, scratch: Path) -> None:
        """What the signed upload endpoint does with a client's file."""
        source = scratch / uuid.uuid4().hex
        source.write_bytes(data)
        self.storage.store(key, source)

    async def stored(self, media_id: Any) -> dict[str, Any]:
        found = await self.database["media"].find_one({"_id": ObjectId(str(media_id))})
        assert found is not None
        return dict(found)


@pytest.fixture
async def media(mongodb_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    client = mongo_client(mongodb_url, service="media-service-tests")
    name = f"media_service_{uuid.uuid4().hex[:12]}"
    await init_models(client, name, [Media])
    yield Setup(client[name], tmp_path / "storage")
    await client.drop_database(name)
    await client.close()


def instructor() -> Actor:
    return Actor(user_id=uuid.uuid4(), role=Role.INSTRUCTOR)


async def test_a_checked_upload_is_ready_served_from_its_checked_copy_and_announced(
    media: Setup, tmp_path: Path
) -> None:
    owner = instructor()
    upload = await media.service.create_upload(
        owner, filename="d.png", content_type="image/png", size=len(PNG)
    )
    assert upload.media.status is MediaStatus.PENDING
    media.upload(upload.media.upload_key, PNG, tmp_path)

    ready = await media.service.complete_upload(owner, str(upload.media.id))
    stored = await media.stored(upload.media.id)
    assert ready.status is MediaStatus.READY and ready.sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored["version"] == ready.version and stored["storage_key"] == ready.storage_key, (
        "answered as written"
    )
    assert ready.storage_key is not None and ready.storage_key != upload.media.upload_key
    assert await media.storage.size_of(upload.media.upload_key) is None, "the upload's key is emptied"
    assert outbox_event_types(stored) == ["MEDIA_UPLOADED", "MEDIA_READY"]

    # A replay of the policy writes the upload's key again: what is served does not change.
    media.upload(upload.media.upload_key, b"<html>" + b"x" * (len(PNG) - 6), tmp_path)
    again = await media.service.complete_upload(owner, str(upload.media.id))
    assert again.version == ready.version and again.storage_key == ready.storage_key
    assert await media.storage.head(ready.storage_key, len(PNG)) == PNG
    url = await media.service.download_url(owner, str(upload.media.id))
    assert url.url.startswith("http://127.0.0.1:9/media/files/")


async def test_bytes_other_than_declared_are_refused_and_removed(media: Setup, tmp_path: Path) -> None:
    owner = instructor()
    upload = await media.service.create_upload(
        owner, filename="d.png", content_type="image/png", size=len(PNG)
    )
    media.upload(upload.media.upload_key, b"<html><script>alert(1)</script>", tmp_path)
    with pytest.raises(ValidationFailed) as refused:
        await media.service.complete_upload(owner, str(upload.media.id))
    assert [(error.field, error.code) for error in refused.value.errors] == [("size", "MISMATCH")]
    stored = await media.stored(upload.media.id)
    assert stored["status"] == "deleted" and "bytes" in stored["failure"] and stored.get("outbox", []) == []
    assert await media.storage.size_of(upload.media.upload_key) is None
    with pytest.raises(Conflict) as closed:
        await media.service.complete_upload(owner, str(upload.media.id))
    assert closed.value.details == {"reason": "DELETED"}


async def test_only_its_owner_completes_and_only_signed_in_callers_ask(media: Setup, tmp_path: Path) -> None:
    owner = instructor()
    upload = await media.service.create_upload(
        owner, filename="d.png", content_type="image/png", size=len(PNG)
    )
    media.upload(upload.media.upload_key, PNG, tmp_path)
    with pytest.raises(Forbidden):
        await media.service.complete_upload(instructor(), str(upload.media.id))
    nobody = Actor()

    async def load(media_id: str) -> Media | None:
        return (await media.service.get_many(nobody, [media_id]))[0]

    with pytest.raises(Unauthenticated):
        await media.service.one(nobody, str(upload.media.id), load)
    with pytest.raises(Forbidden):
        await media.service.create_upload(
            Actor(user_id=uuid.uuid4(), role=Role.LEARNER), filename="d.png", content_type="image/png", size=1
        )
    assert (await media.stored(upload.media.id))["status"] == "pending", "refusals change nothing"


async def test_an_abandoned_upload_is_removed_and_its_key_closed(media: Setup, tmp_path: Path) -> None:
    owner = instructor()
    upload = await media.service.create_upload(
        owner, filename="d.png", content_type="image/png", size=len(PNG)
    )
    media.upload(upload.media.upload_key, PNG, tmp_path)
    assert await media.service.remove_abandoned(older_than=timedelta(hours=1)) == 0, "not old yet"
    media.clock.now += timedelta(hours=2)
    assert await media.service.remove_abandoned(older_than=timedelta(hours=1)) == 1
    stored = await media.stored(upload.media.id)
    assert stored["status"] == "deleted" and stored["failure"] == "never completed"
    assert await media.storage.size_of(upload.media.upload_key) is None
    assert await media.service.close_uploads() == 1
    assert (await media.stored(upload.media.id)).get("upload_closes_at") is None
    assert await media.service.close_uploads() == 0
