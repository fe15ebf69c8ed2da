"""Export every subgraph's SDL; CI checks that the checked-in files match the code."""

import importlib
from pathlib import Path

from coursegraph.graphql import export_sdl
from coursegraph.launcher import SUBGRAPHS


def export_all(root: Path, *, check: bool) -> list[Path]:
    """Return the files that differ from the code (written unless `check`)."""
    changed: list[Path] = []
    for name in SUBGRAPHS:
        # By import path, like the launcher: the kernel does not depend on subgraph packages.
        schema = importlib.import_module(f"subgraphs.{name}.schema").schema
        sdl = export_sdl(schema)
        path = root / "subgraphs" / name / "schema.graphql"
        if not path.exists() or path.read_text() != sdl:
            changed.append(path)
            if not check:
                path.write_text(sdl)
    return changed
