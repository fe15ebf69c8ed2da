"""The courses subgraph's per-request context: the caller, the service, this request's DataLoaders."""

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from coursegraph.graphql import ServiceContext
from subgraphs.courses.activity import ActivityFeed
from subgraphs.courses.announcements_loaders import Announcements
from subgraphs.courses.deadlines import DeadlineService
from subgraphs.courses.deadlines_decisions import DeadlineView
from subgraphs.courses.gradebook import GradebookService, ViewerGradesLoader
from subgraphs.courses.loaders import Loaders
from subgraphs.courses.progress import ProgressFeed
from subgraphs.courses.roster import RosterService
from subgraphs.courses.service import CourseService


@dataclass
class CoursesContext(ServiceContext):
    service: CourseService = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
    progress: ProgressFeed = field(kw_only=True)
    # issue 17: deadlines
    deadlines: DeadlineService = field(kw_only=True)
    deadlines_by_course: DataLoader[str, list[DeadlineView]] = field(kw_only=True)
    gradebook: GradebookService = field(kw_only=True)
    viewer_grades: ViewerGradesLoader = field(kw_only=True)
    # --- issue 17: announcements ---
    announcements: Announcements = field(kw_only=True)
    roster: RosterService = field(kw_only=True)
    # --- issue 18: course activity ---
    activity: ActivityFeed = field(kw_only=True)
