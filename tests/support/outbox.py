"""For tests of a service on the real document store without Kafka: events stay in the documents'
outboxes, where the test reads them."""

import json
from collections.abc import Mapping
from typing import Any

from coursegraph.events import Event


class NoPublisher:
    """The outbox relay's publisher when nothing may be published (the relay is never started)."""

    async def publish(self, topic: str, key: str, event: Event) -> None:
        raise AssertionError("nothing is published in these tests")

    async def close(self) -> None:
        return None


def outbox_event_types(document: Mapping[str, Any]) -> list[str]:
    """The types of the events waiting in a stored document's outbox, oldest first."""
    return [json.loads(entry["payload"])["event_type"] for entry in document.get("outbox", [])]
