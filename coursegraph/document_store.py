"""A MongoDB-backed service's store: its database, its Beanie models, and the relay of their outboxes."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import Document
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from coursegraph.events.document_outbox import OUTBOX, DocumentOutboxRelay
from coursegraph.events.publisher import EventPublisher
from coursegraph.events.wiring import publisher_from_settings
from coursegraph.mongo import init_models, is_ferretdb, mongo_client
from coursegraph.settings import ServiceSettings

MONGODB_RELAY_POLL_SECONDS = 30.0
FERRETDB_RELAY_POLL_SECONDS = 600.0


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
    relay_poll_seconds: float | None

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
        """Connect lazily (nothing is contacted before `start`); models with an `outbox` are relayed."""
        client = mongo_client(
            settings.document_store_url, service=service, shapes_log=settings.store_shapes_log
        )
        db = client[database]
        publisher = publisher or publisher_from_settings(settings, client_id=service)
        relay = DocumentOutboxRelay(
            # Documents that carry events; the rest (e.g. an owner's list of ids) have nothing to relay.
            [db[collection_name(model)] for model in models if OUTBOX in model.model_fields],
            publisher,
            max_backoff_seconds=settings.outbox_max_backoff_seconds,
        )
        return cls(
            client=client,
            database=db,
            models=models,
            publisher=publisher,
            relay=relay,
            relay_poll_seconds=settings.document_outbox_poll_seconds,
        )

    async def start(self) -> None:
        await init_models(self.client, self.database.name, self.models)
        self.relay.poll_seconds = self.relay_poll_seconds or (
            FERRETDB_RELAY_POLL_SECONDS if is_ferretdb() else MONGODB_RELAY_POLL_SECONDS
        )
        self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.publisher.close()
        await self.client.close()

    async def mongodb(self) -> None:
        """Readiness: the server answers."""
        await self.client.admin.command("ping")
