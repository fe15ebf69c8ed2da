"""Tracing end to end: a REST request followed through rest-compat, the router and the subgraphs.

A stack of its own exports to an OTLP/HTTP receiver in this process. The test is the client: it sends
its own `traceparent`, so it knows the trace id every service must continue.
"""

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import E2EStack, StartStack
from tests.support.kafka import collect_events
from tests.support.otlp import CLIENT, CONSUMER, SERVER, OtlpReceiver, ReceivedSpan, run_otlp_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with run_otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced(start_stack: StartStack, otlp: OtlpReceiver) -> Iterator[E2EStack]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second, not the default 5 s
    }
    with start_stack("traced-stack", env) as running:
        yield running


def new_trace() -> tuple[str, str, dict[str, str]]:
    """A trace id, the caller's span id, and the header that starts the trace at the caller."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, {"traceparent": f"00-{trace_id}-{span_id}-01"}


def entry_spans(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    """Where the trace enters `service`: its spans whose parent belongs to another service (or none)."""
    by_id = {span.span_id: span for span in spans}
    return [
        span
        for span in spans
        if span.service == service
        and (span.parent_span_id not in by_id or by_id[span.parent_span_id].service != service)
    ]


def caller(spans: list[ReceivedSpan], span: ReceivedSpan) -> ReceivedSpan | None:
    return next((other for other in spans if other.span_id == span.parent_span_id), None)


def entered(*services: str, client_span_id: str) -> Any:
    """Every service has been entered, and every span's parent has arrived too (the services export in
    their own batches, so a child can arrive before its parent): the trace is whole."""

    def done(spans: list[ReceivedSpan]) -> bool:
        ids = {span.span_id for span in spans} | {client_span_id}
        return all(any(s.kind == SERVER for s in entry_spans(spans, name)) for name in services) and all(
            span.parent_span_id in ids for span in spans
        )

    return done


def is_database_span(span: ReceivedSpan) -> bool:
    return span.kind == CLIENT and bool(
        span.attributes.get("db.system") or span.attributes.get("db.system.name")
    )


def log_lines(stack: E2EStack, trace_id: str) -> list[dict[str, Any]]:
    """The JSON lines the Python services wrote inside the trace."""
    lines = []
    for raw in stack.log_path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("trace_id") == trace_id:
            lines.append(line)
    return lines


def test_a_rest_request_is_one_trace_through_router_and_subgraphs(
    traced: E2EStack, otlp: OtlpReceiver
) -> None:
    instructor = traced.sign_in_as("instructor", name="Traced Instructor")
    course = traced.create_course(instructor["access_token"])
    trace_id, client_span_id, headers = new_trace()

    response = traced.rest(
        "GET", f"/courses/{course['id']}", token=instructor["access_token"], headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["instructor"]["name"] == "Traced Instructor"  # from the users subgraph

    services = ("rest-compat", "router", "courses", "users")
    spans = otlp.wait_for(trace_id, entered(*services, client_span_id=client_span_id))
    assert {span.service for span in spans} >= set(services), sorted({(s.service, s.name) for s in spans})

    # Each service is entered once by a server span, and that span's parent is its caller's span.
    callers = {"router": "rest-compat", "courses": "router", "users": "router"}
    for service in services:
        entries = entry_spans(spans, service)
        assert entries and all(span.kind == SERVER for span in entries), (service, entries)
        for entry in entries:
            if service == "rest-compat":
                assert entry.parent_span_id == client_span_id  # the test's own span
                continue
            parent = caller(spans, entry)
            assert parent is not None and parent.service == callers[service], (service, entry, parent)
    # rest-compat's outgoing call is a client span (httpx), and the router continues exactly that one.
    (router_entry,) = entry_spans(spans, "router")
    parent = caller(spans, router_entry)
    assert parent is not None and parent.kind == CLIENT

    # Inside the subgraphs: GraphQL execution and store calls, children of the same trace.
    for service in ("courses", "users"):
        names = [span.name for span in spans if span.service == service]
        assert any(name.startswith("GraphQL") for name in names), names
        assert any(is_database_span(span) for span in spans if span.service == service), names
    # Argument values (ids here, emails or token hashes elsewhere) are never recorded.
    leaked = [(s.name, key) for s in spans for key in s.attributes if key.startswith("graphql.param.")]
    assert leaked == []
    # No span per resolver: they cost about 5x the services' CPU per request (docs/performance.md).
    assert not [s.name for s in spans if s.name.startswith("GraphQL Resolving")]

    # A log line written while serving the request names the trace and one of its spans.
    lines = log_lines(traced, trace_id)
    assert lines, traced.log_tail()
    span_ids = {span.span_id for span in otlp.in_trace(trace_id)}
    assert all(line["span_id"] in span_ids and line["request_id"] for line in lines), lines


def test_the_trace_reaches_the_oauth_provider_and_the_auth_logs(traced: E2EStack, otlp: OtlpReceiver) -> None:
    trace_id, client_span_id, headers = new_trace()
    body = {"code": "not-a-code", "code_verifier": "v" * 43, "redirect_uri": "http://localhost:3000/callback"}

    response = traced.rest("POST", "/auth/google", json=body, headers=headers)
    assert response.status_code == 401, response.text

    spans = otlp.wait_for(
        trace_id,
        lambda spans: (
            entered("auth", client_span_id=client_span_id)(spans)
            and any(s.service == "auth" and s.kind == CLIENT for s in spans)
        ),
    )
    (auth_entry,) = entry_spans(spans, "auth")
    parent = caller(spans, auth_entry)
    assert parent is not None and parent.service == "router"
    # auth's call to the provider's token endpoint is a client span in the same trace.
    provider_calls = [
        span
        for span in spans
        if span.service == "auth"
        and span.kind == CLIENT
        and str(span.attributes.get("url.full") or span.attributes.get("http.url")).startswith(
            traced.provider.url
        )
    ]
    assert provider_calls, [(s.service, s.name, s.attributes) for s in spans]
    # The subgraph's own log line, two hops from the client, carries the client's trace id.
    rejected = [line for line in log_lines(traced, trace_id) if line["logger"] == "subgraphs.auth.providers"]
    assert rejected and "rejected the code" in rejected[0]["message"], traced.log_tail()


async def test_an_event_carries_the_trace_to_its_consumers(
    traced: E2EStack, otlp: OtlpReceiver, kafka_bootstrap: str
) -> None:
    instructor = traced.sign_in_as("instructor")
    course = traced.create_course(instructor["access_token"])
    learner = traced.sign_in()
    trace_id, _, headers = new_trace()

    enrolled = traced.rest(
        "POST", f"/courses/{course['id']}/enroll", token=learner["access_token"], headers=headers
    )
    assert enrolled.status_code == 201, enrolled.text

    # The relay publishes later, outside the request; the event still names the request's trace.
    events = await collect_events(
        kafka_bootstrap,
        "course.events",
        lambda e: e["event_type"] == "COURSE_ENROLLED" and e["course_id"] == course["id"],
    )
    assert len(events) == 1
    _, event = events[0]
    version, event_trace_id, event_span_id, _flags = event["traceparent"].split("-")
    assert (version, event_trace_id) == ("00", trace_id)

    # The courses service's own listener of course.events continues the trace from the event.
    spans = otlp.wait_for(
        trace_id,
        lambda spans: (
            any(span.kind == CONSUMER and span.service == "courses" for span in spans)
            and any(span.span_id == event_span_id for span in spans)
        ),
    )
    # The event was made inside the enroll request's spans in courses.
    made_in = next((span for span in spans if span.span_id == event_span_id), None)
    assert made_in is not None and made_in.service == "courses", made_in
    consumers = [span for span in spans if span.kind == CONSUMER]
    assert consumers, sorted({(s.service, s.name) for s in spans})
    # Two consumers follow course.events: the courses service's listener, and notifications (whose
    # enrollment email joins the same trace).
    assert all(span.name == "process course.events" for span in consumers), consumers
    assert {span.service for span in consumers} <= {"courses", "notifications"}
    assert any(span.service == "courses" and span.parent_span_id == event_span_id for span in consumers)
