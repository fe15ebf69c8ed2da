"""`make dev` runs `coursegraph dev`: embedded defaults (SQLite, in-process events, dev sign-in)."""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.stack import Stack, run_stack

pytestmark = pytest.mark.e2e

FEDERATED = """
mutation($email: String!, $name: String!) {
  devSignIn(email: $email, name: $name) {
    accessToken
    user { id name email role createdAt roles { permissions } }
  }
}"""


READY_LINE = "CourseGraph is ready in "


@dataclass
class StartWatch:
    """What a watcher saw while `make dev` started: rounds of (ready line printed?, services not ready).
    Each round reads the log before asking every service's readiness, so a round that finds the line and
    a service not ready means the line came first."""

    rounds: list[tuple[bool, list[str]]] = field(default_factory=list)

    def __call__(self, stack: Stack) -> None:
        urls = stack.subgraph_urls.items()
        readiness = {name: url.removesuffix("/graphql") + "/ready" for name, url in urls}
        readiness["rest-compat"] = f"{stack.rest_url}/ready"
        readiness["router"] = stack.router_url.removesuffix("/graphql") + "/readiness"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            printed = stack.log_path.exists() and READY_LINE in stack.log_path.read_text(errors="replace")
            self.rounds.append((printed, [name for name, url in readiness.items() if not _answers(url)]))
            if printed:
                return
            time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def start_watch() -> StartWatch:
    return StartWatch()


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory, start_watch: StartWatch) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("dev-data")
    env = {"COURSEGRAPH_DATA_DIR": str(data_dir)}  # everything else is the dev default
    with run_stack(env, data_dir / "dev.log", command="dev", while_starting=start_watch) as stack:
        yield stack


def test_dev_uses_embedded_defaults(dev_stack: Stack) -> None:
    data_dir = dev_stack.log_path.parent
    assert (data_dir / "users.db").exists(), "users are stored in SQLite in the dev profile"
    assert (data_dir / "keys" / "jwt-signing.pem").exists(), "a dev signing key is generated and kept"


def test_dev_sign_in_and_a_federated_query_through_the_router(dev_stack: Stack) -> None:
    response = dev_stack.graphql(FEDERATED, {"email": "Ada@Example.org", "name": "Ada Lovelace"})
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["devSignIn"]
    user = payload["user"]
    # createdAt and roles come from the users subgraph, the rest from auth: one query, two subgraphs.
    assert user["email"] == "ada@example.org" and user["name"] == "Ada Lovelace" and user["role"] == "LEARNER"
    assert user["createdAt"] and "courses:enroll" in user["roles"]["permissions"]
    me = dev_stack.graphql("{ me { id email } }", token=payload["accessToken"]).json()["data"]["me"]
    assert me == {"id": user["id"], "email": "ada@example.org"}


def test_dev_rest_calls_answer(dev_stack: Stack) -> None:
    signed_in = dev_stack.rest("POST", "/auth/dev", json={"email": "admin@example.org", "name": "Admin"})
    assert signed_in.status_code == 200, signed_in.text
    data = signed_in.json()["data"]
    assert data["user"]["role"] == "admin", "admin@example.org is on the dev admin allow-list"
    token, user_id = data["access_token"], data["user"]["id"]

    profile = dev_stack.rest("GET", f"/users/{user_id}", token=token)
    assert profile.status_code == 200 and profile.json()["data"]["email"] == "admin@example.org"
    renamed = dev_stack.rest("PUT", f"/users/{user_id}", token=token, json={"name": "Grace"})
    assert renamed.json()["data"]["name"] == "Grace"
    roles = dev_stack.rest("GET", f"/users/{user_id}/roles", token=token).json()["data"]
    assert roles["role"] == "admin" and "roles:manage" in roles["permissions"]
    refreshed = dev_stack.rest("POST", "/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert refreshed.status_code == 200


def test_explorer_is_served_in_dev(dev_stack: Stack) -> None:
    import httpx

    page = httpx.get(dev_stack.router_url, headers={"accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_concurrent_refreshes_of_one_token_on_sqlite_rotate_it_at_most_once(dev_stack: Stack) -> None:
    """SQLite ignores SELECT ... FOR UPDATE: claiming the token is one guarded UPDATE, so of sixteen
    concurrent uses of one refresh token exactly one gets a new session (before, several did), and the
    others are refused as ADR 0003 says: 401 UNAUTHENTICATED, the token `REUSED` (or, once that revoked
    its family, `REVOKED`)."""
    import asyncio

    import httpx

    signed_in = dev_stack.rest("POST", "/auth/dev", json={"email": "racer@example.org", "name": "Racer"})
    refresh_token = signed_in.json()["data"]["refresh_token"]

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=dev_stack.rest_url, timeout=30) as client:
            calls = [client.post("/auth/refresh", json={"refresh_token": refresh_token}) for _ in range(16)]
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(race())
    assert sorted(r.status_code for r in responses) == [200] + [401] * 15, [r.text for r in responses]
    for refused in (r.json() for r in responses if r.status_code == 401):
        assert refused["success"] is False and refused["error"]["code"] == "UNAUTHENTICATED", refused
        assert refused["error"]["details"]["reason"] in ("REUSED", "REVOKED"), refused


def test_dev_mail_goes_to_the_console_and_the_history(dev_stack: Stack) -> None:
    signed_in = dev_stack.rest("POST", "/auth/dev", json={"email": "mail@example.org", "name": "Mail Reader"})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["data"]["access_token"]
    deadline = time.monotonic() + 20
    while "To: mail@example.org" not in dev_stack.log_path.read_text():
        assert time.monotonic() < deadline, dev_stack.log_tail()
        time.sleep(0.2)
    log = dev_stack.log_path.read_text()
    assert "Subject: Welcome to CourseGraph, Mail Reader" in log, "the whole email, on the console"
    history = dev_stack.rest("GET", "/notifications", token=token).json()["data"]["items"]
    assert [(e["type"], e["status"], e["recipient"]) for e in history] == [
        ("welcome", "sent", "mail@example.org")
    ]
    assert history[0]["provider_message_id"].startswith("console-")


CATALOG = "{ courses(first: 100) { totalCount edges { node { id } } } }"


def test_seeding_while_dev_runs_reaches_the_catalog_within_seconds(dev_stack: Stack) -> None:
    """The README's way: `make dev`, then `coursegraph seed --reset` in another terminal. The running
    courses service follows the catalog's generation: no restart, and every listed course is real."""
    import subprocess
    import sys

    import pymongo

    from tests.support.stack import REPO

    def seed(*args: str) -> None:
        size = ["--courses=24", "--learners=6", "--instructors=3", "--enrollments-per-learner=1"]
        done = subprocess.run(
            [sys.executable, "-m", "coursegraph_cli", "seed", *size, *args],
            cwd=REPO,
            env=dev_stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    store: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{dev_stack.env['COURSEGRAPH_DEV_MONGODB_PORT']}/"
    )

    def published() -> set[str]:
        courses = store["coursegraph_courses"]["courses"].find({"status": "published"}, {"_id": 1})
        return {str(course["_id"]) for course in courses}

    def listed() -> set[str]:
        page = dev_stack.graphql(CATALOG).json()["data"]["courses"]
        ids = {edge["node"]["id"] for edge in page["edges"]}
        assert page["totalCount"] == len(ids)
        return ids

    try:
        catalogs = []
        for args in (["--seed=3"], ["--reset", "--seed=4"]):
            seed(*args)
            expected, seeded_at = published(), time.monotonic()
            while (catalog := listed()) != expected:
                assert time.monotonic() - seeded_at < 5, f"{len(catalog ^ expected)} courses differ after 5 s"
                time.sleep(0.2)
            catalogs.append(expected)
        assert catalogs[1] and catalogs[0].isdisjoint(catalogs[1]), "the reset replaced every seeded course"

        signed_in = dev_stack.rest(
            "POST", "/auth/dev", json={"email": "seeded-reader@example.org", "name": "R"}
        )
        token = signed_in.json()["data"]["access_token"]
        for course_id in sorted(expected)[:5]:
            enrolled = dev_stack.rest("POST", f"/courses/{course_id}/enroll", token=token)
            assert enrolled.status_code == 201, enrolled.text
    finally:
        seed("--clear")
        store.close()


def test_dev_says_ready_with_its_urls_only_once_every_service_is_ready(
    dev_stack: Stack, start_watch: StartWatch
) -> None:
    rounds = start_watch.rounds
    assert rounds and rounds[-1][0], f"no ready line within 120 s:\n{dev_stack.log_tail()}"
    early = [not_ready for printed, not_ready in rounds if printed and not_ready]
    assert early == [], "the ready line came before these services were ready"
    assert rounds[0][1], "the watch began after the start (nothing was seen not ready)"
    log = dev_stack.log_path.read_text(errors="replace")
    assert log.index("CourseGraph is starting (dev profile)") < log.index(READY_LINE)
    banner = log[log.index(READY_LINE) :]
    assert re.match(r"CourseGraph is ready in \d+\.\d s \(dev profile\)\n", banner), banner[:80]
    assert dev_stack.router_url in banner and f"{dev_stack.rest_url}/docs" in banner


def test_the_web_app_is_served_in_dev(dev_stack: Stack) -> None:
    """`make dev` serves the web app, pointed at this stack's router and REST layer."""
    root = httpx.get(dev_stack.web_url.removesuffix("app/"), timeout=10)
    assert root.status_code == 307 and root.headers["location"] == "/app/", root
    page = httpx.get(dev_stack.web_url, timeout=10)
    assert page.status_code == 200 and '<script type="importmap">' in page.text
    config = httpx.get(dev_stack.web_url + "config.json", timeout=10).json()
    assert config["graphqlUrl"] == dev_stack.router_url and config["restUrl"] == dev_stack.rest_url
