"""The kernel's one boundary for hostile input (ADR 0029), without a store: strings that are not text are
refused before any resolver runs, and the one cursor decoder answers only positions every store holds."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry

from coursegraph.errors import BadUserInput
from coursegraph.graphql import build_schema, with_error_codes
from coursegraph.pagination import Position, decode_cursor

CALLS: list[str] = []


@strawberry.input
class Named:
    name: str
    tags: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field
    def echo(self, text: str, item: strawberry.ID | None = None, named: Named | None = None) -> str:
        CALLS.append(text)
        return text


SCHEMA = build_schema(query=Query)


async def answer(query: str, variables: dict[str, Any] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    result = await SCHEMA.execute(query, variable_values=variables)
    errors = [dict(e.formatted) for e in with_error_codes(result.errors or [])]
    return result.data, errors


VARIABLES = [
    ({"t": "a\ud800b"}, "`$t`"),
    ({"t": "a\x00b"}, "`$t`"),
    ({"t": "ok", "n": {"name": "ok", "tags": ["x", "\udfff"]}}, "`$n.tags[1]`"),
    ({"t": "ok", "i": "\x00"}, "`$i`"),
]


@pytest.mark.parametrize(("variables", "where"), VARIABLES)
async def test_a_variable_that_is_not_text_is_refused_before_any_field_runs(
    variables: dict[str, Any], where: str
) -> None:
    CALLS.clear()
    query = "query($t: String!, $i: ID, $n: Named) { echo(text: $t, item: $i, named: $n) }"
    data, errors = await answer(query, variables)
    assert data is None and CALLS == []
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "details": {"reason": "NOT_TEXT"}}
    assert errors[0]["message"].startswith(where), errors


async def test_a_value_written_in_the_operation_is_refused_too() -> None:
    CALLS.clear()
    data, errors = await answer('{ echo(text: "ok", named: {name: "a\\u0000b"}) }')
    assert data is None and CALLS == []
    assert errors[0]["extensions"]["details"] == {"reason": "NOT_TEXT"}
    assert "`named.name`" in errors[0]["message"], errors


async def test_text_passes_unchanged() -> None:
    text = "Zoë 日本 🎓\n\ttabs, and an escaped \\u0041"
    data, errors = await answer("query($t: String!) { echo(text: $t) }", {"t": text})
    assert errors == [] and data == {"echo": text}
    written, errors = await answer('{ echo(text: "caf\\u00e9") }')
    assert errors == [] and written == {"echo": "café"}


def cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        ["0001-01-01T00:00:00+14:00", "0" * 24],  # before year 1 in UTC
        ["9999-12-31T23:59:59-14:00", "0" * 24],  # after year 9999 in UTC
        ["2026-01-01T00:00:00", "0" * 24],  # no offset: not a time of ours
        ["2026-01-01T00:00:00+00:00", "a\ud800"],  # an id that is not text
        ["2026-01-01T00:00:00+00:00", "a\x00"],
    ],
)
def test_a_cursor_naming_no_position_a_store_holds_is_bad_input(value: object) -> None:
    with pytest.raises(BadUserInput) as refused:
        decode_cursor(cursor(value))
    assert refused.value.details == {"field": "after"}


def test_a_cursor_position_is_in_utc() -> None:
    decoded = decode_cursor(cursor(["0001-01-01T14:00:00+14:00", "x"]))
    assert decoded == Position(datetime(1, 1, 1, tzinfo=UTC), "x")
    assert decoded is not None and decoded.at.utcoffset() is not None and not decoded.at.utcoffset()
