"""A throwaway Federation 2.9 subgraph for the router's end-to-end test.

It is not part of CourseGraph: it only lets `test_router_gateway.py` observe what the gateway
forwards. Run as a script:

    python tests/e2e/_router_fixture_subgraph.py --print-sdl
    python tests/e2e/_router_fixture_subgraph.py --port 4101 --jwks-file /tmp/jwks.json

It serves GraphQL (HTTP and graphql-transport-ws) at `/graphql` and the JWKS read from
`--jwks-file` at `/.well-known/jwks.json` (the gateway's key source in the test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import strawberry
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from graphql import GraphQLError
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info


def _header(info: Info[Any, Any], name: str) -> str | None:
    request = info.context["request"]
    value: str | None = request.headers.get(name)
    return value


@strawberry.type
class Echo:
    """What the subgraph received from the gateway."""

    authorization: str | None
    request_id: str | None
    traceparent: str | None
    tracestate: str | None


@strawberry.type
class Level:
    """A self-nesting type, to build queries of any depth."""

    depth: int

    @strawberry.field
    def next(self) -> Level:
        return Level(depth=self.depth + 1)


@strawberry.federation.type(keys=["id"])
class Thing:
    """An entity, so the subgraph links the federation spec like the real ones do."""

    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Thing:
        return Thing(id=id)


@strawberry.type
class Query:
    @strawberry.field
    def thing(self, id: strawberry.ID) -> Thing:
        return Thing(id=id)

    @strawberry.field
    def whoami(self, info: Info[Any, Any]) -> Echo:
        return Echo(
            authorization=_header(info, "authorization"),
            request_id=_header(info, "x-request-id"),
            traceparent=_header(info, "traceparent"),
            tracestate=_header(info, "tracestate"),
        )

    @strawberry.field
    def level(self) -> Level:
        return Level(depth=1)

    @strawberry.field
    def forbidden_thing(self) -> str | None:
        raise GraphQLError("not for you", extensions={"code": "FORBIDDEN"})

    @strawberry.field
    def broken_thing(self) -> str | None:
        raise GraphQLError("a subgraph error without a code")

    @strawberry.field
    def failing(self, code: str) -> str | None:
        """An error with the code asked for, as a subgraph raises one."""
        raise GraphQLError(f"failed with {code}", extensions={"code": code})


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def whoami_stream(self, info: Info[Any, Any], count: int = 2) -> AsyncGenerator[str | None, None]:
        """Yields the Authorization the gateway put in the WebSocket connectionParams."""
        params = info.context.get("connection_params") or {}
        authorization = params.get("Authorization") or params.get("authorization")
        for _ in range(count):
            yield authorization
            await asyncio.sleep(0.05)


schema = strawberry.federation.Schema(
    query=Query,
    subscription=Subscription,
    federation_version="2.9",
)


def create_app(jwks: dict[str, Any]) -> FastAPI:
    app = FastAPI()
    app.include_router(GraphQLRouter(schema, graphql_ide=None), prefix="/graphql")

    @app.get("/.well-known/jwks.json")
    async def jwks_endpoint() -> JSONResponse:
        return JSONResponse(jwks)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print-sdl", action="store_true", help="print the SDL and exit")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--jwks-file", type=Path)
    args = parser.parse_args(argv)

    if args.print_sdl:
        sys.stdout.write(schema.as_str() + "\n")
        return 0
    if not args.port or args.jwks_file is None:
        parser.error("--port and --jwks-file are required to serve")
    jwks = json.loads(args.jwks_file.read_text())
    uvicorn.run(create_app(jwks), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
