"""Where media bytes live: S3 (boto3, SigV4, any endpoint) or a directory on local disk (dev).

Both offer the same few things: a presigned POST whose policy pins the key, the content type and the
exact size; a copy of an object under another key (which no policy names: what is checked there cannot
be replaced, ADR 0020); the size of a stored object; its bytes (a prefix, or all of them in chunks); and
deletion. Downloads are `delivery.py`'s. boto3 is synchronous, so its calls run in a thread.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from itsdangerous import URLSafeTimedSerializer

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadForm:
    """A browser-style upload: POST `fields` and then the file (field `file`) as multipart to `url`."""

    url: str
    fields: dict[str, str]


class Storage(Protocol):
    async def upload_form(self, key: str, content_type: str, size: int, expires: timedelta) -> UploadForm: ...

    async def copy(self, source: str, target: str) -> bool: ...

    async def size_of(self, key: str) -> int | None: ...

    async def head(self, key: str, limit: int) -> bytes: ...

    def chunks(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket

        def client(endpoint: str | None) -> Any:
            return boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                # SigV4 everywhere; path-style works with every emulator and with AWS.
                config=Config(
                    signature_version="s3v4", s3={"addressing_style": "path"}, retries={"mode": "standard"}
                ),
            )

        self.client: Any = client(endpoint_url)
        # Presigned URLs go to browsers: they name (and SigV4 signs) the host browsers reach, which inside
        # a container network differs from the one this service calls (compose: http://s3:9000).
        self.signer: Any = client(public_endpoint_url) if public_endpoint_url else self.client

    async def ensure_bucket(self) -> None:
        """Dev and test only: production buckets are made by their operators."""

        def ensure() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError:
                self.client.create_bucket(Bucket=self.bucket)

        await asyncio.to_thread(ensure)

    async def upload_form(self, key: str, content_type: str, size: int, expires: timedelta) -> UploadForm:
        presigned = await asyncio.to_thread(
            self.signer.generate_presigned_post,
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=int(expires.total_seconds()),
        )
        return UploadForm(url=presigned["url"], fields={k: str(v) for k, v in presigned["fields"].items()})

    async def copy(self, source: str, target: str) -> bool:
        """False when there is no `source`. Server-side, with its metadata (the POST's Content-Type);
        boto3's managed copy goes multipart past its threshold (CopyObject stops at 5 GB)."""
        try:
            await asyncio.to_thread(
                self.client.copy, {"Bucket": self.bucket, "Key": source}, self.bucket, target
            )
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    async def size_of(self, key: str) -> int | None:
        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return int(head["ContentLength"])

    async def head(self, key: str, limit: int) -> bytes:
        def read() -> bytes:
            answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit - 1}")
            return bytes(answer["Body"].read())

        return await asyncio.to_thread(read)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        answer = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    def presigned_get(self, key: str, *, filename: str, content_type: str, expires: timedelta) -> str:
        return str(
            self.signer.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": content_disposition(filename),
                },
                ExpiresIn=int(expires.total_seconds()),
            )
        )


class LocalStorage:
    """Files under `root`, uploaded and downloaded through the media service's own signed endpoints
    (`/files/...`), which stand in for S3's presigned POST and GET."""

    UPLOAD_SALT = "coursegraph.media.upload.v1"
    DOWNLOAD_SALT = "coursegraph.media.download.v1"

    def __init__(self, root: Path, *, public_url: str, secret: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.public_url = public_url.rstrip("/")
        self.uploads = URLSafeTimedSerializer(secret, salt=self.UPLOAD_SALT)
        self.downloads = URLSafeTimedSerializer(secret, salt=self.DOWNLOAD_SALT)

    def path(self, key: str) -> Path:
        # Keys are ours (`media/<owner>/<id>`), never a client's: still, stay inside the root.
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"not a storage key: {key!r}")
        return path

    async def upload_form(self, key: str, content_type: str, size: int, expires: timedelta) -> UploadForm:
        policy = self.uploads.dumps({"key": key, "content_type": content_type, "size": size})
        fields = {"key": key, "Content-Type": content_type, "policy": str(policy)}
        return UploadForm(url=f"{self.public_url}/files/upload", fields=fields)

    async def copy(self, source: str, target: str) -> bool:
        """A hard link: no bytes copied. An upload replaces its key's file by a rename (`store`), so
        the link keeps the bytes it was made from."""
        path = self.path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(source), path)
        except FileNotFoundError:
            return False
        return True

    async def size_of(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    async def head(self, key: str, limit: int) -> bytes:
        def read() -> bytes:
            with self.path(key).open("rb") as file:
                return file.read(limit)

        return await asyncio.to_thread(read)

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        with self.path(key).open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def signed_get(self, key: str, *, filename: str, content_type: str) -> str:
        token = self.downloads.dumps({"key": key, "filename": filename, "content_type": content_type})
        return f"{self.public_url}/files/{token}"

    def store(self, key: str, source: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        os.chmod(target, 0o640)


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def content_disposition(filename: str) -> str:
    """`inline` (video and images play in place) with the display name, RFC 6266 / 5987 encoded."""
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
