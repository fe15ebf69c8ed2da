"""The media endpoints: an upload in one request (`POST /media/upload`, multipart), and a media's
short-lived download URL (`GET /media/:id/url`).

An upload runs the graph's own flow, as a browser would: `createUpload` (a pending media and a presigned
POST), the file straight to storage under that POST's policy, then `completeUpload` (size and detected
type checked). The file is never held in memory: the form parser spools it to a temporary file (1 MiB in
memory at most) and httpx streams it from there to storage.
"""

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, BinaryIO, Literal

import httpx
from fastapi import APIRouter, File, Path, Request, Response, UploadFile
from fastapi.routing import APIRoute
from pydantic import AliasPath, Field

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphOutput,
    Runner,
    responses,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

MEDIA_FIELDS = "id filename contentType size sha256 status owner { id } createdAt updatedAt readyAt"
CREATE_UPLOAD = """
mutation CreateUpload($input: CreateUploadInput!) {
  createUpload(input: $input) {
    media { id }
    upload { url fields { name value } expiresAt }
    errors { code field message }
  }
}"""
COMPLETE_UPLOAD = f"""
mutation CompleteUpload($id: ID!) {{
  completeUpload(id: $id) {{ media {{ {MEDIA_FIELDS} }} errors {{ code field message }} }}
}}"""
MEDIA_URL = """query MediaUrl($id: ID!) { mediaUrl(id: $id) { url expiresAt } }"""
WHO = "query Who { me { id } }"

# --- request and response bodies ------------------------------------------------------------------------

MediaId = Annotated[
    str, Path(description="The media's id (24 hexadecimal characters).", pattern=r"^[0-9a-fA-F]{24}$")
]


class Media(GraphOutput):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str | None
    status: Annotated[Literal["pending", "ready", "deleted"], FromGraphEnum]
    owner_id: str = Field(validation_alias=AliasPath("owner", "id"))
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None


class MediaUrl(GraphOutput):
    url: str
    expires_at: datetime = Field(description="After this the URL no longer works; ask again.")


# --- the endpoints --------------------------------------------------------------------------------------


def _size(file: BinaryIO) -> int:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def signed_in_first(run: Runner) -> type[APIRoute]:
    """A route that asks who is calling before FastAPI reads the body for its parameters: an upload may
    be as large as the media limit, and an anonymous or expired caller's is refused unread (401)."""

    class SignedInFirst(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def signed_in_first(request: Request) -> Response:
                await run(request, WHO, {})  # UNAUTHENTICATED without a valid token
                return await handler(request)

            return signed_in_first

    return SignedInFirst


def router(
    run: Runner, *, storage_timeout: float = 600.0, storage_urls: tuple[str | None, str | None] = (None, None)
) -> APIRouter:
    """`storage_urls`: (public, internal) S3 endpoints; an upload form for the public one is posted to the
    internal one (a presigned POST's signature covers its policy, not the host)."""
    public, internal = storage_urls
    router = APIRouter(tags=["media"])
    uploads = APIRouter(route_class=signed_in_first(run))  # included in `router`, with its tags
    # Uploads go to storage (S3, or the media service's own endpoint for local disk), not to the router.
    storage = httpx.AsyncClient(timeout=storage_timeout)

    async def send_to_storage(target: dict[str, Any], file: UploadFile, content_type: str) -> None:
        fields = {field["name"]: field["value"] for field in target["fields"]}
        url = target["url"]
        if public and internal and url.startswith(public):
            url = internal + url.removeprefix(public)
        await asyncio.to_thread(file.file.seek, 0)
        try:
            answer = await storage.post(
                url, data=fields, files={"file": (file.filename or "file", file.file, content_type)}
            )
        except httpx.TransportError as exc:
            raise GraphError(
                ErrorCode.INTERNAL, "The media storage is unavailable; try again later."
            ) from exc
        if answer.status_code >= 300:
            raise GraphError(
                ErrorCode.BAD_USER_INPUT,
                f"The storage refused the file ({answer.status_code}).",
                {"fields": {"file": f"refused by the storage: {answer.text[:200]}"}},
            )

    @uploads.post(
        "/media/upload",
        status_code=201,
        summary="Instructors and admins: upload a file (multipart/form-data, field `file`)",
        description="The part's Content-Type is the declared type: allowed types only, never HTML or SVG, "
        "and the file's content must be of that type. The file's name is kept for display only. Answers "
        "the ready media; 400 when the file is refused (and nothing is kept).",
        responses=responses(403, 413),
        openapi_extra=SIGNED_IN,
    )
    async def upload(
        request: Request,
        file: Annotated[UploadFile, File(description="The file; its part's Content-Type is its type.")],
    ) -> Envelope[Media]:
        size = await asyncio.to_thread(_size, file.file)
        content_type = file.content_type or "application/octet-stream"
        variables = {"input": {"filename": file.filename or "", "contentType": content_type, "size": size}}
        data = await run(request, CREATE_UPLOAD, variables)
        payload = data["createUpload"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="file")
        await send_to_storage(payload["upload"], file, content_type)
        done = (await run(request, COMPLETE_UPLOAD, {"id": payload["media"]["id"]}))["completeUpload"]
        if done["errors"]:
            raise user_errors(done["errors"], default_field="file")
        return Envelope.ok(Media.model_validate(done["media"]))

    @router.get(
        "/media/{media_id}/url",
        summary="A short-lived signed URL of a ready media, and when it expires",
        description="For its owner, admins, and the learners and instructor of a course whose lesson shows "
        "it (`media_url: media:<id>`); 403 for anyone else.",
        responses=responses(403, 404, 409),
        openapi_extra=SIGNED_IN,
    )
    async def media_url(request: Request, media_id: MediaId) -> Envelope[MediaUrl]:
        data = await run(request, MEDIA_URL, {"id": media_id.lower()})
        return Envelope.ok(MediaUrl.model_validate(data["mediaUrl"]))

    router.include_router(uploads)
    return router
