"""The media subgraph's per-request context: the caller, the service, this request's DataLoaders."""

from dataclasses import dataclass, field

from coursegraph.graphql import ServiceContext
from subgraphs.media.loaders import Loaders
from subgraphs.media.service import MediaService


@dataclass
class MediaContext(ServiceContext):
    service: MediaService = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
