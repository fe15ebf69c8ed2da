"""Export every subgraph's SDL and the router's code table; CI checks that the checked-in files match the
code."""

from pathlib import Path

import strawberry

from coursegraph.codes import router_codes
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


ROUTER_CODES = Path("router") / "codes.json"


def generated_files() -> dict[Path, str]:
    """Every generated file (relative to the repository's root) and what the code says it holds."""
    files = {Path("subgraphs") / name / "schema.graphql": export_sdl(SCHEMAS[name]) for name in SUBGRAPHS}
    files[ROUTER_CODES] = router_codes()  # what the router reads of coursegraph.codes
    return files


def export_all(root: Path, *, check: bool) -> list[Path]:
    """Return the files that differ from the code (written unless `check`)."""
    changed: list[Path] = []
    for relative, content in generated_files().items():
        path = root / relative
        if not path.exists() or path.read_text() != content:
            changed.append(path)
            if not check:
                path.write_text(content)
    return changed
