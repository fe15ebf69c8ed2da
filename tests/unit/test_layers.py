"""The shape of every domain, read from the import graph (grimp, the library import-linter runs on).

Resolvers, GraphQL types, loaders and request contexts reach a domain's data only through its service:
none of them imports a repository. Nor do they import a `permissions` module: they pass the caller on to
the service, which decides. rest-compat's handlers import no subgraph at all. Every package under
`subgraphs/` is checked, so a new subgraph is too. (The import-linter contracts in pyproject.toml say the
same and run in `make lint`; this test fails on its own too.)
"""

from pathlib import Path

import grimp

SUBGRAPHS = Path(__file__).resolve().parents[2] / "subgraphs"
DOMAINS = sorted(p.name for p in SUBGRAPHS.iterdir() if (p / "__init__.py").is_file())
GRAPHQL_LAYER = ("schema", "types", "loaders", "context", "permissions")
# What decides stays in the service: the layers that only pass the caller on.
PASS_THE_ACTOR_ON = ("schema", "types", "loaders", "context")


def forbidden_imports(graph: grimp.ImportGraph, layers: tuple[str, ...], forbidden: str) -> list[str]:
    """Every import of a domain's `forbidden` module by one of its `layers`, as `importer -> imported`."""
    found: list[str] = []
    for domain in DOMAINS:
        modules = graph.find_children(f"subgraphs.{domain}")
        targets = {m for m in modules if m.rsplit(".", 1)[1] == forbidden}
        for layer in layers:
            module = f"subgraphs.{domain}.{layer}"
            if module in modules:
                imported = graph.find_modules_directly_imported_by(module)
                found += [f"{module} -> {target}" for target in sorted(imported & targets)]
    return found


def test_every_subgraph_is_checked() -> None:
    assert {"auth", "users", "courses", "assessments", "media", "notifications"} <= set(DOMAINS)


def test_no_resolver_reaches_a_repository() -> None:
    graph = grimp.build_graph("subgraphs")
    for domain in DOMAINS:
        assert f"subgraphs.{domain}.service" in graph.find_children(f"subgraphs.{domain}"), domain
    assert forbidden_imports(graph, GRAPHQL_LAYER, "repository") == [], "resolvers go through the service"


def test_no_resolver_type_or_loader_decides_a_permission() -> None:
    graph = grimp.build_graph("subgraphs")
    assert forbidden_imports(graph, PASS_THE_ACTOR_ON, "permissions") == [], "the service decides"


def test_the_checks_find_what_they_are_for() -> None:
    graph = grimp.build_graph("subgraphs")
    graph.add_import(importer="subgraphs.courses.types", imported="subgraphs.courses.repository")
    graph.add_import(importer="subgraphs.media.loaders", imported="subgraphs.media.permissions")
    assert forbidden_imports(graph, GRAPHQL_LAYER, "repository") == [
        "subgraphs.courses.types -> subgraphs.courses.repository"
    ]
    assert forbidden_imports(graph, PASS_THE_ACTOR_ON, "permissions") == [
        "subgraphs.media.loaders -> subgraphs.media.permissions"
    ]


def test_rest_handlers_import_no_subgraph() -> None:
    graph = grimp.build_graph("rest_compat", "subgraphs")
    for module in graph.find_children("rest_compat"):
        imported = graph.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.startswith("subgraphs")}, module
