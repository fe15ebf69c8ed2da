"""The media subgraph app: metadata in MongoDB (document outbox to media.events), bytes in S3 or on
local disk, signed URLs out; and, for local disk, the signed upload and download endpoints that stand in
for S3's presigned POST and GET (with range requests, so video can seek)."""

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Literal

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from itsdangerous import BadData
from pydantic import Field, SecretStr

from coursegraph.clock import system_clock
from coursegraph.document_store import DocumentStore
from coursegraph.events.publisher import EventPublisher
from coursegraph.internal import InternalGraphQLClient
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import ServiceSettings
from coursegraph.tasks import Periodic
from subgraphs.media.context import MediaContext
from subgraphs.media.courses_client import CoursesClient
from subgraphs.media.delivery import CloudFrontUrls, Delivery
from subgraphs.media.loaders import make_loaders
from subgraphs.media.models import Media
from subgraphs.media.repository import MediaRepository
from subgraphs.media.rules import UploadRules
from subgraphs.media.schema import schema
from subgraphs.media.service import MediaService
from subgraphs.media.storage import LocalStorage, S3Storage, content_disposition

logger = logging.getLogger(__name__)

# Dev and test only; the production profile refuses it.
DEV_MEDIA_SECRET = "dev-only-media-signing-secret"  # noqa: S105
DEFAULT_TYPES = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "video/mp4",
    "video/webm",
    "audio/mpeg",
    "audio/ogg",
    "text/plain",
]
FORM_OVERHEAD = 64 * 1024  # a multipart body's fields and boundaries, beyond the file itself


class ConfigurationError(RuntimeError):
    pass


class MediaSettings(ServiceSettings):
    media_database: str = "coursegraph_media"
    media_storage: Literal["local", "s3"] = "local"
    # Local disk (dev): files under this directory (default: <data dir>/media), served by this service.
    media_dir: Path | None = None
    media_public_url: str = "http://127.0.0.1:4005"
    media_signing_secret: SecretStr = SecretStr(DEV_MEDIA_SECRET)
    # S3 (any endpoint: AWS, or an emulator in tests).
    s3_endpoint_url: str | None = None
    # The endpoint browsers reach, when it differs from the one above (containers, private networks):
    # presigned upload and download URLs name it. Unset: the same as s3_endpoint_url.
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = "coursegraph-media"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Create the bucket at start when missing: unset means in dev and test only.
    s3_create_bucket: bool | None = None
    # CloudFront (downloads through a distribution whose origin is the bucket), when all three are set.
    cloudfront_domain: str | None = None
    cloudfront_key_pair_id: str | None = None
    cloudfront_private_key_path: Path | None = None
    # Rules and lifetimes.
    media_allowed_types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES))
    media_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1)
    media_url_expiry_seconds: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    media_upload_expiry_seconds: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    media_abandoned_after_seconds: float = Field(default=24 * 3600, gt=0)
    media_cleanup_seconds: float = Field(default=3600, gt=0)

    def refuse_unsafe_production(self) -> None:
        if self.is_production and self.media_signing_secret.get_secret_value() == DEV_MEDIA_SECRET:
            raise ConfigurationError("the production profile needs COURSEGRAPH_MEDIA_SIGNING_SECRET")


def create_app(settings: MediaSettings | None = None, publisher: EventPublisher | None = None) -> FastAPI:
    settings = settings or MediaSettings()
    settings.refuse_unsafe_production()
    store = DocumentStore.open(
        settings, service="media", database=settings.media_database, models=[Media], publisher=publisher
    )
    s3: S3Storage | None = None
    local: LocalStorage | None = None
    if settings.media_storage == "s3":
        secret = settings.s3_secret_access_key
        s3 = S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )
    else:
        local = LocalStorage(
            (settings.media_dir or settings.data_dir / "media").resolve(),
            public_url=settings.media_public_url,
            secret=settings.media_signing_secret.get_secret_value(),
        )
    cloudfront = None
    if (
        settings.cloudfront_domain
        and settings.cloudfront_key_pair_id
        and settings.cloudfront_private_key_path
    ):
        cloudfront = CloudFrontUrls(
            domain=settings.cloudfront_domain,
            key_pair_id=settings.cloudfront_key_pair_id,
            private_key_pem=settings.cloudfront_private_key_path.read_bytes(),
        )
    expiry = timedelta(seconds=settings.media_url_expiry_seconds)
    delivery = Delivery(expiry=expiry, s3=s3, local=local, cloudfront=cloudfront)
    rules = UploadRules(frozenset(t.lower() for t in settings.media_allowed_types), settings.media_max_bytes)
    internal = InternalGraphQLClient.with_client_credentials(
        settings, service="media", url=settings.courses_subgraph_url
    )
    courses = CoursesClient(internal)
    service = MediaService(
        MediaRepository(store.relay),
        s3 or local,  # type: ignore[arg-type]  # one of them is set
        delivery,
        rules,
        courses,
        system_clock,
        upload_expiry=timedelta(seconds=settings.media_upload_expiry_seconds),
    )
    abandoned = timedelta(seconds=settings.media_abandoned_after_seconds)

    async def cleanup() -> None:
        await service.remove_abandoned(older_than=abandoned)
        await service.close_uploads()

    cleaning = Periodic(
        "abandoned-upload cleanup",
        cleanup,
        interval_seconds=settings.media_cleanup_seconds,
        first_delay_seconds=settings.media_cleanup_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.start()
        create = settings.s3_create_bucket
        if s3 is not None and (create or (create is None and not settings.is_production)):
            await s3.ensure_bucket()
        cleaning.start()
        try:
            yield
        finally:
            await cleaning.stop()
            await courses.close()
            await store.stop()

    async def build_context(_: Request | WebSocket, actor: Actor) -> MediaContext:
        return MediaContext(actor=actor, service=service, loaders=make_loaders(service, actor))

    app = create_service_app(
        name="media",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        readiness_checks=[store.mongodb],
    )
    app.state.relay = store.relay
    app.state.service = service
    if local is not None:
        _serve_local_files(app, local, expiry=expiry, max_bytes=settings.media_max_bytes)
    return app


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _serve_local_files(app: FastAPI, local: LocalStorage, *, expiry: timedelta, max_bytes: int) -> None:
    """S3's presigned POST and GET, for files on local disk: the policy and the link are signed tokens."""

    @app.post("/files/upload", tags=["files"], include_in_schema=False)
    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            return _refused(411, "MissingContentLength", "Content-Length is required.")
        if int(declared) > max_bytes + FORM_OVERHEAD:
            return _refused(400, "EntityTooLarge", "The upload is larger than allowed.")
        async with request.form(max_files=1, max_fields=8) as form:
            try:
                policy = local.uploads.loads(str(form.get("policy", "")), max_age=int(expiry.total_seconds()))
            except BadData:
                return _refused(403, "AccessDenied", "The upload policy is not valid or has expired.")
            if form.get("key") != policy["key"] or form.get("Content-Type") != policy["content_type"]:
                return _refused(403, "AccessDenied", "The form does not match its policy.")
            file = form.get("file")
            if file is None or isinstance(file, str):
                return _refused(400, "InvalidArgument", "The file field is missing.")
            file.file.seek(0, 2)
            size = file.file.tell()
            if size != policy["size"]:
                code = "EntityTooLarge" if size > policy["size"] else "EntityTooSmall"
                return _refused(400, code, f"The policy allows exactly {policy['size']} bytes.")
            await asyncio.to_thread(_keep, file.file, local, policy["key"])
        return Response(status_code=204)

    @app.get("/files/{token}", tags=["files"], include_in_schema=False)
    async def download(token: str) -> Response:
        try:
            signed = local.downloads.loads(token, max_age=int(expiry.total_seconds()))
        except BadData:
            return _refused(403, "AccessDenied", "This link is not valid or has expired.")
        path = local.path(signed["key"])
        if not path.is_file():
            return _refused(404, "NoSuchKey", "Not found.")
        headers = {
            "Content-Disposition": content_disposition(signed["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        }
        return FileResponse(path, media_type=signed["content_type"], headers=headers)


def _keep(upload: BinaryIO, local: LocalStorage, key: str) -> None:
    """Copy the spooled upload next to its place, then move it there (readers never see half a file)."""
    upload.seek(0)
    with tempfile.NamedTemporaryFile(dir=local.root, delete=False) as copy:
        shutil.copyfileobj(upload, copy, 1024 * 1024)
    try:
        local.store(key, Path(copy.name))
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(copy.name).unlink()
