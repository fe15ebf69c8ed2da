"""The e2e fixtures live in tests/support/e2e.py, a plugin of the whole suite (the browser tests use the same
session stack). Its helpers stay importable from here. Its session fixtures are never defined or imported
here, or the stack would be started twice; only the e2e-only second courses replica (`second`) lives here."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.e2e import (
    COURSE_FIELDS,
    CREATE_COURSE,
    PUBLISH_COURSE,
    REDIRECT_URI,
    E2EStack,
    StartStack,
    count_users,
    sendgrid_environment,
    unique_email,
    user_snapshot,
    wait_for_notifications_consumer,
)
from tests.support.router import Router, run_router
from tests.support.servers import free_port, wait_until_ready
from tests.support.stack import REPO

__all__ = [
    "COURSE_FIELDS",
    "CREATE_COURSE",
    "PUBLISH_COURSE",
    "REDIRECT_URI",
    "E2EStack",
    "StartStack",
    "count_users",
    "sendgrid_environment",
    "unique_email",
    "user_snapshot",
    "wait_for_notifications_consumer",
]


@dataclass
class SecondReplica:
    """Courses replica 2 and router B in front of it (every other subgraph: the stack's)."""

    courses_url: str
    router: Router


@pytest.fixture(scope="module")
def second(stack: E2EStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondReplica]:
    logs = tmp_path_factory.mktemp("replicas")
    port = free_port()
    env = {**stack.stack.env, "COURSEGRAPH_COURSES_PORT": str(port)}
    with (
        open(logs / "courses-2.log", "w") as log,
        contextlib.ExitStack() as cleanup,
    ):
        process = subprocess.Popen(
            [sys.executable, "-m", "coursegraph_cli", "serve", "courses"],
            cwd=REPO,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("COURSEGRAPH_")}, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        cleanup.callback(process.wait, timeout=20)
        cleanup.callback(process.send_signal, signal.SIGTERM)
        wait_until_ready(f"http://127.0.0.1:{port}/ready", timeout=60, alive=lambda: process.poll() is None)
        router = cleanup.enter_context(
            run_router(
                stack.stack,
                {
                    "COURSEGRAPH_REDIS_URL": env["COURSEGRAPH_REDIS_URL"],
                    "COURSEGRAPH_SUBGRAPH_URL_COURSES": f"http://127.0.0.1:{port}/graphql",
                },
                logs / "router-b.log",
            )
        )
        yield SecondReplica(f"http://127.0.0.1:{port}/graphql", router)
