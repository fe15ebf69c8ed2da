"""A MongoDB-backed service's store: its database, its Beanie models, and the relay of their outboxes."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import Document
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from coursegraph.events.document_outbox import DocumentOutboxRelay
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.wiring import publisher_from_settings
from coursegraph.mongo import init_models, mongo_client
from coursegraph.settings import ServiceSettings


def collection_name(model: type[Document]) -> str:
    # Read from the model's own Settings: Beanie's resolved settings exist only after init.
    return str(model.Settings.name)


@dataclass
class DocumentStore:
    client: AsyncMongoClient[dict[str, Any]]
    database: AsyncDatabase[dict[str, Any]]
    models: Sequence[type[Document]]
    publisher: EventPublisher
    relay: DocumentOutboxRelay

    @classmethod
    def open(
        cls,
        settings: ServiceSettings,
        *,
        service: str,
        database: str,
        models: Sequence[type[Document]],
        publisher: EventPublisher | None = None,
    ) -> "DocumentStore":
        """Connect lazily (nothing is contacted before `start`); every model's collection has an outbox."""
        client = mongo_client(settings.document_store_url, service=service)
        db = client[database]
        publisher = publisher or publisher_from_settings(settings, client_id=service)
        relay = DocumentOutboxRelay(
            [db[collection_name(model)] for model in models],
            publisher,
            poll_seconds=settings.document_outbox_poll_seconds,
            max_backoff_seconds=settings.outbox_max_backoff_seconds,
        )
        return cls(client=client, database=db, models=models, publisher=publisher, relay=relay)

    async def start(self) -> None:
        await init_models(self.client, self.database.name, self.models)
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.publisher.close()
        await self.client.close()

    async def mongodb(self) -> None:
        """Readiness: the server answers."""
        await self.client.admin.command("ping")
