"""A local fake of SendGrid's v3 mail-send API (https://www.twilio.com/docs/sendgrid/api-reference/mail-send).

  POST /v3/mail/send   `Authorization: Bearer <api key>`, the v3 JSON body
                       -> 202 with `X-Message-Id`, empty body; 401 for another key; 400 with SendGrid's
                          `{"errors": [{"message", "field", "help"}]}` for a body without what the API
                          requires (personalizations with a `to`, `from`, a subject, content)
  GET /v3/messages    the Email Activity API's "filter all messages", for the one query CourseGraph asks:
                       `query=unique_args['<name>']="<value>"` -> `{"messages": [{"msg_id", "to_email",
                       "subject", "status"}]}`; 400 for a query it does not understand
Test-only control: `answers` is a queue of scripted answers (status, headers, recipient) used before the
normal 202;
`received` holds every accepted message; `requests` counts every request.

`run_fake_sendgrid()` runs it on a free port in a background thread and yields the handle.
"""

import asyncio
import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.support.servers import serve_in_thread


@dataclass
class FakeSendGrid:
    api_key: str = field(default_factory=lambda: f"SG.fake-{uuid.uuid4().hex}")
    base_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    # Scripted answers: (status, headers, recipient or None for any), used in order before the normal 202.
    answers: list[tuple[int, dict[str, str], str | None]] = field(default_factory=list)
    requests: int = 0
    delay_seconds: float = 0.0  # how long each mail send takes (a SendGrid under load)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[dict[str, Any]]:
        """The accepted messages addressed to `address`."""
        with self.lock:
            return [m for m in self.received if m["personalizations"][0]["to"][0]["email"] == address]

    def answer_next(
        self, status: int, headers: dict[str, str] | None = None, *, to: str | None = None
    ) -> None:
        """Answer the next mail send (to `to` only, when given) with `status` and `headers`."""
        with self.lock:
            self.answers.append((status, headers or {}, to))

    def _scripted(self, body: Any) -> tuple[int, dict[str, str]] | None:
        try:
            recipient = body["personalizations"][0]["to"][0]["email"]
        except (KeyError, IndexError, TypeError):
            recipient = None
        with self.lock:
            for index, (status, headers, to) in enumerate(self.answers):
                if to is None or to == recipient:
                    del self.answers[index]
                    return status, headers
        return None


def _missing(body: Any) -> list[dict[str, str | None]]:
    """What the v3 API requires that `body` lacks, as SendGrid reports it."""
    if not isinstance(body, dict):
        return [{"message": "Bad Request", "field": None, "help": None}]
    errors = []
    personalizations = body.get("personalizations")
    if not personalizations or not all(isinstance(p, dict) and p.get("to") for p in personalizations):
        errors.append({"message": "The personalizations field is required.", "field": "personalizations"})
    if not isinstance(body.get("from"), dict) or not body["from"].get("email"):
        errors.append({"message": "The from object must be provided.", "field": "from"})
    has_subject = body.get("subject") or all(p.get("subject") for p in personalizations or [{}])
    if not has_subject:
        errors.append({"message": "The subject is required.", "field": "subject"})
    if not body.get("content"):
        errors.append(
            {"message": "Unless a valid template_id is provided, content is required.", "field": "content"}
        )
    return [{**error, "help": None} for error in errors]


def _unique_arg_query(query: str) -> tuple[str, str] | None:
    """`unique_args['name']="value"` -> (name, value)."""
    match = re.fullmatch(r"""unique_args\['([^']+)'\]="([^"]*)\"""", query.strip())
    return (match.group(1), match.group(2)) if match else None


def fake_sendgrid_app(fake: FakeSendGrid) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/v3/messages")
    async def messages(request: Request, query: str = "", limit: int = 10) -> Response:
        if request.headers.get("authorization") != f"Bearer {fake.api_key}":
            return JSONResponse({"errors": [{"message": "Permission denied, wrong credentials"}]}, 401)
        if request_key := _unique_arg_query(query):
            name, value = request_key
            with fake.lock:
                found = [m for m in fake.received if (m.get("custom_args") or {}).get(name) == value]
            listed = [
                {
                    "msg_id": f"{m['message_id']}.filter0001p1.1.0",
                    "to_email": m["personalizations"][0]["to"][0]["email"],
                    "subject": m["subject"],
                    "status": "delivered",
                }
                for m in found[:limit]
            ]
            return JSONResponse({"messages": listed})
        return JSONResponse({"errors": [{"message": "invalid query", "field": "query"}]}, 400)

    @app.post("/v3/mail/send")
    async def send(request: Request) -> Response:
        with fake.lock:
            fake.requests += 1
        if request.headers.get("authorization") != f"Bearer {fake.api_key}":
            return JSONResponse({"errors": [{"message": "Permission denied, wrong credentials"}]}, 401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        scripted = fake._scripted(body)
        if scripted is not None:
            status, headers = scripted
            return JSONResponse({"errors": [{"message": f"scripted {status}"}]}, status, headers=headers)
        errors = _missing(body)
        if errors:
            return JSONResponse({"errors": errors}, 400)
        if fake.delay_seconds:
            await asyncio.sleep(fake.delay_seconds)
        message_id = uuid.uuid4().hex
        with fake.lock:
            fake.received.append({**body, "message_id": message_id, "received_at": time.monotonic()})
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    return app


@contextlib.contextmanager
def run_fake_sendgrid(fake: FakeSendGrid | None = None, *, port: int | None = None) -> Iterator[FakeSendGrid]:
    """Serve `fake` (a new one by default) on `port` (a free one by default)."""
    fake = fake or FakeSendGrid()
    with serve_in_thread(fake_sendgrid_app(fake), port=port) as base_url:
        fake.base_url = base_url
        yield fake
