"""The courses consumer's processed-event marks on the real document store: old ones are deleted."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from coursegraph.mongo import mongo_client
from subgraphs.courses.repository import ProcessedEventRepository

pytestmark = pytest.mark.integration

NOW = datetime(2031, 6, 1, tzinfo=UTC)


@pytest.fixture
async def marks(mongodb_url: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client = mongo_client(mongodb_url, service="consumer-marks-tests")
    name = f"consumer_marks_{uuid.uuid4().hex[:12]}"
    yield client[name]["processed_events"]
    await client.drop_database(name)
    await client.close()


async def test_marks_older_than_the_cutoff_are_forgotten(marks: AsyncCollection[dict[str, Any]]) -> None:
    processed = ProcessedEventRepository(marks)
    ages = {"old-1": 40, "old-2": 31, "recent": 29, "new": 0}
    await marks.insert_many(
        [{"_id": event_id, "processed_at": NOW - timedelta(days=days)} for event_id, days in ages.items()]
    )

    assert await processed.forget_before(NOW - timedelta(days=30)) == 2

    assert sorted([doc["_id"] async for doc in marks.find({})]) == ["new", "recent"]
    assert await processed.seen("recent") and not await processed.seen("old-1")
    assert await processed.forget_before(NOW - timedelta(days=30)) == 0
