"""End-to-end fixtures: the stack as clients see it (router + rest-compat) on real PostgreSQL and Kafka.

A plugin of the whole suite (tests/conftest.py names it), so tests/e2e and tests/browser share one session
stack. tests/e2e/conftest.py re-exports its helpers under their old import path.
"""

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.fakes.oauth_provider import FakeOAuthProvider, pkce_pair, run_fake_oauth_provider
from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid
from tests.support.stack import Stack, run_test_stack

REDIRECT_URI = "http://localhost:3000/callback"


@pytest.fixture(scope="session")
def oauth_provider() -> Iterator[FakeOAuthProvider]:
    with run_fake_oauth_provider() as fake:
        yield fake


@dataclass
class E2EStack:
    stack: Stack
    provider: FakeOAuthProvider
    admin_email: str
    data_dir: Path
    courses_database: str = "coursegraph_courses"
    assessments_database: str = "coursegraph_assessments"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "keys" / "jwt-signing.pem"

    def google_code(self, email: str, **identity: Any) -> dict[str, str]:
        """Run the client's half of the PKCE flow: a code at the provider, and the body to send us."""
        verifier, challenge = pkce_pair()
        code = self.provider.register_code(
            "google", email=email, code_challenge=challenge, redirect_uri=REDIRECT_URI, **identity
        )
        return {"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT_URI}

    def sign_in(self, email: str | None = None, **identity: Any) -> dict[str, Any]:
        """Sign in through REST with Google; returns the envelope's data (tokens and user)."""
        email = email or unique_email()
        response = self.stack.rest("POST", "/auth/google", json=self.google_code(email, **identity))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def sign_in_admin(self) -> dict[str, Any]:
        return self.sign_in(self.admin_email, name="Admin")

    def sign_in_as(self, role: str, name: str | None = None) -> dict[str, Any]:
        """A new user with `role` (learner, instructor, admin): promoted by the admin, then refreshed so
        the access token carries the role. Returns the sign-in data (tokens and user)."""
        tokens = self.sign_in(name=name or f"{role.title()} {uuid.uuid4().hex[:6]}")
        if role == "learner":
            return tokens
        admin = self.sign_in_admin()
        promoted = self.stack.rest(
            "PUT", f"/users/{tokens['user']['id']}", token=admin["access_token"], json={"role": role}
        )
        assert promoted.status_code == 200, promoted.text
        refreshed = self.stack.rest("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        data: dict[str, Any] = refreshed.json()["data"]
        return data

    def create_course(
        self, token: str, *, title: str | None = None, lessons: int = 3, publish: bool = True
    ) -> dict[str, Any]:
        """A course with one module of `lessons` lessons, through the router; returns the Course."""
        modules = [
            {
                "title": "Module 1",
                "lessons": [
                    {"title": f"Lesson {i + 1}", "content": f"Content {i + 1}", "mediaUrl": None}
                    for i in range(lessons)
                ],
            }
        ]
        created = self.stack.graphql(
            CREATE_COURSE,
            {
                "input": {
                    "title": title or f"Course {uuid.uuid4().hex[:8]}",
                    "description": "",
                    "modules": modules,
                }
            },
            token=token,
        ).json()
        assert created.get("errors") is None and not created["data"]["createCourse"]["errors"], created
        course: dict[str, Any] = created["data"]["createCourse"]["course"]
        if publish:
            published = self.stack.graphql(PUBLISH_COURSE, {"id": course["id"]}, token=token).json()
            assert published.get("errors") is None, published
            course = published["data"]["publishCourse"]["course"]
        return course

    def metrics(self, service: str) -> dict[str, float]:
        """A subgraph's Prometheus counters (`name{labels}` -> value)."""
        base = self.stack.subgraph_urls[service].removesuffix("/graphql")
        values: dict[str, float] = {}
        for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values


COURSE_FIELDS = "id title status lessonCount modules { id title lessons { id title content } }"
CREATE_COURSE = f"""
mutation($input: CreateCourseInput!) {{
  createCourse(input: $input) {{ course {{ {COURSE_FIELDS} }} errors {{ code field message }} }}
}}"""
PUBLISH_COURSE = f"""
mutation($id: ID!) {{
  publishCourse(id: $id) {{ course {{ {COURSE_FIELDS} }} errors {{ code field message }} }}
}}"""


def unique_email(tag: str = "learner") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.org"


StartStack = Callable[[str, dict[str, str]], AbstractContextManager[E2EStack]]


@pytest.fixture(scope="session")
def start_stack(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    mongodb_url: str,
    kafka_bootstrap: str,
    oauth_provider: FakeOAuthProvider,
) -> StartStack:
    """Starts a test-profile stack of its own (named `name`, with `env` on top) on the real services."""

    @contextlib.contextmanager
    def start(name: str, env: dict[str, str]) -> Iterator[E2EStack]:
        data_dir = tmp_path_factory.mktemp(name)
        admin_email = unique_email("admin")
        with run_test_stack(
            data_dir,
            database_url=database_url,
            mongodb_url=mongodb_url,
            kafka_bootstrap=kafka_bootstrap,
            admin_email=admin_email,
            env={**oauth_provider.environment(), **env},
        ) as (running, courses_database, assessments_database):
            yield E2EStack(
                running, oauth_provider, admin_email, data_dir, courses_database, assessments_database
            )

    return start


@pytest.fixture(scope="session")
def sendgrid() -> Iterator[FakeSendGrid]:
    """The fake SendGrid the session's stack sends its emails to."""
    with run_fake_sendgrid() as fake:
        yield fake


def sendgrid_environment(fake: FakeSendGrid) -> dict[str, str]:
    return {"COURSEGRAPH_SENDGRID_API_KEY": fake.api_key, "COURSEGRAPH_SENDGRID_HOST": fake.base_url}


def wait_for_notifications_consumer(stack: Stack, timeout: float = 60) -> dict[str, Any]:
    """Until the notifications consumer has joined its group (a new group starts at the topics' end: an
    event published before it joined would not be its to send). Returns its readiness report."""
    url = stack.subgraph_urls["notifications"].removesuffix("/graphql") + "/ready"
    deadline = time.monotonic() + timeout
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        report = httpx.get(url, timeout=5).json()
        if isinstance(report.get("consumer"), dict) and report["consumer"]["healthy"]:
            return report
        time.sleep(0.2)
    raise AssertionError(f"the notifications consumer did not join its group: {report}")


@pytest.fixture(scope="session")
def stack(start_stack: StartStack, sendgrid: FakeSendGrid) -> Iterator[E2EStack]:
    env = {
        **sendgrid_environment(sendgrid),
        # The suite is one client making many requests: the router's per-client limit is tested on its own.
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
        # Abandoned timed attempts close within seconds, so a test can wait for it.
        "COURSEGRAPH_ASSESSMENT_GRACE_SECONDS": "1",
        "COURSEGRAPH_ASSESSMENT_SWEEP_SECONDS": "1",
        # Recover quickly once Kafka is back (the nothing-lost tests stop it).
        "COURSEGRAPH_OUTBOX_MAX_BACKOFF_SECONDS": "2",
        # Media: a small size limit to exceed, and abandoned uploads cleaned up within seconds.
        "COURSEGRAPH_MEDIA_MAX_BYTES": str(8 * 1024 * 1024),
        "COURSEGRAPH_MEDIA_ABANDONED_AFTER_SECONDS": "3",
        # Upload policies expire soon (the least allowed), so a test can see a replayed upload swept.
        "COURSEGRAPH_MEDIA_UPLOAD_EXPIRY_SECONDS": "10",
        "COURSEGRAPH_MEDIA_CLEANUP_SECONDS": "1",
    }
    with start_stack("stack-data", env) as running:
        wait_for_notifications_consumer(running.stack)
        yield running


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def user_snapshot(db: AsyncEngine, user_id: str) -> dict[str, Any] | None:
    async with db.connect() as connection:
        row = (
            (
                await connection.execute(
                    sa.text("SELECT * FROM users WHERE id = :id"), {"id": uuid.UUID(user_id)}
                )
            )
            .mappings()
            .one_or_none()
        )
    return None if row is None else dict(row)


async def count_users(db: AsyncEngine, email: str) -> int:
    async with db.connect() as connection:
        result = await connection.execute(
            sa.text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}
        )
        return int(result.scalar_one())
