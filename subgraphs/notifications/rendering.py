"""Emails from templates: one subject, a text part and an HTML part per kind, as files (ADR 0019).

`templates/<kind>.subject.txt`, `<kind>.txt` and `<kind>.html` (which extend `base.txt` and `base.html`).
HTML is autoescaped; subjects and text parts are plain text, never interpreted as markup by a mail client.
A variable a template names but the context lacks is an error, not an empty string.
"""

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from coursegraph.rich_text import sanitise

TEMPLATES = Path(__file__).with_name("templates")


class Kind(StrEnum):
    """What an email is about; each has its three template files."""

    WELCOME = "welcome"
    ENROLLMENT_CONFIRMED = "enrollment_confirmed"
    COURSE_COMPLETED = "course_completed"
    ASSESSMENT_RESULT = "assessment_result"
    CERTIFICATE_ISSUED = "certificate_issued"
    ROLE_CHANGED = "role_changed"
    ANNOUNCEMENT = "announcement"  # issue 17: one per learner of the course


# What each kind's templates use, with made-up values: for previews (`coursegraph preview-email`) and tests.
SAMPLES: dict[Kind, dict[str, Any]] = {
    Kind.WELCOME: {"name": "Ada Lovelace", "app_url": "https://learn.example.org"},
    Kind.ENROLLMENT_CONFIRMED: {
        "name": "Ada Lovelace",
        "course_title": "Analytical Engines",
        "course_url": "https://learn.example.org/courses/64b7f0c2a1e4d3b2c1a09f87",
    },
    Kind.COURSE_COMPLETED: {"name": "Ada Lovelace", "course_title": "Analytical Engines"},
    Kind.ASSESSMENT_RESULT: {
        "name": "Ada Lovelace",
        "assessment_title": "Bernoulli numbers",
        "percent": 87.5,
        "passed": True,
        "result_url": "https://learn.example.org/assessments/64b7f0c2a1e4d3b2c1a09f88/result",
    },
    Kind.CERTIFICATE_ISSUED: {
        "name": "Ada Lovelace",
        "course_title": "Analytical Engines",
        "certificate_code": "CG-7Q2M-K4XD-9PLA",
        "verification_url": "https://learn.example.org/certificates/CG-7Q2M-K4XD-9PLA",
    },
    Kind.ROLE_CHANGED: {"name": "Ada Lovelace", "role": "instructor", "previous_role": "learner"},
    Kind.ANNOUNCEMENT: {
        "name": "Ada Lovelace",
        "course_title": "Analytical Engines",
        "title": "Office hours move to Thursday",
        "body_html": "<p>From next week, office hours are on <strong>Thursday</strong> at 4 pm.</p>",
        "body_text": "From next week, office hours are on Thursday at 4 pm.",
        "course_url": "https://learn.example.org/courses/64b7f0c2a1e4d3b2c1a09f87",
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        loader = jinja2.FileSystemLoader(directory)
        undefined = jinja2.StrictUndefined
        self._html = jinja2.Environment(loader=loader, undefined=undefined, autoescape=True)
        # HTML someone wrote (an announcement's body), cleaned against the one allow-list here again:
        # the email does not depend on the sender having done it.
        self._html.filters["sanitised"] = lambda value: Markup(sanitise(str(value)))  # noqa: S704
        # Subjects and text parts are plain text: escaping would put &amp; in front of readers.
        self._text = jinja2.Environment(loader=loader, undefined=undefined, autoescape=False)  # noqa: S701

    def render(self, kind: Kind, context: dict[str, Any]) -> Rendered:
        """The email of `kind` for `context`; raises jinja2.UndefinedError when a variable is missing."""
        values = {"unsubscribe_url": None, **context}
        # A subject is one line: a line break in a value (a course title) must not start a header.
        subject = " ".join(self._text.get_template(f"{kind}.subject.txt").render(values).split())
        return Rendered(
            subject=subject,
            text=self._text.get_template(f"{kind}.txt").render(values).strip() + "\n",
            html=self._html.get_template(f"{kind}.html").render(values),
        )
