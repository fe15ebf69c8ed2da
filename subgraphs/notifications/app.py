"""The notifications subgraph app: its own MongoDB database, the consumer group that turns events into
emails through SendGrid, and the history and preferences in the graph (ADR 0019)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from pydantic import Field, SecretStr, field_validator

from coursegraph.events import Event
from coursegraph.events.consumer import Handler
from coursegraph.events.kafka import KafkaConnection
from coursegraph.events.wiring import dev_event_bus
from coursegraph.internal import InternalGraphQLClient
from coursegraph.mongo import detect_ferretdb, mongo_client
from coursegraph.security import Actor
from coursegraph.service import create_service_app
from coursegraph.settings import Profile, ServiceSettings
from coursegraph.tracing import tracer_for
from subgraphs.notifications.audience import CourseAudiences
from subgraphs.notifications.consumer import NotificationConsumer
from subgraphs.notifications.context import NotificationsContext
from subgraphs.notifications.delivery import ConsoleMailer, SendGridMailer
from subgraphs.notifications.events import TOPICS, Links
from subgraphs.notifications.loaders import make_loaders
from subgraphs.notifications.pipeline import Done, Pipeline
from subgraphs.notifications.recipients import UsersDirectory
from subgraphs.notifications.repository import ConsumerStart, NotificationRecords, Preferences
from subgraphs.notifications.schema import schema
from subgraphs.notifications.service import Mailer, NotificationService, Notifier
from subgraphs.notifications.unsubscribe import UnsubscribeTokens

logger = logging.getLogger(__name__)

# Dev and test only; the production profile refuses it.
DEV_UNSUBSCRIBE_SECRET = "dev-only-unsubscribe-secret"  # noqa: S105
GROUP_ID = "notifications"


class ConfigurationError(RuntimeError):
    pass


class NotificationsSettings(ServiceSettings):
    notifications_database: str = "coursegraph_notifications"
    # SendGrid (v3 mail send). No key: the dev and test profiles write emails to the log instead.
    sendgrid_api_key: SecretStr | None = None
    sendgrid_host: str = "https://api.sendgrid.com"
    # Ask SendGrid's Email Activity API before re-sending what a crashed consumer may have sent (needs
    # SendGrid's activity history add-on; without it, such an email is sent again).
    sendgrid_activity_lookup: bool = True
    mail_from: str = "CourseGraph <noreply@coursegraph.local>"
    # Where emails' links point: the web app learners use, and the public REST API.
    app_url: str = "http://127.0.0.1:8080"
    public_api_url: str = "http://127.0.0.1:8080"
    unsubscribe_secret: SecretStr = SecretStr(DEV_UNSUBSCRIBE_SECRET)
    unsubscribe_max_age_seconds: int = Field(default=60 * 24 * 3600, ge=60)
    # How long a consumer's claim on an email lasts: longer than one send with its retries.
    notifications_claim_lease_seconds: float = Field(default=120.0, gt=0)
    notifications_batch_size: int = Field(default=100, ge=1, le=1000)
    notifications_concurrency: int = Field(default=8, ge=1, le=100)
    notifications_send_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("sendgrid_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def refuse_unsafe_production(self) -> None:
        if not self.is_production:
            return
        if self.sendgrid_api_key is None:
            raise ConfigurationError("the production profile needs COURSEGRAPH_SENDGRID_API_KEY")
        if self.unsubscribe_secret.get_secret_value() == DEV_UNSUBSCRIBE_SECRET:
            raise ConfigurationError("the production profile needs COURSEGRAPH_UNSUBSCRIBE_SECRET")


def mailer_from_settings(settings: NotificationsSettings) -> Mailer:
    if settings.sendgrid_api_key is None:
        logger.warning("no COURSEGRAPH_SENDGRID_API_KEY: emails go to the log, not to anyone")
        return ConsoleMailer(sender=settings.mail_from)
    mailer = SendGridMailer(
        settings.sendgrid_api_key.get_secret_value(),
        sender=settings.mail_from,
        host=settings.sendgrid_host,
        attempts=settings.notifications_send_attempts,
        backoff_seconds=0.5,
        max_wait_seconds=10.0,
        activity_lookup=settings.sendgrid_activity_lookup,
    )
    return mailer


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    settings.refuse_unsafe_production()
    client = mongo_client(
        settings.document_store_url, service="notifications", shapes_log=settings.store_shapes_log
    )
    database = client[settings.notifications_database]
    records = NotificationRecords(
        database["notifications"], lease=timedelta(seconds=settings.notifications_claim_lease_seconds)
    )
    preferences = Preferences(database["preferences"])
    tokens = UnsubscribeTokens(
        settings.unsubscribe_secret.get_secret_value(), max_age_seconds=settings.unsubscribe_max_age_seconds
    )
    links = Links(app_url=settings.app_url, api_url=settings.public_api_url)
    notifier = Notifier(
        records,
        preferences,
        mailer_from_settings(settings),
        tokens,
        unsubscribe_endpoint=links.api("notifications/unsubscribe"),
    )
    internal = InternalGraphQLClient.with_client_credentials(
        settings, service="notifications", url=settings.users_subgraph_url
    )
    directory = UsersDirectory(internal)
    audiences = CourseAudiences(
        InternalGraphQLClient.with_client_credentials(
            settings, service="notifications", url=settings.courses_subgraph_url
        )
    )
    group_id = settings.kafka_consumer_group_prefix + GROUP_ID
    pipeline = Pipeline(
        notifier,
        directory,
        links,
        audiences=audiences,
        concurrency=settings.notifications_concurrency,
        tracer=tracer_for("notifications", __name__),
        group_id=group_id,
    )
    service = NotificationService(records, preferences, tokens)
    consumer: NotificationConsumer | None = None
    if settings.kafka_bootstrap_servers:
        starts = ConsumerStart(database["consumer_starts"])
        consumer = NotificationConsumer(
            settings.kafka_bootstrap_servers,
            group_id=group_id,
            topics=TOPICS,
            pipeline=pipeline,
            since=lambda: starts.since(group_id),
            connection=KafkaConnection.from_settings(settings),
            batch_size=settings.notifications_batch_size,
        )
    elif settings.profile is Profile.DEV:
        for topic in TOPICS:
            dev_event_bus().subscribe(topic, _dev_handler(pipeline, topic))
    else:
        raise RuntimeError(
            f"COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS is required in the {settings.profile} profile"
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await detect_ferretdb(client)
        await records.create_indexes()
        if consumer is not None:
            await consumer.start()
        try:
            yield
        finally:
            if consumer is not None:
                await consumer.stop()
            await directory.close()
            await audiences.close()
            await client.close()

    async def build_context(_: Request | WebSocket, actor: Actor) -> NotificationsContext:
        return NotificationsContext(actor=actor, service=service, loaders=make_loaders(service, actor))

    async def mongodb() -> None:
        await client.admin.command("ping")

    def consumer_report() -> dict[str, Any]:
        """Readiness says how the consumer is doing: joined, partitions, lag, last poll, why it waits."""
        return {"consumer": "in-process (dev bus)" if consumer is None else consumer.state.report()}

    return create_service_app(
        name="notifications",
        schema=schema,
        settings=settings,
        build_context=build_context,
        lifespan=lifespan,
        # The graph (history, preferences, unsubscribe) needs only the store: Kafka being away stops
        # emails, not the API. The consumer's state and lag are reported alongside.
        readiness_checks=[mongodb],
        readiness_report=consumer_report,
    )


def _dev_handler(pipeline: Pipeline, topic: str) -> Handler:
    async def handle(event: Event) -> None:
        (result,) = await pipeline.handle([(topic, event)])
        if not isinstance(result, Done):
            logger.warning("dev: %s %s not emailed: %s", event.event_type, event.event_id, result)

    return handle
