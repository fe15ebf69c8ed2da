"""The shape of every domain, read from the import graph (grimp, the library import-linter runs on).

Resolvers, GraphQL types, loaders and request contexts reach a domain's data only through its service:
none of them imports a repository. rest-compat's handlers import no subgraph at all. (The import-linter
contracts in pyproject.toml say the same and run in `make lint`; this test fails on its own too.)
"""

import grimp

GRAPHQL_LAYER = ("schema", "types", "loaders", "context", "permissions")
DOMAINS = ("auth", "users", "courses", "assessments")


def repository_imports(graph: grimp.ImportGraph) -> list[str]:
    """Every import of a repository by a module of the GraphQL layer, as `importer -> repository`."""
    found: list[str] = []
    for domain in DOMAINS:
        modules = graph.find_children(f"subgraphs.{domain}")
        repositories = {m for m in modules if m.rsplit(".", 1)[1] == "repository"}
        for layer in GRAPHQL_LAYER:
            module = f"subgraphs.{domain}.{layer}"
            if module in modules:
                imported = graph.find_modules_directly_imported_by(module)
                found += [f"{module} -> {repository}" for repository in sorted(imported & repositories)]
    return found


def test_no_resolver_reaches_a_repository() -> None:
    graph = grimp.build_graph("subgraphs")
    for domain in DOMAINS:
        assert f"subgraphs.{domain}.service" in graph.find_children(f"subgraphs.{domain}"), domain
    assert repository_imports(graph) == [], "resolvers go through the service"


def test_the_check_finds_a_resolver_that_reaches_a_repository() -> None:
    graph = grimp.build_graph("subgraphs")
    graph.add_import(importer="subgraphs.courses.types", imported="subgraphs.courses.repository")
    assert repository_imports(graph) == ["subgraphs.courses.types -> subgraphs.courses.repository"]


def test_rest_handlers_import_no_subgraph() -> None:
    graph = grimp.build_graph("rest_compat", "subgraphs")
    for module in graph.find_children("rest_compat"):
        imported = graph.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.startswith("subgraphs")}, module
