"""Which events mean an email, to whom, with which template values (ADR 0019).

An event names its person by `user_id`; only USER_REGISTERED carries the address itself. The others are
looked up in the users subgraph, a batch at a time, by the consumer. Values the templates show that an
older event lacks (it was published before it carried them) fall back to wording that needs none.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from coursegraph.events import Event, Topic
from subgraphs.notifications.audience import AudiencePage
from subgraphs.notifications.rendering import Kind

# The only events that mean an email; every other event on these topics is skipped at once.
KINDS: dict[tuple[str, str], Kind] = {
    (Topic.USER, "USER_REGISTERED"): Kind.WELCOME,
    (Topic.USER, "USER_ROLE_CHANGED"): Kind.ROLE_CHANGED,
    (Topic.COURSE, "COURSE_ENROLLED"): Kind.ENROLLMENT_CONFIRMED,
    (Topic.COURSE, "COURSE_COMPLETED"): Kind.COURSE_COMPLETED,
    (Topic.ASSESSMENT, "ASSESSMENT_COMPLETED"): Kind.ASSESSMENT_RESULT,
    (Topic.CERTIFICATION, "CERTIFICATE_ISSUED"): Kind.CERTIFICATE_ISSUED,
}
TOPICS = [Topic.USER, Topic.COURSE, Topic.ASSESSMENT, Topic.CERTIFICATION]
# Issue 17: an email to every learner of the course, not to the event's user (its author).
ANNOUNCEMENT_POSTED = (Topic.COURSE, "ANNOUNCEMENT_POSTED")


@dataclass(frozen=True)
class Links:
    """Where emails point: the learners' web app, and the public API (certificate verification)."""

    app_url: str
    api_url: str

    def app(self, path: str) -> str:
        return f"{self.app_url.rstrip('/')}/{path.lstrip('/')}"

    def api(self, path: str) -> str:
        return f"{self.api_url.rstrip('/')}/{path.lstrip('/')}"


@dataclass(frozen=True)
class Recipient:
    user_id: str
    email: str
    name: str


@dataclass(frozen=True)
class Wanted:
    """An email an event asks for, before its recipient is known."""

    kind: Kind
    user_id: str
    context: dict[str, Any]
    recipient: Recipient | None = None  # when the event itself carries it


def wanted(topic: str, event: Event, links: Links) -> Wanted | None:
    """The email `event` (read from `topic`) asks for, or None."""
    kind = KINDS.get((topic, event.event_type))
    if kind is None or not event.user_id:
        return None
    meta = event.metadata
    course_title = str(meta.get("course_title") or "your course")
    context: dict[str, Any]
    recipient = None
    match kind:
        case Kind.WELCOME:
            context = {"app_url": links.app_url}
            if meta.get("email"):
                recipient = Recipient(event.user_id, str(meta["email"]), str(meta.get("name") or ""))
        case Kind.ROLE_CHANGED:
            context = {"role": str(meta["role"]), "previous_role": str(meta["previous_role"])}
        case Kind.ENROLLMENT_CONFIRMED:
            context = {"course_title": course_title, "course_url": links.app(f"courses/{event.course_id}")}
        case Kind.COURSE_COMPLETED:
            context = {"course_title": course_title}
        case Kind.ASSESSMENT_RESULT:
            assessment_id = str(meta["assessment_id"])
            context = {
                "assessment_title": str(meta.get("assessment_title") or "your assessment"),
                "percent": meta["percent"],
                "passed": bool(meta["passed"]),
                "result_url": links.app(f"assessments/{assessment_id}/result"),
            }
        case Kind.CERTIFICATE_ISSUED:
            code = str(meta["code"])
            context = {
                "course_title": course_title,
                "certificate_code": code,
                "verification_url": links.api(f"certificates/{quote(code, safe='')}"),
            }
    return Wanted(kind, event.user_id, context, recipient)


def announcement_of(topic: str, event: Event) -> str | None:
    """The id of the announcement `event` posts, if it is an ANNOUNCEMENT_POSTED."""
    if (topic, event.event_type) != ANNOUNCEMENT_POSTED:
        return None
    return str(event.metadata["announcement_id"])


def announcement_wanted(page: AudiencePage, user_id: str, links: Links) -> Wanted:
    """The announcement's email to one learner of the course."""
    context = {
        "course_title": page.course_title,
        "title": page.title,
        "body_html": page.body_html,
        "body_text": page.body_text,
        "course_url": links.app(f"courses/{page.course_id}"),
    }
    return Wanted(Kind.ANNOUNCEMENT, user_id, context)
