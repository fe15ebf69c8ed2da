"""Issue 10: the other two ways media is delivered.

- With a CloudFront distribution configured, the URL is CloudFront's signed URL (canned policy): its
  signature verifies with the key pair's public key, and it expires when configured.
- On local disk (the dev default), the media service signs its own short-lived links and serves them
  with range requests, so video can seek; a tampered link serves nothing.
"""

import base64
import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.e2e.conftest import StartStack
from tests.support.files import mp4, png
from tests.support.stack import run_stack

pytestmark = pytest.mark.e2e

DISTRIBUTION = "d111111abcdef8.cloudfront.net"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
EXPIRY_SECONDS = 600


def cloudfront_signature(value: str) -> bytes:
    """CloudFront's URL-safe base64: `-` for `+`, `_` for `=`, `~` for `/`."""
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_cloudfront_urls_verify_with_the_public_key_and_expire_as_configured(
    start_stack: StartStack, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "cloudfront.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    env = {
        "COURSEGRAPH_CLOUDFRONT_DOMAIN": DISTRIBUTION,
        "COURSEGRAPH_CLOUDFRONT_KEY_PAIR_ID": KEY_PAIR_ID,
        "COURSEGRAPH_CLOUDFRONT_PRIVATE_KEY_PATH": str(pem),
        "COURSEGRAPH_MEDIA_URL_EXPIRY_SECONDS": str(EXPIRY_SECONDS),
    }
    with start_stack("cloudfront", env) as stack:
        token = stack.sign_in_as("instructor")["access_token"]
        uploaded = stack.rest(
            "POST", "/media/upload", token=token, files={"file": ("a.png", png(), "image/png")}
        )
        assert uploaded.status_code == 201, uploaded.text
        media_id = uploaded.json()["data"]["id"]
        asked_at = time.time()
        answer = stack.rest("GET", f"/media/{media_id}/url", token=token).json()["data"]

    url = urlsplit(answer["url"])
    assert url.scheme == "https" and url.netloc == DISTRIBUTION and url.path.endswith(media_id)
    query = parse_qs(url.query)
    assert query["Key-Pair-Id"] == [KEY_PAIR_ID]
    expires = int(query["Expires"][0])
    assert abs(expires - (asked_at + EXPIRY_SECONDS)) <= 5, "the configured expiry"
    assert datetime.fromisoformat(answer["expires_at"]) == datetime.fromtimestamp(expires, UTC)

    resource = f"{url.scheme}://{url.netloc}{url.path}"
    policy = json.dumps(
        {"Statement": [{"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
        separators=(",", ":"),
    ).encode()
    signature = cloudfront_signature(query["Signature"][0])
    key.public_key().verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    later = policy.replace(str(expires).encode(), str(expires + 3600).encode())
    with pytest.raises(InvalidSignature):  # the signature covers the expiry: a later one does not verify
        key.public_key().verify(signature, later, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303


def test_local_disk_links_are_signed_short_lived_and_serve_ranges(tmp_path: Path) -> None:
    env = {"COURSEGRAPH_DATA_DIR": str(tmp_path)}  # the dev profile: local disk, in-process events
    with run_stack(env, tmp_path / "dev.log", command="dev") as stack:
        signed_in = stack.rest("POST", "/auth/dev", json={"email": "admin@example.org", "name": "Admin"})
        token = signed_in.json()["data"]["access_token"]
        video = mp4(300_000)
        uploaded = stack.rest(
            "POST", "/media/upload", token=token, files={"file": ("talk.mp4", video, "video/mp4")}
        )
        assert uploaded.status_code == 201, uploaded.text
        media = uploaded.json()["data"]
        assert media["sha256"] == hashlib.sha256(video).hexdigest()
        assert list((tmp_path / "media").rglob(media["id"])), "stored under the data dir, by id"
        url = stack.rest("GET", f"/media/{media['id']}/url", token=token).json()["data"]["url"]

        whole = httpx.get(url, timeout=10)
        assert whole.status_code == 200 and whole.content == video
        assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["x-content-type-options"] == "nosniff"
        part = httpx.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
        assert part.status_code == 206 and part.content == video[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(video)}"

        token_part = url.rsplit("/", 1)[1]
        tampered = (
            url[: -len(token_part)] + token_part[:-3] + ("AAA" if not token_part.endswith("AAA") else "BBB")
        )
        assert httpx.get(tampered, timeout=10).status_code == 403

        # Finding (a) on local disk: the upload's signed policy, replayed after `completeUpload` with
        # other bytes of the same size, never replaces what was checked.
        checked = png(3000)
        created = stack.graphql(CREATE_UPLOAD, {"size": len(checked)}, token=token).json()
        upload = created["data"]["createUpload"]["upload"]
        media_id = created["data"]["createUpload"]["media"]["id"]
        fields = {f["name"]: f["value"] for f in upload["fields"]}

        def post(content: bytes) -> httpx.Response:
            files = {"file": ("f.png", content, "image/png")}
            return httpx.post(upload["url"], data=fields, files=files, timeout=10)

        assert post(checked).status_code == 204
        done = stack.graphql(COMPLETE, {"id": media_id}, token=token).json()["data"]["completeUpload"]
        assert done["media"]["sha256"] == hashlib.sha256(checked).hexdigest(), done
        assert post(b"<html><script>alert(1)</script></html>".ljust(len(checked))).status_code < 500
        url = stack.rest("GET", f"/media/{media_id}/url", token=token).json()["data"]["url"]
        assert httpx.get(url, timeout=10).content == checked, "the checked bytes, and only them"


CREATE_UPLOAD = """mutation($size: Int!) {
  createUpload(input: {filename: "c.png", contentType: "image/png", size: $size}) {
    media { id } upload { url fields { name value } } errors { code field message } } }"""
COMPLETE = "mutation($id: ID!) { completeUpload(id: $id) { media { sha256 } errors { code message } } }"
