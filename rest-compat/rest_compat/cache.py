"""HTTP caching of anonymous reads of public resources (ADR 0024, "REST").

For a GET of one of `paths` without an `Authorization` header:
- the answer says `Cache-Control: public, max-age=N, s-maxage=N` and `Vary: Authorization`, so a CDN or
  a browser may keep it N seconds, and carries a weak ETag of its `data` (the envelope's `timestamp` is
  the time of each answer, so two answers are equivalent, never byte-identical: hence weak);
- an `If-None-Match` naming that ETag is answered 304, without a body;
- the answer is kept in this process, keyed by path, query string and the catalog version of the
  `CatalogSignal` (coursegraph/catalog_signal.py): a change to the catalog makes every older entry
  unreachable within the signal's delay (milliseconds). While the version is unknown (Redis down), the
  cache is neither read nor written. Entries also expire (`ttl`): what the signal does not cover (an
  instructor's name, a certificate) is at most that old. Error answers are never kept, and say `no-store`.

A request with an `Authorization` header is the caller's own: never served from or put in the cache, and
answered `Cache-Control: private, no-store` (what it shows may depend on who asks).
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cachetools import TTLCache
from pydantic import TypeAdapter
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coursegraph.catalog_signal import CatalogSignal

PRIVATE = "private, no-store"
_TIMESTAMP = TypeAdapter(datetime)  # the envelope's spelling of its timestamp


@dataclass(frozen=True, slots=True)
class Entry:
    data: bytes  # the envelope's `data`, as JSON
    etag: str


def etag_of(data: bytes) -> str:
    return f'W/"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison against each listed tag, or `*`."""
    if not if_none_match:
        return False
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag.removeprefix("W/") for tag in tags)


def add_vary(headers: MutableHeaders, field: str) -> None:
    """Add `field` to the response's `Vary`, keeping what it names already."""
    present = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    if field.lower() not in (v.lower() for v in present):
        headers["vary"] = ", ".join([*present, field])


class PublicCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Sequence[str],
        signal: CatalogSignal,
        max_age_seconds: int,
        ttl_seconds: float,
        max_entries: int,
    ) -> None:
        self.app = app
        self._paths = [compile_path(path)[0] for path in paths]
        self._signal = signal
        self._public = f"public, max-age={max_age_seconds}, s-maxage={max_age_seconds}"
        self._entries: TTLCache[tuple[str, bytes, int], Entry] = TTLCache(max_entries, ttl_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not any(path.match(scope["path"]) for path in self._paths)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "authorization" in headers:
            await self.app(scope, receive, self._private(send))
            return
        # Read before the answer is made: an answer made while the catalog changes is kept under the
        # version it may predate, which the change has already left behind.
        version = self._signal.version
        key = (scope["path"], scope["query_string"], version) if version is not None else None
        if key is not None and (entry := self._entries.get(key)) is not None:
            await self._send(entry, headers.get("if-none-match"), send)
            return
        await self._answer_and_keep(scope, receive, send, key, headers.get("if-none-match"))

    def _private(self, send: Send) -> Send:
        async def private(message: Message) -> None:
            if message["type"] == "http.response.start":
                response = MutableHeaders(scope=message)
                response["cache-control"] = PRIVATE
                add_vary(response, "Authorization")
            await send(message)

        return private

    async def _answer_and_keep(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: tuple[str, bytes, int] | None,
        if_none_match: str | None,
    ) -> None:
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await finish()

        async def finish() -> None:
            assert start is not None
            response = MutableHeaders(scope=start)
            add_vary(response, "Authorization")
            if start["status"] != 200:
                response["cache-control"] = "no-store"  # an error is never kept, here or downstream
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            data = json.dumps(json.loads(body)["data"], ensure_ascii=False, separators=(",", ":")).encode()
            entry = Entry(data, etag_of(data))
            if key is not None:
                self._entries[key] = entry
            if matches(if_none_match, entry.etag):
                await self._not_modified(entry, send)
                return
            response["cache-control"] = self._public
            response["etag"] = entry.etag
            await send(start)
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, capture)

    async def _send(self, entry: Entry, if_none_match: str | None, send: Send) -> None:
        if matches(if_none_match, entry.etag):
            await self._not_modified(entry, send)
            return
        # The envelope around the kept data, stamped now (the envelope's timestamp is the answer's time).
        body = b"".join(
            (
                b'{"success":true,"data":',
                entry.data,
                b',"error":null,"timestamp":',
                _TIMESTAMP.dump_json(datetime.now(UTC)),
                b"}",
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *self._validators(entry),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _not_modified(self, entry: Entry, send: Send) -> None:
        # RFC 9110 §15.4.5: no body; the validators and caching headers a 200 would have carried.
        await send({"type": "http.response.start", "status": 304, "headers": self._validators(entry)})
        await send({"type": "http.response.body", "body": b""})

    def _validators(self, entry: Entry) -> list[tuple[bytes, bytes]]:
        return [
            (b"etag", entry.etag.encode()),
            (b"cache-control", self._public.encode()),
            (b"vary", b"Authorization"),
        ]
