"""The media domain's decisions (subgraphs/media/decisions.py), with no store and no storage: a media's
way from PENDING to READY or DELETED, and what each step announces."""

import json
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from coursegraph.errors import Conflict
from coursegraph.unit_of_work import changed_fields
from subgraphs.media import decisions
from subgraphs.media.models import Media, MediaStatus

NOW = datetime(2031, 6, 1, tzinfo=UTC)
LATER = datetime(2031, 6, 1, 0, 5, tzinfo=UTC)


def media(status: MediaStatus = MediaStatus.PENDING, **fields: object) -> Media:
    values: dict[str, object] = {
        "id": ObjectId(),
        "owner_id": "teacher",
        "filename": "diagram.png",
        "content_type": "image/png",
        "size": 1_000,
        "status": status,
        "upload_closes_at": LATER,
        "created_at": NOW,
        "updated_at": NOW,
        "version": 2,
    }
    built: Media = Media.model_construct(**(values | fields))
    return built


def test_a_checked_upload_is_ready_at_its_checked_key_and_announced() -> None:
    pending = media()
    decided = decisions.complete(pending, checked_key="media/teacher/abc/1", sha256="f" * 64, now=LATER)
    assert decided is not None and decided.state.status is MediaStatus.READY
    assert set(changed_fields(pending, decided.state)) == {
        "status",
        "storage_key",
        "sha256",
        "ready_at",
        "updated_at",
    }
    events = [json.loads(entry["payload"]) for entry in decided.events]
    assert [event["event_type"] for event in events] == ["MEDIA_UPLOADED", "MEDIA_READY"]
    assert events[1]["metadata"]["sha256"] == "f" * 64


def test_completing_again_changes_nothing_and_a_refused_upload_stays_refused() -> None:
    ready = media(MediaStatus.READY, storage_key="media/teacher/abc/1")
    assert decisions.complete(ready, checked_key="media/teacher/other/1", sha256="0" * 64, now=LATER) is None
    assert decisions.completion_wanted(ready) is False
    refused = media(MediaStatus.DELETED, failure="The file has 3 bytes, not the 1000 declared.")
    with pytest.raises(Conflict) as conflict:
        decisions.complete(refused, checked_key="k", sha256="0" * 64, now=LATER)
    assert conflict.value.details == {"reason": "DELETED"} and "3 bytes" in conflict.value.message


def test_the_bytes_must_be_what_was_declared() -> None:
    pending = media()
    assert decisions.content_refusal(pending, stored_size=1_000, detected_type="image/png") is None
    short = decisions.content_refusal(pending, stored_size=10, detected_type="image/png")
    assert short is not None and (short.field, short.code) == ("size", "MISMATCH")
    other = decisions.content_refusal(pending, stored_size=1_000, detected_type="text/html")
    assert other is not None and (other.field, other.code) == ("contentType", "MISMATCH")
    html = media(content_type="text/html")
    never = decisions.content_refusal(html, stored_size=1_000, detected_type="text/html")
    assert never is not None and never.field == "contentType", "active content is never accepted"


def test_only_a_pending_upload_is_refused_and_a_closed_upload_is_closed_once() -> None:
    decided = decisions.refuse(media(), reason=decisions.NEVER_COMPLETED, now=LATER)
    assert decided is not None and decided.state.status is MediaStatus.DELETED
    assert decided.state.failure == "never completed" and decided.events == ()
    assert decisions.refuse(media(MediaStatus.READY), reason="late", now=LATER) is None
    closing = decisions.close_upload(media(MediaStatus.READY))
    assert closing is not None and changed_fields(media(MediaStatus.READY), closing.state) == {
        "upload_closes_at": None
    }
    assert decisions.close_upload(closing.state) is None
    assert decisions.close_upload(media()) is None, "a pending upload's policy may still be used"
