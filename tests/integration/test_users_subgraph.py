"""The users subgraph on real PostgreSQL: batched entity references, and internal operations kept internal."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from coursegraph.db import count_statements
from subgraphs.users.app import UsersSettings, create_app
from subgraphs.users.models import User
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id name } }
}"""


@pytest.fixture(scope="module")
def users_app(database_url: str, kafka_bootstrap: str) -> Iterator[tuple[str, AsyncEngine]]:
    settings = UsersSettings(
        profile="test", database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap
    )
    app = create_app(settings)
    with serve_in_thread(app) as base:
        yield f"{base}/graphql", app.state.engine


@pytest.fixture(scope="module")
async def user_ids(users_app: tuple[str, AsyncEngine]) -> list[uuid.UUID]:
    _, engine = users_app
    now = datetime.now(UTC)
    rows = [
        User(
            id=uuid.uuid4(),
            email=f"batch-{uuid.uuid4().hex}@example.org",
            name=f"Batch {index}",
            provider="google",
            provider_id=uuid.uuid4().hex,
            role="instructor",
            created_at=now,
            updated_at=now,
        )
        for index in range(12)
    ]
    ids = [row.id for row in rows]
    # The service's engine belongs to the server thread's loop: insert through one of our own.
    own = create_async_engine(engine.url.render_as_string(hide_password=False))
    async with async_sessionmaker(own)() as session, session.begin():
        session.add_all(rows)
    await own.dispose()
    return ids


@pytest.mark.parametrize("count", [2, 12])
def test_entity_references_are_one_query_whatever_their_number(
    users_app: tuple[str, AsyncEngine], user_ids: list[uuid.UUID], count: int
) -> None:
    url, engine = users_app
    representations = [{"__typename": "User", "id": str(user_id)} for user_id in user_ids[:count]]
    with count_statements(engine) as statements:
        response = httpx.post(
            url, json={"query": ENTITIES, "variables": {"representations": representations}}
        )
    entities = response.json()["data"]["_entities"]
    assert [entity["id"] for entity in entities] == [str(user_id) for user_id in user_ids[:count]]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects


def test_unknown_references_resolve_to_null(users_app: tuple[str, AsyncEngine]) -> None:
    url, _ = users_app
    representations = [{"__typename": "User", "id": str(uuid.uuid4())}]
    response = httpx.post(url, json={"query": ENTITIES, "variables": {"representations": representations}})
    assert response.json()["data"]["_entities"] == [None]


def test_internal_operations_refuse_anyone_but_a_service(users_app: tuple[str, AsyncEngine]) -> None:
    url, _ = users_app
    mutation = """mutation { upsertOAuthUser(input: {provider: "google", providerId: "x",
      email: "x@example.org", emailVerified: true, name: "X", bootstrapAdmin: true}) { id role } }"""
    body = httpx.post(url, json={"query": mutation}).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] is None
