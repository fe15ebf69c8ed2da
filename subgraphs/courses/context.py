"""The courses subgraph's per-request context: the caller, the service, this request's DataLoaders."""

from dataclasses import dataclass, field

from coursegraph.graphql import ServiceContext
from subgraphs.courses.loaders import Loaders
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.roster import RosterService
from subgraphs.courses.service import CourseService


@dataclass
class CoursesContext(ServiceContext):
    service: CourseService = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
    progress: ProgressFeed = field(kw_only=True)
    roster: RosterService = field(kw_only=True)
