"""Every GraphQL operation of the web app (web/app/operations.js) is valid against the public API: the
composed supergraph less its `@inaccessible` (internal) fields, which the router does not serve."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    parse,
    validate,
    visit,
)

REPO = Path(__file__).resolve().parents[2]
OPERATIONS = REPO / "web" / "app" / "operations.js"
SUPERGRAPH = REPO / "router" / "supergraph.graphql"


def web_operations() -> dict[str, str]:
    """The module's exports, read by Node as the browser reads them (template strings filled in)."""
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (it runs the router too)"
    script = f"import('{OPERATIONS.as_uri()}').then((m) => console.log(JSON.stringify(m)))"
    run = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    operations: dict[str, str] = json.loads(run.stdout)
    return operations


def internal(element: Any) -> bool:
    node = getattr(element, "ast_node", None)
    return node is not None and any(d.name.value == "inaccessible" for d in node.directives or ())


class InternalFields(Visitor):
    """Collects the `@inaccessible` fields, arguments and types an operation uses."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[str] = []

    def enter_field(self, node: Any, *_: Any) -> None:
        field, parent = self.type_info.get_field_def(), self.type_info.get_parent_type()
        if field is not None and internal(field):
            self.found.append(f"{parent}.{node.name.value}")

    def enter_argument(self, node: Any, *_: Any) -> None:
        argument = self.type_info.get_argument()
        if argument is not None and internal(argument):
            self.found.append(f"argument {node.name.value}")


SCHEMA: GraphQLSchema = build_schema(SUPERGRAPH.read_text())
ALL = web_operations()


def test_the_module_has_the_apps_operations() -> None:
    assert {"CATALOG", "COURSE", "ENROLLMENT_PROGRESS", "COURSE_ACTIVITY", "START_ATTEMPT"} <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_an_operation_is_valid_against_the_public_schema(name: str) -> None:
    document = parse(ALL[name])
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1 and operations[0].name is not None, f"{name}: one named operation"
    errors = validate(SCHEMA, document)
    assert not errors, f"{name}: {[error.message for error in errors]}"
    type_info = TypeInfo(SCHEMA)
    collector = InternalFields(type_info)
    visit(document, TypeInfoVisitor(type_info, collector))
    assert collector.found == [], f"{name} uses internal (@inaccessible) API: {collector.found}"
