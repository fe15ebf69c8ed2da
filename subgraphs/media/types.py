"""GraphQL types of the media subgraph."""

from datetime import datetime
from typing import Self

import strawberry
from strawberry.types import Info

from coursegraph.graphql import UserError
from subgraphs.media.context import MediaContext
from subgraphs.media.delivery import SignedUrl
from subgraphs.media.models import Media, MediaStatus
from subgraphs.media.storage import UploadForm

Ctx = Info[MediaContext, None]

MediaStatusEnum = strawberry.enum(
    MediaStatus,
    name="MediaStatus",
    description="PENDING: upload requested, not confirmed; READY: checked and served; DELETED: refused, "
    "abandoned or removed.",
)


@strawberry.federation.type(keys=["id"], name="User")
class UserType:
    id: strawberry.ID


@strawberry.federation.type(
    keys=["id"], name="Media", description="An uploaded file: its owner and uploader sees all of it."
)
class MediaType:
    id: strawberry.ID
    filename: str = strawberry.field(description="The display name (the storage key never derives from it).")
    content_type: str
    size: int = strawberry.field(description="Bytes.")
    sha256: str | None = strawberry.field(description="Hex SHA-256 of the stored bytes, once ready.")
    status: MediaStatusEnum  # type: ignore[valid-type]
    owner: UserType
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None

    @classmethod
    def of(cls, media: Media) -> Self:
        return cls(
            id=strawberry.ID(str(media.id)),
            filename=media.filename,
            content_type=media.content_type,
            size=media.size,
            sha256=media.sha256,
            status=media.status,
            owner=UserType(id=strawberry.ID(media.owner_id)),
            created_at=media.created_at,
            updated_at=media.updated_at,
            ready_at=media.ready_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        media = await info.context.loaders.media.load(str(id))
        return None if media is None else cls.of(media)


@strawberry.type(description="A short-lived signed download URL.")
class MediaUrl:
    url: str
    expires_at: datetime

    @classmethod
    def of(cls, signed: SignedUrl) -> Self:
        return cls(url=signed.url, expires_at=signed.expires_at)


@strawberry.type
class UploadField:
    name: str
    value: str


@strawberry.type(
    description="Where to upload: POST multipart/form-data to `url` with every field, in order, then the "
    "file as the last field, named `file`. The policy pins the key, the content type and the size."
)
class UploadTarget:
    url: str
    fields: list[UploadField]
    expires_at: datetime

    @classmethod
    def of(cls, form: UploadForm, expires_at: datetime) -> Self:
        fields = [UploadField(name=k, value=v) for k, v in form.fields.items()]
        return cls(url=form.url, fields=fields, expires_at=expires_at)


@strawberry.input
class CreateUploadInput:
    filename: str = strawberry.field(description="A plain file name (no path); shown to people.")
    content_type: str = strawberry.field(description="The file's type; it must match its content.")
    size: int = strawberry.field(description="Exactly the file's size in bytes.")


@strawberry.type
class CreateUploadPayload:
    media: MediaType | None
    upload: UploadTarget | None
    errors: list[UserError]


@strawberry.type
class CompleteUploadPayload:
    media: MediaType | None
    errors: list[UserError]
