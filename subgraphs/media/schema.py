"""The media subgraph's root types: thin resolvers that call the service."""

import strawberry

from coursegraph.errors import ValidationFailed
from coursegraph.graphql import UserError, build_schema
from subgraphs.media.types import (
    CompleteUploadPayload,
    CreateUploadInput,
    CreateUploadPayload,
    Ctx,
    MediaType,
    MediaUrl,
    UploadTarget,
    UserType,
)


@strawberry.type
class Query:
    @strawberry.field(description="A media its owner (or an admin) manages; null for anyone else.")
    async def media(self, info: Ctx, id: strawberry.ID) -> MediaType | None:
        media = await info.context.service.one(info.context.actor, str(id), info.context.loaders.media.load)
        return None if media is None else MediaType.of(media)

    @strawberry.field(
        description="A short-lived signed URL of a ready media: for its owner, admins, and the learners "
        "and instructor of a course whose lesson shows it (FORBIDDEN for anyone else)."
    )
    async def media_url(self, info: Ctx, id: strawberry.ID) -> MediaUrl:
        return MediaUrl.of(await info.context.service.download_url(info.context.actor, str(id)))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Instructors and admins: ask to upload a file. Answers a pending media and a "
        "presigned POST; upload to it, then call completeUpload."
    )
    async def create_upload(self, info: Ctx, input: CreateUploadInput) -> CreateUploadPayload:
        try:
            upload = await info.context.service.create_upload(
                info.context.actor, filename=input.filename, content_type=input.content_type, size=input.size
            )
        except ValidationFailed as exc:
            errors = [UserError.from_field_error(e) for e in exc.errors]
            return CreateUploadPayload(media=None, upload=None, errors=errors)
        return CreateUploadPayload(
            media=MediaType.of(upload.media),
            upload=UploadTarget.of(upload.form, upload.expires_at),
            errors=[],
        )

    @strawberry.mutation(
        description="Confirm an upload: the stored file must have the declared size, and its content the "
        "declared type. Then the media is READY; otherwise it is deleted and the errors say why."
    )
    async def complete_upload(self, info: Ctx, id: strawberry.ID) -> CompleteUploadPayload:
        try:
            media = await info.context.service.complete_upload(info.context.actor, str(id))
        except ValidationFailed as exc:
            errors = [UserError.from_field_error(e) for e in exc.errors]
            return CompleteUploadPayload(media=None, errors=errors)
        return CompleteUploadPayload(media=MediaType.of(media), errors=[])


schema = build_schema(query=Query, mutation=Mutation, types=[MediaType, UserType])
