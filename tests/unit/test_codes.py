"""Codes and limits from one source (ADR 0028): `coursegraph.codes` declares every code a client can see and
`coursegraph.limits` the limits rest-compat states; the router, rest-compat and the services follow them.

- The router reads only `router/codes.json`, which must be what `coursegraph.codes` generates, and spells
  no code of its own: a code added in Python, or its status changed, fails here until the router follows.
- rest-compat answers every declared code with the declared status (through its real app, in front of a
  fake router that answers each code).
- No service spells a code, a `details.reason` or a field-error code as a bare string.
- The services enforce the limits rest-compat states.
"""

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_compat.app import create_app
from rest_compat.settings import RestCompatSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from coursegraph import limits
from coursegraph.codes import (
    GATEWAY_CODES,
    HTTP_STATUS,
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    ErrorCode,
    FieldCode,
    Reason,
    code_for_status,
    router_codes,
)
from coursegraph.errors import ERROR_TYPES, BadUserInput, error_from_graphql
from coursegraph_cli.schemas import ROUTER_CODES
from tests.support.servers import free_port, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
PYTHON_SOURCES = ("coursegraph", "coursegraph_cli", "subgraphs", "rest-compat")
DECLARATION = ROOT / "coursegraph" / "codes.py"


# --- the router -------------------------------------------------------------------------------------------


def test_the_router_reads_the_code_table_python_declares() -> None:
    checked_in = (ROOT / ROUTER_CODES).read_text()
    assert checked_in == router_codes(), "router/codes.json is stale: run `make schemas`"
    table = json.loads(checked_in)
    assert {code: entry["status"] for code, entry in table["codes"].items()} == {
        code.value: status for code, status in HTTP_STATUS.items()
    }


def quoted_codes(text: str) -> list[str]:
    """The codes of the fixed set (and the gateway's own) spelled as string literals in TypeScript."""
    names = {code.value for code in ErrorCode} | set(GATEWAY_CODES)
    return [match for match in re.findall(r"""['"`]([A-Z][A-Z0-9_]+)['"`]""", text) if match in names]


def test_the_router_spells_no_code_of_its_own() -> None:
    sources = sorted((ROOT / "router").glob("*.ts"))
    assert ROOT / "router" / "gateway.config.ts" in sources
    spelled = {str(path.relative_to(ROOT)): quoted_codes(path.read_text()) for path in sources}
    assert {path: codes for path, codes in spelled.items() if codes} == {}


def test_the_router_check_finds_a_spelled_code() -> None:
    assert quoted_codes("extensions: { code: 'RATE_LIMITED' }, http: 'SUBREQUEST_HTTP_ERROR'") == [
        "RATE_LIMITED",
        "SUBREQUEST_HTTP_ERROR",
    ]


# --- the kernel -------------------------------------------------------------------------------------------


def test_each_code_has_its_own_status_and_an_error_type() -> None:
    assert len(set(HTTP_STATUS.values())) == len(ErrorCode), "a status names one code"
    for code in ErrorCode:
        assert code_for_status(code.http_status) is code
        rebuilt = error_from_graphql({"message": "m", "extensions": {"code": code.value}})
        assert rebuilt is not None and rebuilt.code is code and type(rebuilt) is ERROR_TYPES[code]
    assert code_for_status(418) is ErrorCode.BAD_USER_INPUT and code_for_status(599) is ErrorCode.INTERNAL
    assert code_for_status(502) is code_for_status(504) is ErrorCode.UNAVAILABLE


# --- rest-compat ------------------------------------------------------------------------------------------


class FakeRouter:
    """Answers every GraphQL request with one error of the code it is told (as the router would)."""

    def __init__(self) -> None:
        self.extensions: dict[str, Any] = {}

    async def graphql(self, _: Request) -> JSONResponse:
        return JSONResponse({"errors": [{"message": "refused", "extensions": self.extensions}], "data": None})

    async def health(self, _: Request) -> JSONResponse:
        return JSONResponse({})


@pytest.fixture(scope="module")
def fake_router() -> Iterator[tuple[FakeRouter, str]]:
    fake = FakeRouter()
    app = Starlette(routes=[Route("/graphql", fake.graphql, methods=["POST"]), Route("/health", fake.health)])
    with serve_in_thread(app) as base:
        yield fake, f"{base}/graphql"


async def rest_get(router_url: str, path: str) -> httpx.Response:
    app = create_app(RestCompatSettings(router_url=router_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rest") as client:
        # Signed in: the public-read cache stays out of the way.
        return await client.get(path, headers={"authorization": "Bearer token"})


COURSE = "/courses/6b0e48e58e255fc7add36f17"


@pytest.mark.parametrize("code", list(ErrorCode))
async def test_rest_compat_answers_each_code_with_its_status(
    fake_router: tuple[FakeRouter, str], code: ErrorCode
) -> None:
    fake, router_url = fake_router
    fake.extensions = {"code": code.value, "retryAfter": 7} if code.retryable else {"code": code.value}
    response = await rest_get(router_url, COURSE)
    assert response.status_code == code.http_status, response.text
    assert response.json()["error"]["code"] == code.value
    assert response.headers.get("retry-after") == ("7" if code.retryable else None)


async def test_rest_compat_answers_unavailable_with_a_retry_after_of_its_own(
    fake_router: tuple[FakeRouter, str],
) -> None:
    fake, router_url = fake_router
    fake.extensions = {"code": ErrorCode.UNAVAILABLE.value}
    response = await rest_get(router_url, COURSE)
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)


async def test_rest_compat_answers_unavailable_while_the_router_does_not_answer() -> None:
    response = await rest_get(f"http://127.0.0.1:{free_port()}/graphql", COURSE)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == ErrorCode.UNAVAILABLE.value
    assert response.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)


# --- the services -----------------------------------------------------------------------------------------

DECLARED = {code.value for codes in (ErrorCode, Reason, FieldCode) for code in codes}


def _enum_bodies(tree: ast.AST) -> set[int]:
    """The nodes inside enum classes: an enum member's value may equal a code (MediaStatus.DELETED)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(ast.unparse(base).endswith("Enum") for base in node.bases):
            inside |= {id(child) for child in ast.walk(node)}
    return inside


def _text(node: ast.AST | None) -> str | None:
    """The string a node spells, if it is a string literal."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


CODED_CALLS = ("FieldError", "UserError")  # their code: the second argument, or `code=`


def spelled_codes(source: str) -> list[tuple[int, str]]:
    """Where a source spells a code: a string equal to a declared code, a `"reason"` given as a string, a
    FieldError's or UserError's code given as a string. (line, what)"""
    tree = ast.parse(source)
    enums = _enum_bodies(tree)
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if id(node) in enums:
            continue
        text = _text(node)
        if text in DECLARED:
            found.add((getattr(node, "lineno", 0), text))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                reason = _text(value)
                if _text(key) == "reason" and reason is not None:
                    found.add((node.lineno, f"reason {reason}"))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] in CODED_CALLS:
            given = node.args[1:2] + [keyword.value for keyword in node.keywords if keyword.arg == "code"]
            found |= {(node.lineno, f"code {code}") for code in map(_text, given) if code is not None}
    return sorted(found)


def test_no_service_spells_a_code() -> None:
    spelled: dict[str, list[tuple[int, str]]] = {}
    for source in PYTHON_SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if path == DECLARATION:
                continue
            found = spelled_codes(path.read_text())
            if found:
                spelled[str(path.relative_to(ROOT))] = found
    assert spelled == {}, "name the member of coursegraph.codes (ErrorCode, Reason, FieldCode) instead"


def test_the_check_finds_spelled_codes() -> None:
    source = """
class Status(StrEnum):
    DELETED = "DELETED"

raise Conflict("Closed.", details={"reason": "CLOSED_FOR_NOW"})
errors.append(FieldError("title", "TOO_LONG", "Too long."))
UserError(code="SOMETHING_NEW", field="x", message="m")
errors.append(FieldError("title", FieldCode.TOO_LONG, "Too long."))
"""
    assert spelled_codes(source) == [
        (5, "reason CLOSED_FOR_NOW"),
        (6, "TOO_LONG"),
        (6, "code TOO_LONG"),
        (7, "code SOMETHING_NEW"),
    ]


# --- limits -----------------------------------------------------------------------------------------------


def test_the_services_enforce_the_limits_rest_compat_states() -> None:
    from coursegraph import pagination
    from subgraphs.assessments import decisions as assessments
    from subgraphs.assessments import scoring
    from subgraphs.courses import decisions as courses

    assert pagination.page_size(limits.PAGE_MAX) == limits.PAGE_MAX
    with pytest.raises(BadUserInput):
        pagination.page_size(limits.PAGE_MAX + 1)
    courses_limits = ("TITLE_MAX", "DESCRIPTION_MAX", "CONTENT_MAX", "URL_MAX", "MODULES_MAX", "LESSONS_MAX")
    enforced = {name: getattr(courses, name) for name in (*courses_limits, "SEARCH_MAX")}
    enforced |= {
        "QUESTIONS_MAX": getattr(assessments, "QUESTIONS_MAX"),  # noqa: B009 (imported there, not declared)
        "ITEMS_MAX": scoring.ITEMS_MAX,
        "ANSWER_TEXT_MAX": scoring.ANSWER_TEXT_MAX,
    }
    assert enforced == {name: getattr(limits, name) for name in enforced}
