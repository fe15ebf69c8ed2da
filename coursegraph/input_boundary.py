"""The one boundary every string a client sends passes through, in every subgraph (ADR 0029).

JSON and GraphQL escapes let a client send strings that are not text: a lone UTF-16 surrogate
(`"\\ud800"`), which no UTF-8 store or answer can hold, and NUL, which PostgreSQL and C libraries cannot.
Checked one field at a time, each new field could forget it (seven findings did, each answering
INTERNAL). Here the operation is refused before it runs, whatever field, argument, input object or
variable carries the string, with BAD_USER_INPUT and `details.reason` NOT_TEXT.

The built-in String and ID scalars cannot be replaced (graphql-core reserves them), so this is a schema
extension that `coursegraph.graphql.build_schema` gives every subgraph. Cursors are strings too and pass
here; what they name is `coursegraph.pagination.decode_cursor`'s to check.
"""

from collections.abc import Iterator
from typing import Any

from graphql import ArgumentNode, DocumentNode, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from coursegraph.codes import Reason
from coursegraph.errors import BadUserInput
from coursegraph.text import not_text


def refused(where: str, problem: str) -> BadUserInput:
    return BadUserInput(f"{where} is not text: it holds {problem}.", details={"reason": Reason.NOT_TEXT})


def _bad_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, problem) for each string in a variable's value that is not text."""
    if isinstance(value, str):
        if problem := not_text(value):
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _bad_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, f"{path}[{index}]")


class _Literals(Visitor):
    """The first string written in the operation itself (GraphQL's `\\u0000` escape) that is not text,
    and where: the argument, and the input fields down to it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.found: tuple[str, str] | None = None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self.names.append(node.name.value)

    enter_object_field = enter_argument

    def leave_argument(self, *_: Any) -> None:
        self.names.pop()

    leave_object_field = leave_argument

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if problem := not_text(node.value):
            where = f"The argument `{'.'.join(self.names)}`" if self.names else "A value"
            self.found = (where, problem)
            return self.BREAK
        return None


def _bad_literal(document: DocumentNode, query: str) -> tuple[str, str] | None:
    # Only an operation whose text holds such a character, or an escape that could write one, is walked.
    if not_text(query) is None and "\\u" not in query:
        return None
    literals = _Literals()
    visit(document, literals)
    return literals.found


class TextOnlyInput(SchemaExtension):
    """Refuses an operation whose variables or written values hold a string that is not text."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        for name, value in (context.variables or {}).items():
            for path, problem in _bad_strings(value, f"${name}"):
                raise refused(f"`{path}`", problem)
        document, query = context.graphql_document, context.query
        if document is not None and query is not None and (found := _bad_literal(document, query)):
            raise refused(*found)
        yield
