"""The outside judges of issue 8, each run against a real stack of its own (router, subgraphs, rest-compat):

- schemathesis on rest-compat's OpenAPI document, with every check, a fixed seed and a bounded number of
  examples per operation, anonymous and as a learner and an admin: 0 failures;
- `graphql-http`'s GraphQL-over-HTTP server audit on the router: every audit passes, no warning;
- GraphQL Inspector's breaking-change check of the composed supergraph against a committed one
  (`router/schema-check.mjs`), which passes on the tree and fails on a removed field.

Each prints the judge's own report when it fails.
"""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import ObjectTypeDefinitionNode, parse

from tests.e2e.conftest import E2EStack, StartStack
from tests.e2e.test_assessments_security import CREATE, ENROLL, SUBMIT, answers_from_key, ok, questions_input
from tests.support.stack import REPO

pytestmark = pytest.mark.e2e

ROUTER = REPO / "router"

# The judges' stack. The router's per-client rate limit (600 a minute by default) would answer a judge's
# bursts from one address with 429s, which prove nothing here: it is tested on its own
# (tests/e2e/test_router_gateway.py). Dev sign-in is on so that `POST /auth/dev` is judged too (the test
# profile allows it when asked; production refuses it).
JUDGES_ENV = {
    "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
    "COURSEGRAPH_DEV_SIGN_IN": "true",
}


def node(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one of router/'s node scripts from the repository root; never fails by itself."""
    assert (ROUTER / "node_modules").is_dir(), "router/node_modules is missing: run `make install`"
    return subprocess.run(
        ["node", str(ROUTER / script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- the stack the judges see ---------------------------------------------------------------------------


@dataclass
class Judged:
    stack: E2EStack
    learner: dict[str, Any]  # sign-in data (tokens and user), enrolled in the course
    admin: dict[str, Any]
    course_id: str  # published, with an assessment the learner may submit to
    assessment_id: str

    def token(self, caller: str) -> str | None:
        signed_in = {"anonymous": None, "learner": self.learner, "admin": self.admin}[caller]
        return None if signed_in is None else str(signed_in["access_token"])


def seed(stack: E2EStack) -> Judged:
    """What the judges need to reach past 404s: a published course with an assessment, a learner enrolled
    in it who has submitted once (so there is a result to read), and an admin."""
    instructor = stack.sign_in_as("instructor")["access_token"]
    course = stack.create_course(instructor, lessons=2, title=f"Judged {uuid.uuid4().hex[:6]}")
    quiz = {"course": course["id"], "input": {"title": "Judged quiz", "questions": questions_input()}}
    created = ok(stack.graphql(CREATE, quiz, token=instructor))["createAssessment"]
    assert created["errors"] == [], created
    learner = stack.sign_in()
    enrolled = ok(stack.graphql(ENROLL, {"c": course["id"]}, token=learner["access_token"]))
    assert enrolled["enroll"]["enrollment"], enrolled
    answers = answers_from_key(created["assessment"]["questions"], right=False)
    attempt = {"a": created["assessment"]["id"], "answers": answers}
    submitted = ok(stack.graphql(SUBMIT, attempt, token=learner["access_token"]))
    assert submitted["submitAnswers"]["errors"] == [], submitted
    return Judged(
        stack=stack,
        learner=learner,
        admin=stack.sign_in_admin(),
        course_id=str(course["id"]),
        assessment_id=str(created["assessment"]["id"]),
    )


@pytest.fixture(scope="module")
def judged(start_stack: StartStack) -> Iterator[Judged]:
    with start_stack("judges", JUDGES_ENV) as stack:
        yield seed(stack)


# --- schemathesis on rest-compat's OpenAPI document -----------------------------------------------------

SEED = 20261201
MAX_EXAMPLES = 12  # per operation and phase
# One caller's run (about 45 operations since issue 17): about two minutes on a quiet machine. The limit
# leaves room for a loaded one; a run that needs more is stuck, not slow.
RUN_SECONDS = 300
CALLERS = ("anonymous", "learner", "admin")

# Phases per caller. The coverage phase walks each operation's boundary values (the slow half of a run);
# it runs as the learner (who reaches submissions and results) and the admin (who reaches everything
# else). Anonymous callers get examples, fuzzing and stateful runs: past rest-compat's validation, which
# is the same for every caller, most of what they send ends in a 401.
PHASES = {"anonymous": "examples,fuzzing,stateful", "learner": "all", "admin": "all"}

# Checks' expected statuses, with 413 added: a body over rest-compat's size limit (8 MiB) is refused
# whatever it holds, a limit on the whole request that JSON Schema (which bounds each field) cannot state;
# every body-taking operation documents it. The rest are schemathesis' defaults.
CONFIG = """
# Nothing carried over between runs (no crash cache in the work tree): the seed alone decides.
[cache]
enabled = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"
]

# The seeded course and assessment, for some of the generated ids: past the 404s, into the operations.
[dictionaries.course]
values = ["{course_id}"]

[dictionaries.assessment]
values = ["{assessment_id}"]

[parameters]
"path.course_id" = {{ dictionary = "course", probability = 0.5 }}
"path.assessment_id" = {{ dictionary = "assessment", probability = 0.5 }}
"""


def schemathesis_command(judged: Judged, caller: str, workdir: Path) -> tuple[list[str], dict[str, str]]:
    """The `schemathesis run` command line judging rest-compat as `caller`, and its environment."""
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG.format(course_id=judged.course_id, assessment_id=judged.assessment_id))
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{judged.stack.rest_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--no-color",
        "--output-truncate",
        "false",
        "--request-timeout",
        "30",
    ]
    if PHASES[caller] != "all":
        command += ["--phases", PHASES[caller]]
    token = judged.token(caller)
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks"}
    return command, env


def openapi(judged: Judged) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{judged.stack.rest_url}/openapi.json", timeout=10).json()
    return document


def operation_count(judged: Judged) -> int:
    return sum(len(operations) for operations in openapi(judged)["paths"].values())


CPYTHON_AST_BUG = "AST constructor recursion depth mismatch"


@pytest.mark.timeout(2 * RUN_SECONDS + 60)
@pytest.mark.parametrize("caller", CALLERS)
def test_schemathesis_finds_no_fault_in_the_rest_api(judged: Judged, caller: str, tmp_path: Path) -> None:
    command, env = schemathesis_command(judged, caller, tmp_path)
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_SECONDS, check=False
    )
    report = f"{run.stdout}\n{run.stderr}"
    if run.returncode != 0 and CPYTHON_AST_BUG in report:
        # Not a finding: CPython 3.11.7's AST builder miscounts its recursion depth now and then
        # (python/cpython#106905, fixed in 3.11.8) when hypothesis parses a lambda's source. The same
        # seed runs the same cases again; anything it finds then fails the test.
        print(f"schemathesis as {caller}: hit {CPYTHON_AST_BUG!r} (a CPython bug); running it again")
        run = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_SECONDS, check=False
        )
        report = f"{run.stdout}\n{run.stderr}"
    print(f"schemathesis as {caller}: {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, f"schemathesis as {caller} found faults (exit {run.returncode}):\n{report}"
    tested = re.search(r"^\s*Tested:\s*(\d+)", report, re.MULTILINE)
    assert tested is not None, report
    assert int(tested.group(1)) == operation_count(judged), f"not every operation was tested:\n{report}"


def body_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def string_pattern(schema: dict[str, Any]) -> str:
    """The pattern of a string property (or of the string branch of a nullable one)."""
    for branch in [schema, *schema.get("anyOf", [])]:
        if "pattern" in branch:
            return str(branch["pattern"])
    raise AssertionError(f"no pattern in {schema}")


def refused_fields(response: httpx.Response) -> dict[str, str]:
    """The fields a 400 names, after checking it is a 400 envelope."""
    assert response.status_code == 400, response.text
    fields: dict[str, str] = response.json()["error"]["details"]["fields"]
    return fields


def test_finding_17s_examples_are_stated_in_the_document_and_refused(judged: Judged) -> None:
    """Finding 17: each request was valid by the OpenAPI document and refused with 400. Now the document
    refuses it too (the pattern or keyword that says so is checked here) and the server names the field."""
    document, rest = openapi(judged), judged.stack.rest
    token, user_id = judged.learner["access_token"], judged.learner["user"]["id"]

    email = string_pattern(body_schema(document, "DevSignInRequest")["properties"]["email"])
    assert re.fullmatch(email, "ada@example.org") and not re.fullmatch(email, "ada@example.test")
    assert "email" in refused_fields(
        rest("POST", "/auth/dev", json={"email": "ada@example.test", "name": "A"})
    )
    fine = {"email": f"ada-{uuid.uuid4().hex[:8]}@example.org", "name": "Ada"}
    assert rest("POST", "/auth/dev", json=fine).status_code == 200

    name = string_pattern(body_schema(document, "UpdateUserRequest")["properties"]["name"])
    assert re.fullmatch(name, "Ada Lovelace") and not re.fullmatch(name, "Ada\x07Lovelace")
    renamed = rest("PUT", f"/users/{user_id}", token=token, json={"name": "Ada\x07Lovelace"})
    assert "name" in refused_fields(renamed)

    after = next(p for p in document["paths"]["/courses"]["get"]["parameters"] if p["name"] == "after")
    assert not re.fullmatch(string_pattern(after["schema"]), "0")
    assert "after" in refused_fields(rest("GET", "/courses", params={"after": "0"}))

    assert body_schema(document, "UpdateUserRequest")["minProperties"] == 1
    assert refused_fields(rest("PUT", f"/users/{user_id}", token=token, json={}))


def test_catalog_cursors_in_the_documented_form_page_through_the_catalog(judged: Judged) -> None:
    first = judged.stack.rest("GET", "/courses", params={"first": 1}).json()["data"]
    cursor = first["page_info"]["end_cursor"]
    after = next(p for p in openapi(judged)["paths"]["/courses"]["get"]["parameters"] if p["name"] == "after")
    assert re.fullmatch(string_pattern(after["schema"]), cursor), cursor
    # Any place in the documented form is a valid `after`: before every course, nothing follows.
    assert (
        judged.stack.rest("GET", "/courses", params={"after": f"0_{'0' * 24}"}).json()["data"]["items"] == []
    )
    later = judged.stack.rest("GET", "/courses", params={"after": f"{'9' * 16}_{'f' * 24}"}).json()["data"]
    assert [c["id"] for c in later["items"]][:1] == [c["id"] for c in first["items"]]


def test_a_bearer_header_with_trailing_space_is_an_invalid_token_not_an_outage(judged: Judged) -> None:
    """Found by schemathesis: `Authorization: Bearer ` (which httpx cannot even send) was a 503."""
    url = httpx.URL(judged.stack.rest_url)
    request = (
        f"GET /courses HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer \r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port or 80), timeout=30) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.split()[1] == "401", answer.decode(errors="replace")


# --- graphql-http's audit of the router ------------------------------------------------------------------

AUDIT_SUMMARY = re.compile(
    r"^audit: (\d+) of (\d+) ok, (\d+) errors, (\d+) warnings, (\d+) notices", re.MULTILINE
)


def audit(url: str) -> tuple[subprocess.CompletedProcess[str], tuple[int, int, int, int, int]]:
    run = node("audit.mjs", url)
    summary = AUDIT_SUMMARY.search(run.stdout)
    assert summary is not None, f"{run.stdout}\n{run.stderr}"
    ok_, total, errors, warnings, notices = (int(n) for n in summary.groups())
    return run, (ok_, total, errors, warnings, notices)


def test_the_router_passes_the_graphql_over_http_audit(judged: Judged) -> None:
    started = time.monotonic()
    run, (passed, total, errors, warnings, notices) = audit(judged.stack.router_url)
    print(f"graphql-http audit: {passed} of {total} in {time.monotonic() - started:.1f} s")
    assert run.returncode == 0, run.stdout + run.stderr
    # 61 audits in graphql-http 1.23.1 (the "61 of 61"); a newer version may add more.
    assert total >= 61 and passed == total and errors == warnings == notices == 0, run.stdout


def test_the_audit_fails_an_endpoint_that_does_not_speak_graphql_over_http(judged: Judged) -> None:
    """The audit can fail: rest-compat's catalog is JSON over HTTP, but not GraphQL."""
    run, (passed, total, errors, _, _) = audit(f"{judged.stack.rest_url}/courses")
    assert run.returncode == 1, run.stdout + run.stderr
    assert errors > 0 and passed < total


# --- the breaking-change check of the supergraph ---------------------------------------------------------

SUPERGRAPH = "router/supergraph.graphql"


def committed_supergraph() -> str:
    return subprocess.run(
        ["git", "show", f"HEAD:{SUPERGRAPH}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def without_query_field(sdl: str, *, internal: bool) -> tuple[str, str]:
    """`sdl` less the first root query field that is (`internal`) or is not `@inaccessible`, and its
    name."""
    document = parse(sdl)
    query = next(
        definition
        for definition in document.definitions
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value == "Query"
    )
    field = next(
        field
        for field in query.fields or ()
        if any(d.name.value == "inaccessible" for d in field.directives or ()) == internal
    )
    assert field.loc is not None  # from its description (if any) to its last directive
    return sdl[: field.loc.start] + sdl[field.loc.end :], field.name.value


def test_the_supergraph_has_no_unacknowledged_breaking_change() -> None:
    started = time.monotonic()
    run = node("schema-check.mjs")
    print(f"schema-check: {time.monotonic() - started:.1f} s\n{run.stdout}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^schema-check: 0 breaking", run.stdout, re.MULTILINE) or "nothing to compare" in (
        run.stdout
    ), run.stdout


def test_a_removed_field_is_a_breaking_change_unless_acknowledged(tmp_path: Path) -> None:
    changed, field = without_query_field(committed_supergraph(), internal=False)
    schema = tmp_path / "supergraph.graphql"
    schema.write_text(changed)
    refused = node("schema-check.mjs", "--base", "HEAD", "--schema", str(schema))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert re.search(rf"BREAKING\s+FIELD_REMOVED Query\.{field}:", refused.stdout), refused.stdout
    assert "schema-check: 1 breaking, 0 acknowledged" in refused.stdout, refused.stdout

    allow = tmp_path / "allowed.yaml"
    allow.write_text(f"allowed:\n  - type: FIELD_REMOVED\n    path: Query.{field}\n    reason: On purpose.\n")
    acknowledged = node("schema-check.mjs", "--base", "HEAD", "--schema", str(schema), "--allow", str(allow))
    assert acknowledged.returncode == 0, acknowledged.stdout + acknowledged.stderr
    assert "BREAKING, acknowledged: On purpose." in acknowledged.stdout
    assert "schema-check: 0 breaking, 1 acknowledged" in acknowledged.stdout

    allow.write_text(f"allowed:\n  - type: FIELD_REMOVED\n    path: Query.{field}\n")
    unexplained = node("schema-check.mjs", "--base", "HEAD", "--schema", str(schema), "--allow", str(allow))
    assert unexplained.returncode == 2 and '"reason" is required' in unexplained.stderr, unexplained.stderr


def test_internal_operations_are_not_the_public_api(tmp_path: Path) -> None:
    """Removing an `@inaccessible` (service-token) field breaks no client: it is not in the API schema."""
    changed, field = without_query_field(committed_supergraph(), internal=True)
    schema = tmp_path / "supergraph.graphql"
    schema.write_text(changed)
    run = node("schema-check.mjs", "--base", "HEAD", "--schema", str(schema))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Query.{field}" not in run.stdout
