"""Export every subgraph's SDL; CI checks that the checked-in files match the code."""

from pathlib import Path

import strawberry

from coursegraph.graphql import export_sdl
from coursegraph_cli.launcher import SUBGRAPHS
from subgraphs.assessments.schema import schema as assessments_schema
from subgraphs.auth.schema import schema as auth_schema
from subgraphs.courses.schema import schema as courses_schema
from subgraphs.media.schema import schema as media_schema
from subgraphs.notifications.schema import schema as notifications_schema
from subgraphs.users.schema import schema as users_schema

SCHEMAS: dict[str, strawberry.Schema] = {
    "auth": auth_schema,
    "users": users_schema,
    "courses": courses_schema,
    "assessments": assessments_schema,
    "media": media_schema,
    "notifications": notifications_schema,
}


def export_all(root: Path, *, check: bool) -> list[Path]:
    """Return the files that differ from the code (written unless `check`)."""
    changed: list[Path] = []
    for name in SUBGRAPHS:
        sdl = export_sdl(SCHEMAS[name])
        path = root / "subgraphs" / name / "schema.graphql"
        if not path.exists() or path.read_text() != sdl:
            changed.append(path)
            if not check:
                path.write_text(sdl)
    return changed
