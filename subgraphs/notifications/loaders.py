"""Per-request DataLoaders: a list of users' preferences or histories costs one batch, not one per user."""

import asyncio
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.pagination import Page
from coursegraph.security import Actor
from subgraphs.notifications.service import NotificationService, Preference

HistoryKey = tuple[str, int, str | None]  # user id, first, after


@dataclass
class Loaders:
    preferences: DataLoader[str, list[Preference]]
    history: DataLoader[HistoryKey, Page[dict[str, Any]]]


def make_loaders(service: NotificationService, actor: Actor) -> Loaders:
    async def load_preferences(user_ids: list[str]) -> list[list[Preference]]:
        ENTITY_BATCHES.labels("notifications", "NotificationPreference").inc()
        return await service.preferences_of(actor, user_ids)

    async def load_history(keys: list[HistoryKey]) -> list[Page[dict[str, Any]] | BaseException]:
        ENTITY_BATCHES.labels("notifications", "Notification").inc()
        pages = await asyncio.gather(
            *(service.history(actor, user, first=first, after=after) for user, first, after in keys),
            return_exceptions=True,
        )
        return list(pages)

    return Loaders(
        preferences=DataLoader(load_fn=load_preferences),
        history=DataLoader(load_fn=load_history),  # an exception fails its own key only
    )
