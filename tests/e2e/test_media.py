"""Issue 10's acceptance through the real stack: uploads to the S3 emulator (s3s-fs, which enforces
presigned POST policies), downloads through the returned URLs, every refusal clear and nothing served,
and a lesson's media visible to its course's people only."""

import hashlib
import socket
import time
import uuid
from typing import Any

import boto3
import httpx
import pytest

from tests.e2e.conftest import E2EStack
from tests.support.files import html, mp4, pdf, png

pytestmark = pytest.mark.e2e

CREATE_UPLOAD = """mutation($input: CreateUploadInput!) {
  createUpload(input: $input) {
    media { id status }
    upload { url fields { name value } expiresAt }
    errors { code field message }
  }
}"""
COMPLETE = """mutation($id: ID!) {
  completeUpload(id: $id) {
    media { id status size sha256 contentType filename }
    errors { code field message }
  }
}"""
MEDIA = "query($id: ID!) { media(id: $id) { id status } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } } }"
UPDATE_COURSE = """mutation($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id } errors { code field message } }
}"""


def s3_client() -> Any:
    import os

    return boto3.client(
        "s3",
        endpoint_url=os.environ["COURSEGRAPH_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=os.environ["COURSEGRAPH_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["COURSEGRAPH_S3_SECRET_ACCESS_KEY"],
    )


def stored_keys(media_id: str) -> list[str]:
    """Every object of a media, wherever it is: its upload's key and its checked copy's."""
    listed = s3_client().list_objects_v2(Bucket="coursegraph-media")
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(media_id)]


def rest_upload(stack: E2EStack, token: str, name: str, body: bytes, content_type: str) -> httpx.Response:
    response: httpx.Response = stack.rest(
        "POST", "/media/upload", token=token, files={"file": (name, body, content_type)}
    )
    return response


def create_upload(stack: E2EStack, token: str, filename: str, content_type: str, size: int) -> dict[str, Any]:
    body = stack.graphql(
        CREATE_UPLOAD,
        {"input": {"filename": filename, "contentType": content_type, "size": size}},
        token=token,
    ).json()
    assert body.get("errors") is None, body
    payload: dict[str, Any] = body["data"]["createUpload"]
    return payload


def post_to_storage(
    upload: dict[str, Any], content: bytes, content_type: str, **overrides: str
) -> httpx.Response:
    fields = {f["name"]: f["value"] for f in upload["fields"]}
    fields.update(overrides)
    return httpx.post(upload["url"], data=fields, files={"file": ("f", content, content_type)}, timeout=30)


def download(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def instructor(stack: E2EStack) -> dict[str, Any]:
    return stack.sign_in_as("instructor", name="Media Instructor")


def test_an_upload_through_rest_and_one_through_the_presigned_flow_download_as_the_same_bytes(
    stack: E2EStack, instructor: dict[str, Any]
) -> None:
    token = instructor["access_token"]
    content = png(300_000)
    uploaded = rest_upload(stack, token, "diagram.png", content, "image/png")
    assert uploaded.status_code == 201, uploaded.text
    media = uploaded.json()["data"]
    assert media["status"] == "ready" and media["size"] == len(content) and media["filename"] == "diagram.png"
    assert media["sha256"] == hashlib.sha256(content).hexdigest()
    assert media["owner_id"] == instructor["user"]["id"]
    link = stack.rest("GET", f"/media/{media['id']}/url", token=token)
    assert link.status_code == 200, link.text
    fetched = download(link.json()["data"]["url"])
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == media["sha256"]
    assert fetched.headers["content-type"] == "image/png"

    video = mp4(200_000)
    payload = create_upload(stack, token, "lecture.mp4", "video/mp4", len(video))
    assert payload["errors"] == [] and payload["media"]["status"] == "PENDING"
    assert post_to_storage(payload["upload"], video, "video/mp4").status_code in (200, 201, 204)
    done = stack.graphql(COMPLETE, {"id": payload["media"]["id"]}, token=token).json()["data"][
        "completeUpload"
    ]
    assert done["errors"] == [] and done["media"]["status"] == "READY", done
    url = stack.graphql(
        "query($id: ID!) { mediaUrl(id: $id) { url expiresAt } }", {"id": done["media"]["id"]}, token=token
    ).json()["data"]["mediaUrl"]
    fetched = download(url["url"])
    assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(video).hexdigest()
    # Video seeks: a range of the object.
    part = download(url["url"], Range="bytes=100-199")
    assert part.status_code == 206 and part.content == video[100:200]


def test_every_refusal_is_clear_and_nothing_is_served(stack: E2EStack, instructor: dict[str, Any]) -> None:
    token = instructor["access_token"]

    def refused(response: httpx.Response, field: str) -> str:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "BAD_USER_INPUT" and field in error["details"]["fields"], error
        return str(error["details"]["fields"][field])

    # Oversized (the stack allows 8 MiB): refused before anything is stored.
    too_big = create_upload(stack, token, "big.png", "image/png", 9 * 1024 * 1024)
    assert too_big["media"] is None and too_big["errors"][0]["code"] == "TOO_LARGE"
    over = rest_upload(stack, token, "big.png", png(8 * 1024 * 1024 + 1), "image/png")
    assert "At most" in refused(over, "size")
    huge = rest_upload(stack, token, "huge.png", png(10 * 1024 * 1024), "image/png")
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "BAD_USER_INPUT", huge.text
    # A disallowed type, and active content even if allowed by name.
    assert "Allowed types" in refused(
        rest_upload(stack, token, "a.zip", b"PK\x03\x04zip", "application/zip"), "content_type"
    )
    assert "never" in refused(rest_upload(stack, token, "page.html", html(), "text/html"), "content_type")
    assert "never" in refused(
        rest_upload(stack, token, "logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        "content_type",
    )
    # A spoofed extension and content type: HTML named .png, declared image/png.
    spoofed = rest_upload(stack, token, "cat.png", html(), "image/png")
    assert "text/html" in refused(spoofed, "content_type")
    # A path-traversal filename.
    assert "plain file name" in refused(
        rest_upload(stack, token, "../../etc/passwd.png", png(), "image/png"), "filename"
    )

    # An upload never completed: no URL, then cleaned up (the stack's cleanup runs every second).
    pending = create_upload(stack, token, "later.png", "image/png", len(png()))
    media_id = pending["media"]["id"]
    assert post_to_storage(pending["upload"], png(), "image/png").status_code in (200, 201, 204)
    not_ready = stack.rest("GET", f"/media/{media_id}/url", token=token)
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "CONFLICT", not_ready.text
    deadline = time.monotonic() + 30
    while stack.graphql(MEDIA, {"id": media_id}, token=token).json()["data"]["media"]["status"] != "DELETED":
        assert time.monotonic() < deadline, "abandoned upload not cleaned up"
        time.sleep(0.5)
    assert stored_keys(media_id) == [], "its object is gone too"
    assert stack.rest("GET", f"/media/{media_id}/url", token=token).status_code == 404

    # POSTs outside the policy: the emulator refuses them, nothing is stored.
    content = png(1000)
    planned = create_upload(stack, token, "planned.png", "image/png", len(content))
    upload, planned_id = planned["upload"], planned["media"]["id"]
    larger = post_to_storage(upload, content + b"more", "image/png")
    assert larger.status_code == 400 and "EntityTooLarge" in larger.text, larger.text
    other_type = post_to_storage(upload, content, "text/html", **{"Content-Type": "text/html"})
    # AWS answers 403 AccessDenied to a broken policy condition; s3s-fs 400 InvalidPolicyDocument.
    assert other_type.status_code in (400, 403) and "Policy" in other_type.text, other_type.text
    elsewhere = post_to_storage(upload, content, "image/png", key=f"media/someone-else/{uuid.uuid4().hex}")
    assert elsewhere.status_code in (400, 403) and "Policy" in elsewhere.text, elsewhere.text
    assert stored_keys(planned_id) == []
    # And a client that skips the POST's policy and writes the object some other way is still checked.
    s3_client().put_object(
        Bucket="coursegraph-media", Key=f"uploads/{instructor['user']['id']}/{planned_id}", Body=html()
    )
    skipped = stack.graphql(COMPLETE, {"id": planned_id}, token=token).json()["data"]["completeUpload"]
    assert skipped["media"] is None and skipped["errors"][0]["field"] in ("size", "contentType"), skipped
    assert stored_keys(planned_id) == [], "a refused object is deleted"
    # The policy, replayed after the refusal, stores an object again: gone once the policy expires.
    assert post_to_storage(upload, content, "image/png").status_code in (200, 201, 204)
    deadline = time.monotonic() + 30
    while stored_keys(planned_id):
        assert time.monotonic() < deadline, "a deleted media's replayed upload is still stored"
        time.sleep(0.5)


def test_a_lessons_media_is_for_its_courses_people_and_403_for_strangers(
    stack: E2EStack, instructor: dict[str, Any]
) -> None:
    token = instructor["access_token"]
    uploaded = rest_upload(stack, token, "slides.pdf", pdf(), "application/pdf").json()["data"]
    media_id = uploaded["id"]
    course = stack.create_course(token, lessons=1, title="Media course")
    lesson = course["modules"][0]["lessons"][0]
    updated = stack.graphql(
        UPDATE_COURSE,
        {
            "id": course["id"],
            "input": {
                "modules": [
                    {
                        "id": course["modules"][0]["id"],
                        "title": "Module 1",
                        "lessons": [
                            {
                                "id": lesson["id"],
                                "title": "Slides",
                                "content": "Read these.",
                                "mediaUrl": f"media:{media_id}",
                            }
                        ],
                    }
                ]
            },
        },
        token=token,
    ).json()
    assert updated["data"]["updateCourse"]["errors"] == [], updated

    learner = stack.sign_in(name="Media Learner")
    stack.graphql(ENROLL, {"c": course["id"]}, token=learner["access_token"])
    seen = stack.rest("GET", f"/media/{media_id}/url", token=learner["access_token"])
    assert seen.status_code == 200, seen.text
    assert download(seen.json()["data"]["url"]).content == pdf()

    stranger = stack.sign_in(name="Media Stranger")
    denied = stack.rest("GET", f"/media/{media_id}/url", token=stranger["access_token"])
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "FORBIDDEN", denied.text
    assert stack.rest("GET", f"/media/{media_id}/url").status_code == 401
    admin = stack.sign_in_admin()
    assert stack.rest("GET", f"/media/{media_id}/url", token=admin["access_token"]).status_code == 200

    # Another instructor cannot show someone else's media to their own learners by referencing it.
    other = stack.sign_in_as("instructor", name="Borrower")
    borrowed = stack.create_course(other["access_token"], lessons=1, title="Borrowed")
    b_lesson = borrowed["modules"][0]["lessons"][0]
    stack.graphql(
        UPDATE_COURSE,
        {
            "id": borrowed["id"],
            "input": {
                "modules": [
                    {
                        "id": borrowed["modules"][0]["id"],
                        "title": "M",
                        "lessons": [
                            {
                                "id": b_lesson["id"],
                                "title": "L",
                                "content": "",
                                "mediaUrl": f"media:{media_id}",
                            }
                        ],
                    }
                ]
            },
        },
        token=other["access_token"],
    )
    their_learner = stack.sign_in(name="Borrower's Learner")
    stack.graphql(ENROLL, {"c": borrowed["id"]}, token=their_learner["access_token"])
    assert stack.rest("GET", f"/media/{media_id}/url", token=their_learner["access_token"]).status_code == 403
    assert stack.rest("GET", f"/media/{media_id}/url", token=other["access_token"]).status_code == 403
    # Learners cannot upload.
    assert rest_upload(stack, learner["access_token"], "x.png", png(), "image/png").status_code == 403


def test_a_replayed_upload_policy_never_replaces_the_checked_bytes(
    stack: E2EStack, instructor: dict[str, Any]
) -> None:
    """Finding (a): the presigned POST stays valid until it expires. Replayed after `completeUpload`, it
    replaced the checked bytes, which were then served under the old SHA-256 and type."""
    token = instructor["access_token"]
    checked = png(2000)
    payload = create_upload(stack, token, "checked.png", "image/png", len(checked))
    media_id = payload["media"]["id"]
    assert post_to_storage(payload["upload"], checked, "image/png").status_code in (200, 201, 204)
    done = stack.graphql(COMPLETE, {"id": media_id}, token=token).json()["data"]["completeUpload"]
    assert done["media"]["sha256"] == hashlib.sha256(checked).hexdigest(), done

    # The same policy, other bytes of the same size, declared of the same type: active content.
    swapped = html().ljust(len(checked), b" ")
    replayed = post_to_storage(payload["upload"], swapped, "image/png")
    assert replayed.status_code < 500, replayed.text  # storage may take it: it is not what is served
    url = stack.rest("GET", f"/media/{media_id}/url", token=token).json()["data"]["url"]
    served = download(url)
    assert served.status_code == 200 and served.content == checked, "the checked bytes, and only them"
    # Completing again changes nothing either.
    again = stack.graphql(COMPLETE, {"id": media_id}, token=token).json()["data"]["completeUpload"]
    assert again["media"]["sha256"] == hashlib.sha256(checked).hexdigest(), again
    assert download(url).content == checked
    # What the replay wrote is removed once the policy has expired (10 s here): the checked copy stays.
    deadline = time.monotonic() + 30
    while len(keys := stored_keys(media_id)) > 1:
        assert time.monotonic() < deadline, f"the replayed upload is still stored: {keys}"
        time.sleep(0.5)
    assert [key.split("/")[0] for key in keys] == ["media"], keys
    assert download(url).content == checked


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["anonymous", "bad-token"])
def test_an_upload_without_a_valid_token_is_refused_before_its_body_is_read(
    stack: E2EStack, authorization: str | None
) -> None:
    """Finding (b): rest-compat spooled an anonymous caller's whole body (up to the media limit) before
    asking who was calling. Announce 8 MB, send a few bytes: the 401 must come without the rest."""
    host, port = stack.rest_url.removeprefix("http://").split(":")
    head = (
        "POST /media/upload HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization else "")
        + "Content-Type: multipart/form-data; boundary=b0undary\r\n"
        f"Content-Length: {8 * 1000 * 1000}\r\n\r\n"
        "--b0undary\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + png()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        connection.settimeout(5)
        received = b""
        try:
            while not received.rstrip().endswith(b"}"):  # the envelope's end
                if not (part := connection.recv(65536)):
                    break
                received += part
        except TimeoutError:
            received += b" (no more within 5 s: the server waits for the body)"
    answer = received.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 401"), answer[:500]
    assert '"UNAUTHENTICATED"' in answer, answer[:500]
