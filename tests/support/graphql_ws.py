"""A graphql-transport-ws client for tests: open a socket on a router, subscribe, read the answers."""

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol


def ws_url(router_url: str) -> str:
    return router_url.replace("http://", "ws://", 1)


async def open_socket(router_url: str, token: str | None = None, **options: Any) -> ClientConnection:
    """A socket on `router_url` (.../graphql), acknowledged; `token` goes in connection_init."""
    protocols = [Subprotocol("graphql-transport-ws")]
    socket = await ws_connect(ws_url(router_url), subprotocols=protocols, **options)
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    return socket


async def subscribe(socket: ClientConnection, op_id: str, query: str, variables: dict[str, Any]) -> None:
    message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    await socket.send(json.dumps(message))


async def first_message(socket: ClientConnection, op_id: str) -> dict[str, Any]:
    """The first `next` or `error` message of operation `op_id` (others' messages are skipped)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if message.get("id") == op_id and message["type"] in ("next", "error"):
            return message


def codes(message: dict[str, Any]) -> list[str]:
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    return [str(error["extensions"]["code"]) for error in errors]
