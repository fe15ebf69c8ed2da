"""The notifications subgraph's per-request context: the caller, the service, this request's DataLoaders."""

from dataclasses import dataclass, field

from coursegraph.graphql import ServiceContext
from subgraphs.notifications.loaders import Loaders
from subgraphs.notifications.service import NotificationService


@dataclass
class NotificationsContext(ServiceContext):
    service: NotificationService = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
