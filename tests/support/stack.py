"""The whole CourseGraph stack as a user runs it: `coursegraph serve` (subgraphs, rest-compat, router).

Started as a real subprocess on free loopback ports, so tests go through the same router and REST layer
that clients use.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymongo

from tests.support.redis import running_redis
from tests.support.servers import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "users", "courses", "assessments", "media", "notifications", "rest-compat", "router")
SUBGRAPHS = ("auth", "users", "courses", "assessments", "media", "notifications")


@dataclass
class Stack:
    router_url: str  # .../graphql
    rest_url: str
    subgraph_urls: dict[str, str]  # name -> .../graphql
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)  # what the stack runs with
    web_url: str = ""  # the web app (…/app/), when the command serves it (`dev`)

    def kill(self) -> None:
        """SIGKILL every process of the stack at once (services and router), as a crash would: no
        shutdown hooks run, nothing is flushed."""
        if self.process is None:
            raise RuntimeError("this stack was not started by run_stack")
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        return httpx.post(
            url or self.router_url,
            json={"query": query, "variables": variables or {}},
            headers=all_headers,
            timeout=30,
        )

    def rest(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return httpx.request(method, self.rest_url + path, headers=headers, timeout=30, **kwargs)

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def run_stack(
    env: dict[str, str],
    log_path: Path,
    *,
    command: str = "serve",
    while_starting: Callable[[Stack], None] | None = None,
) -> Iterator[Stack]:
    """`coursegraph <command>` on free ports, yielded once every service is ready. `while_starting` runs in
    a thread from the moment the process starts (it watches the start) and is waited for before the yield."""
    ports = {name: free_port() for name in (*SERVICES, "web")}
    host = "127.0.0.1"
    # Only what the caller states: the infra URLs the test session loaded must not leak into a dev stack.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
    full_env = {
        **inherited,
        "COURSEGRAPH_LOG_JSON": "true",
        "COURSEGRAPH_ROUTER_PORT": str(ports["router"]),
        "COURSEGRAPH_REST_COMPAT_PORT": str(ports["rest-compat"]),
        "COURSEGRAPH_AUTH_PORT": str(ports["auth"]),
        "COURSEGRAPH_USERS_PORT": str(ports["users"]),
        "COURSEGRAPH_COURSES_PORT": str(ports["courses"]),
        "COURSEGRAPH_ASSESSMENTS_PORT": str(ports["assessments"]),
        "COURSEGRAPH_MEDIA_PORT": str(ports["media"]),
        "COURSEGRAPH_MEDIA_PUBLIC_URL": f"http://{host}:{ports['media']}",
        "COURSEGRAPH_NOTIFICATIONS_PORT": str(ports["notifications"]),
        "COURSEGRAPH_WEB_PORT": str(ports["web"]),
        # Emails' links point at this stack's REST layer.
        "COURSEGRAPH_APP_URL": f"http://{host}:{ports['rest-compat']}",
        "COURSEGRAPH_PUBLIC_API_URL": f"http://{host}:{ports['rest-compat']}",
        "COURSEGRAPH_DEV_MONGODB_PORT": str(free_port()),
        "COURSEGRAPH_JWKS_URL": f"http://{host}:{ports['auth']}/.well-known/jwks.json",
        "COURSEGRAPH_USERS_SUBGRAPH_URL": f"http://{host}:{ports['users']}/graphql",
        "COURSEGRAPH_ROUTER_URL": f"http://{host}:{ports['router']}/graphql",
        **env,
    }
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "coursegraph_cli", command],
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack = Stack(
        router_url=f"http://{host}:{ports['router']}/graphql",
        rest_url=f"http://{host}:{ports['rest-compat']}",
        subgraph_urls={name: f"http://{host}:{ports[name]}/graphql" for name in SUBGRAPHS},
        log_path=log_path,
        process=process,
        env=full_env,
        web_url=f"http://{host}:{ports['web']}/app/",
    )
    watcher = threading.Thread(target=while_starting, args=(stack,), daemon=True) if while_starting else None
    if watcher is not None:
        watcher.start()
    try:
        alive = lambda: process.poll() is None  # noqa: E731
        try:
            for name in SUBGRAPHS:
                wait_until_ready(f"http://{host}:{ports[name]}/ready", timeout=60, alive=alive)
            wait_until_ready(f"http://{host}:{ports['router']}/readiness", timeout=90, alive=alive)
            wait_until_ready(f"http://{host}:{ports['rest-compat']}/health", timeout=30, alive=alive)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n--- stack log ---\n{stack.log_tail()}") from exc
        if watcher is not None:
            watcher.join()
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@contextlib.contextmanager
def run_test_stack(
    data_dir: Path,
    *,
    database_url: str,
    mongodb_url: str,
    kafka_bootstrap: str,
    admin_email: str,
    env: dict[str, str],
) -> Iterator[tuple[Stack, str, str]]:
    """The test profile on the real backing services; yields the stack and its courses and assessments
    databases. They are its own (dropped afterwards): no other stack writes these documents, which
    FerretDB could not keep consistent across processes (ADR 0010)."""
    run = uuid.uuid4().hex[:8]
    courses_database, assessments_database = f"coursegraph_courses_{run}", f"coursegraph_assessments_{run}"
    notifications_database = f"coursegraph_notifications_{run}"
    media_database = f"coursegraph_media_{run}"
    # Media in the S3 emulator the test infrastructure runs (its endpoint and key pair).
    s3 = {
        key: os.environ[key]
        for key in (
            "COURSEGRAPH_S3_ENDPOINT_URL",
            "COURSEGRAPH_S3_ACCESS_KEY_ID",
            "COURSEGRAPH_S3_SECRET_ACCESS_KEY",
        )
        if key in os.environ
    }
    full_env = {
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_DATA_DIR": str(data_dir),
        "COURSEGRAPH_DATABASE_URL": database_url,
        "COURSEGRAPH_MONGODB_URL": mongodb_url,
        "COURSEGRAPH_COURSES_DATABASE": courses_database,
        "COURSEGRAPH_ASSESSMENTS_DATABASE": assessments_database,
        "COURSEGRAPH_NOTIFICATIONS_DATABASE": notifications_database,
        "COURSEGRAPH_MEDIA_DATABASE": media_database,
        "COURSEGRAPH_MEDIA_STORAGE": "s3",
        **s3,
        "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # Its own consumer groups too: another stack's consumers must not take its events.
        "COURSEGRAPH_KAFKA_CONSUMER_GROUP_PREFIX": f"{run}-",
        "COURSEGRAPH_ADMIN_EMAILS": admin_email,
        **env,
    }
    try:
        with contextlib.ExitStack() as resources:
            if "COURSEGRAPH_REDIS_URL" not in full_env:
                # The routers' limits and the catalog signal in a Redis of the stack's own.
                full_env["COURSEGRAPH_REDIS_URL"] = resources.enter_context(running_redis(data_dir)).url
            running = resources.enter_context(run_stack(full_env, data_dir / "stack.log"))
            yield running, courses_database, assessments_database
    finally:
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(mongodb_url) as client:
            client.drop_database(courses_database)
            client.drop_database(assessments_database)
            client.drop_database(notifications_database)
            client.drop_database(media_database)
