"""The assessments subgraph's per-request context: the caller, the service, this request's DataLoaders."""

from dataclasses import dataclass, field

from coursegraph.graphql import ServiceContext
from subgraphs.assessments.loaders import Loaders
from subgraphs.assessments.service import AssessmentService


@dataclass
class AssessmentsContext(ServiceContext):
    service: AssessmentService = field(kw_only=True)
    loaders: Loaders = field(kw_only=True)
