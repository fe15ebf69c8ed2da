"""Per-request DataLoaders: many media references in one request cost one batch."""

from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from coursegraph.metrics import ENTITY_BATCHES
from coursegraph.security import Actor
from subgraphs.media.models import Media
from subgraphs.media.service import MediaService


@dataclass
class Loaders:
    media: DataLoader[str, Media | None]


def make_loaders(service: MediaService, actor: Actor) -> Loaders:
    async def load_media(ids: list[str]) -> list[Media | None]:
        ENTITY_BATCHES.labels("media", "Media").inc()
        return await service.get_many(actor, ids)

    return Loaders(media=DataLoader(load_fn=load_media))
