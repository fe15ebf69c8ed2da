"""Hostile strings and cursors never answer INTERNAL, in any argument of any operation (issue 16, item 6).

Findings (c) and (d) were the same defect as five before them, each once fixed at one spot: a string no
UTF-8 store or answer can hold, or a cursor naming a time no store can hold, reached code that could not
handle it. The boundary is now one (ADR 0029): the kernel's String and ID scalars refuse what is not text,
and the one cursor decoder refuses what is not a position. The last test proves it for the whole graph:
it reads every argument and input field of type String or ID from the composed supergraph (so a new field
is covered the day it is added), sends each hostile value through the router, and finds no INTERNAL.
"""

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)

from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

SUPERGRAPH = Path(__file__).resolve().parents[2] / "router" / "supergraph.graphql"
CONCURRENCY = 8
TIME_BUDGET_SECONDS = 60


def cursor(at: str, item_id: str = "0" * 24) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, item_id]).encode()).decode()


# Held as Python strings; sent as JSON escapes (`json.dumps` with `ensure_ascii`), which is how a client
# smuggles a lone surrogate or a NUL into valid JSON.
HOSTILE_TEXT = {"lone surrogate": "a\ud800b", "NUL": "a\x00b", "10^5 characters": "x" * 100_000}
HOSTILE_CURSORS = {
    "year 1 at +14:00": cursor("0001-01-01T00:00:00+14:00"),
    "year 9999 at -14:00": cursor("9999-12-31T23:59:59-14:00"),
    "not base64": "not base64 !",
    "base64 of a lone surrogate": base64.urlsafe_b64encode(b'["\\ud800", "x"]').decode(),
    "base64 of no JSON": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
}
REFUSED_TEXT = ("lone surrogate", "NUL")  # not text: the boundary refuses them in every argument


def error_codes(body: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []]


def post(stack: E2EStack, query: str, variables: dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables})  # ensure_ascii: escapes, valid JSON
    return httpx.post(stack.router_url, content=body, headers=headers, timeout=30)


# --- the two findings ------------------------------------------------------------------------------------

HISTORY = "query($after: String) { me { notifications(first: 5, after: $after) { edges { cursor } } } }"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_history_cursor_at_a_time_no_store_can_hold_is_bad_input(stack: E2EStack, at: str) -> None:
    """Finding (c): such a time overflowed in BSON (OverflowError), which answered INTERNAL."""
    learner = stack.sign_in()
    response = post(stack, HISTORY, {"after": cursor(at)}, learner["access_token"])
    assert error_codes(response.json()) == ["BAD_USER_INPUT"], response.text
    assert response.json()["errors"][0]["extensions"]["details"] == {"field": "after"}, response.text


def test_a_certificate_code_with_a_lone_surrogate_is_bad_input(stack: E2EStack) -> None:
    """Finding (d): `verifyCertificate(code: "\\ud800")` answered INTERNAL."""
    query = "query($code: String!) { verifyCertificate(code: $code) { code } }"
    response = post(stack, query, {"code": "\ud800"})
    assert error_codes(response.json()) == ["BAD_USER_INPUT"], response.text
    details = response.json()["errors"][0]["extensions"]["details"]
    assert details == {"reason": "NOT_TEXT"}, response.text
    # The same text written into the operation instead of a variable.
    inline = post(stack, 'query { verifyCertificate(code: "\ud800") { code } }', {})
    assert error_codes(inline.json()) == ["BAD_USER_INPUT"], inline.text


# --- every argument of the supergraph ---------------------------------------------------------------------


def accessible(schema_element: Any) -> bool:
    node = getattr(schema_element, "ast_node", None)
    return node is None or not any(d.name.value == "inaccessible" for d in node.directives or ())


def api_schema() -> GraphQLSchema:
    return build_schema(SUPERGRAPH.read_text())


@dataclass(frozen=True)
class Target:
    """One place a client's string goes: `path` names it (`Query.courses(after)`, `Mutation.createCourse(
    input.title)`); `operation` takes it as `$v`, whose value `wrap` builds around the hostile string."""

    path: str
    kind: str  # "text" or "cursor"
    operation: str
    variable_type: str
    inner: tuple[str | int, ...]  # where the hostile string sits inside $v
    filler: Any  # $v with a placeholder at `inner`

    def variables(self, hostile: str) -> dict[str, Any]:
        value = json.loads(json.dumps(self.filler))
        if not self.inner:
            return {"v": hostile}
        holder = value
        for step in self.inner[:-1]:
            holder = holder[step]
        holder[self.inner[-1]] = hostile
        return {"v": value}


class Filler:
    """Plain values for the arguments that are not under test, and GraphQL literals of them."""

    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids  # type name -> a real id, to reach nested fields

    def value(self, type_: GraphQLInputType) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self.value(type_.of_type)
        if isinstance(type_, GraphQLList):
            return [self.value(type_.of_type)]
        if isinstance(type_, GraphQLEnumType):
            return next(name for name, value in type_.values.items() if accessible(value))
        if isinstance(type_, GraphQLInputObjectType):
            # Every field, so that each string inside has a place; input types here are not recursive.
            return {name: self.value(field.type) for name, field in type_.fields.items() if accessible(field)}
        assert isinstance(type_, GraphQLScalarType)
        return {
            "Int": 1,
            "Float": 1.0,
            "Boolean": False,
            "ID": "0" * 24,
            "DateTime": "2026-01-01T00:00:00Z",
        }.get(type_.name, "x")

    def literal(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {self.literal(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.literal(v) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.isidentifier() and value.isupper():
            return value  # an enum value
        return json.dumps(value)


def string_leaves(
    type_: GraphQLInputType, inner: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """Where a String or ID sits in an input type: () for the type itself, else the path inside it."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID"):
        yield inner
    elif isinstance(named, GraphQLInputObjectType):
        listed = isinstance(type_, GraphQLList) or (
            isinstance(type_, GraphQLNonNull) and isinstance(type_.of_type, GraphQLList)
        )
        prefix: tuple[str | int, ...] = (*inner, 0) if listed else inner
        for name, field in named.fields.items():
            if accessible(field):
                yield from string_leaves(field.type, (*prefix, name))


def selection(type_: Any) -> str:
    named = get_named_type(type_)
    return "" if is_leaf_type(named) else " { __typename }"


def routes(schema: GraphQLSchema, filler: Filler) -> dict[str, tuple[str, str]]:
    """For each object type, how an operation reaches one from Query: (prefix, suffix) around a field of
    it, e.g. ("me {", "}"). The shortest way, by fields without required arguments first; a field with
    required arguments is taken when a real id (`filler.ids`) fills them."""
    found: dict[str, tuple[str, str]] = {"Query": ("", "")}
    frontier = ["Query"]
    while frontier:
        owner = schema.get_type(frontier.pop(0))
        assert isinstance(owner, GraphQLObjectType)
        prefix, suffix = found[owner.name]
        fields = sorted(
            owner.fields.items(), key=lambda item: sum(map(is_required_argument, item[1].args.values()))
        )
        for name, field in fields:
            target = get_named_type(field.type)
            if not accessible(field) or not isinstance(target, GraphQLObjectType) or target.name in found:
                continue
            required = [a for a, arg in field.args.items() if is_required_argument(arg)]
            if any(a != "id" for a in required) or (required and target.name not in filler.ids):
                continue
            call = f'(id: "{filler.ids[target.name]}")' if required else ""
            found[target.name] = (f"{prefix} {name}{call} {{", f"}} {suffix}")
            frontier.append(target.name)
    return found


def targets(schema: GraphQLSchema, filler: Filler) -> list[Target]:
    """Every String or ID a client can send, in arguments and in input objects, of every field of every
    type a query reaches. A type with such arguments that no query reaches fails the test: give the
    test a real id to reach it (`Filler.ids`), so that its arguments are tried too."""
    reach = routes(schema, filler)
    found: list[Target] = []
    unreachable = []
    for owner_name, owner in schema.type_map.items():
        if not isinstance(owner, GraphQLObjectType) or owner_name.startswith("_") or not accessible(owner):
            continue
        if owner_name in ("Query", "Mutation", "Subscription"):
            keyword, prefix, suffix = owner_name.lower(), "", ""
        elif owner_name in reach:
            keyword, (prefix, suffix) = "query", reach[owner_name]
        else:
            keyword, prefix, suffix = "", "", ""
        for field_name, field in owner.fields.items():
            if not accessible(field):
                continue
            for arg_name, arg in field.args.items():
                for inner in string_leaves(arg.type):
                    if not keyword:
                        unreachable.append(f"{owner_name}.{field_name}({arg_name})")
                        continue
                    found.append(
                        make_target(
                            keyword, (prefix, suffix), owner_name, field_name, field, arg_name, inner, filler
                        )
                    )
    assert not unreachable, f"no query reaches these arguments: {unreachable}"
    return found


def make_target(
    keyword: str,
    around: tuple[str, str],
    owner_name: str,
    field_name: str,
    field: GraphQLField,
    arg_name: str,
    inner: tuple[str | int, ...],
    filler: Filler,
) -> Target:
    arg = field.args[arg_name]
    others = []
    for other_name, other in field.args.items():
        if other_name == arg_name or not accessible(other):
            continue
        if is_required_argument(other):
            others.append(f"{other_name}: {filler.literal(filler.value(other.type))}")
    arguments = ", ".join([f"{arg_name}: $v", *others])
    prefix, suffix = around
    operation = (
        f"{keyword}($v: {arg.type}) {{ {prefix} {field_name}({arguments}){selection(field.type)} {suffix} }}"
    )
    dotted = ".".join(str(step) for step in inner)
    path = f"{owner_name}.{field_name}({arg_name}{'.' + dotted if dotted else ''})"
    is_cursor = arg_name == "after" and not inner
    return Target(
        path, "cursor" if is_cursor else "text", operation, str(arg.type), inner, filler.value(arg.type)
    )


def test_no_string_or_cursor_in_any_argument_answers_internal(stack: E2EStack) -> None:
    admin = stack.sign_in_admin()  # sees everything, so no rule stops a request before its arguments
    every = targets(api_schema(), Filler({"User": admin["user"]["id"]}))
    paths = {t.path for t in every}
    # The generator must find what the findings were about; everything else it finds by itself.
    assert {"Query.verifyCertificate(code)", "User.notifications(after)", "Query.courses(after)"} <= paths
    assert {"Mutation.createCourse(input.title)", "Subscription.enrollmentProgress(courseId)"} <= paths
    cases = [
        (target, label, value)
        for target in every
        for label, value in {**HOSTILE_TEXT, **(HOSTILE_CURSORS if target.kind == "cursor" else {})}.items()
    ]
    headers = {"content-type": "application/json", "authorization": f"Bearer {admin['access_token']}"}

    async def send(client: httpx.AsyncClient, target: Target, value: str) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"query": target.operation, "variables": target.variables(value)})
        if not target.operation.startswith("subscription"):
            response = await client.post(stack.router_url, content=body, headers=headers)
            return response.status_code, response.json()
        # Subscriptions over SSE: the first event answers (a hostile argument never subscribes).
        sse = {**headers, "accept": "text/event-stream"}
        async with client.stream("POST", stack.router_url, content=body, headers=sse) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line.removeprefix("data:").strip():
                    return response.status_code, json.loads(line.removeprefix("data:"))
        return response.status_code, {}

    async def run() -> list[tuple[int, dict[str, Any]]]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(timeout=30) as client:

            async def bounded(target: Target, value: str) -> tuple[int, dict[str, Any]]:
                async with limit:
                    return await send(client, target, value)

            answers = asyncio.gather(*(bounded(target, value) for target, _, value in cases))
            return await asyncio.wait_for(answers, timeout=TIME_BUDGET_SECONDS)

    internal, not_refused = [], []
    for (target, label, _), (status, body) in zip(cases, asyncio.run(run()), strict=True):
        errors = body.get("errors") or []
        if status >= 500 or any(code.startswith("INTERNAL") for code in error_codes(body)):
            internal.append(f"{target.path} with {label}: {status} {errors}")
        elif label in REFUSED_TEXT and not any(
            (e.get("extensions") or {}).get("details", {}).get("reason") == "NOT_TEXT" for e in errors
        ):
            # Refused by the boundary itself, not by anything before it: the argument was reached.
            not_refused.append(f"{target.path} with {label}: {status} {errors}")
    assert not internal, "\n".join(internal)
    assert not not_refused, "\n".join(not_refused)


def test_a_body_that_is_not_utf8_is_refused_as_the_clients(stack: E2EStack) -> None:
    query = b"query($c: String!) { verifyCertificate(code: $c) { code } }"
    body = b'{"query": "' + query + b'", "variables": {"c": "\xff"}}'
    response = httpx.post(
        stack.router_url, content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert response.status_code < 500 and "INTERNAL" not in response.text, response.text
