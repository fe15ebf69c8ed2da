"""Notifications: events per second through the consumer into SendGrid, and enrollment-to-email latency.

Starts a test-profile stack (`coursegraph serve`, every service, Kafka and FerretDB from the test
infrastructure) whose notifications service sends to a local fake of SendGrid's v3 API, then:

1. **Throughput.** Publishes `--events` USER_REGISTERED events (each carries its recipient) to
   user.events at once and times until the fake has every welcome email: events per second through the
   consumer (records, template, SendGrid, outcome, commit). Baseline, same run: the same number of emails
   sent straight to the fake by the same SendGrid client, with the consumer's concurrency (what the
   fake and the client alone allow).
2. **Latency.** `--enrollments` learners, one at a time, each enrolls in a published course through REST
   (`POST /courses/:id/enroll`); the time from sending that request to the fake receiving the enrollment
   email, p50 and p99 (the target is p99 < 1 s). Baseline, same run: the enroll request's own latency.

    uv run python bench/notifications.py --events 2000 --enrollments 100 --json run.json
    uv run python bench/notifications.py --smoke     # 20 events, 3 enrollments

Needs `uv run coursegraph infra up`. Not a test: pytest does not collect it.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import infra_urls, machine, percentile
from subgraphs.notifications.delivery import Email, SendGridMailer
from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid
from tests.support.kafka import publish_registrations
from tests.support.stack import Stack, run_test_stack

CONCURRENCY = 8  # the notifications service's default (COURSEGRAPH_NOTIFICATIONS_CONCURRENCY)
CREATE = """mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { course { id } errors { code } }
}"""
PUBLISH = """mutation($id: ID!) { publishCourse(id: $id) { course { id status } errors { code } } }"""


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def delivered(fake: FakeSendGrid, addresses: set[str]) -> list[dict[str, Any]]:
    with fake.lock:
        return [m for m in fake.received if m["personalizations"][0]["to"][0]["email"] in addresses]


def direct_sends(fake: FakeSendGrid, count: int) -> float:
    """Emails per second straight to the fake, `CONCURRENCY` at a time, with the consumer's client."""
    mailer = SendGridMailer(fake.api_key, sender="bench@coursegraph.test", host=fake.base_url)
    mail = Email("direct@bench.example.org", "Welcome", "text part", "<p>html part</p>", key="k")

    def send(_: int) -> None:
        mailer._send_once(mail)  # one request, as the consumer's threads make them

    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, range(count)))
    return count / (time.monotonic() - started)


def consumer_throughput(stack: Stack, fake: FakeSendGrid, bootstrap: str, count: int) -> float:
    run = uuid.uuid4().hex[:8]
    addresses = [f"throughput-{run}-{i}@bench.example.org" for i in range(count)]
    wanted = set(addresses)
    started = time.monotonic()
    asyncio.run(publish_registrations(bootstrap, addresses, name="Bench"))
    wait_for(lambda: len(delivered(fake, wanted)) >= count, 600, f"{count} welcome emails")
    last = max(float(m["received_at"]) for m in delivered(fake, wanted))
    return count / (last - started)


def sign_in(stack: Stack, email: str) -> str:
    response = stack.rest("POST", "/auth/dev", json={"email": email, "name": "Bench Learner"})
    response.raise_for_status()
    return str(response.json()["data"]["access_token"])


def enrollment_latency(
    stack: Stack, fake: FakeSendGrid, admin: str, count: int
) -> tuple[list[float], list[float]]:
    """(enroll request latencies, enrollment-to-email latencies), in seconds."""
    token = sign_in(stack, admin)
    lessons = [{"title": "Lesson", "content": "Text", "mediaUrl": None}]
    course_input = {
        "title": "Bench course",
        "description": "",
        "modules": [{"title": "M", "lessons": lessons}],
    }
    course = stack.graphql(CREATE, {"input": course_input}, token=token).json()["data"]["createCourse"][
        "course"
    ]
    stack.graphql(PUBLISH, {"id": course["id"]}, token=token).raise_for_status()
    requests: list[float] = []
    emails: list[float] = []
    run = uuid.uuid4().hex[:8]
    for i in range(count):
        address = f"latency-{run}-{i}@bench.example.org"
        learner = sign_in(stack, address)
        wait_for(lambda a=address: len(delivered(fake, {a})) >= 1, 30, "the welcome email")
        sent = time.monotonic()
        answer = stack.rest("POST", f"/courses/{course['id']}/enroll", token=learner)
        requests.append(time.monotonic() - sent)
        assert answer.status_code == 201, answer.text
        wait_for(lambda a=address: len(delivered(fake, {a})) >= 2, 30, "the enrollment email")
        (enrolled,) = [m for m in delivered(fake, {address}) if m["subject"].startswith("You are enrolled")]
        emails.append(enrolled["received_at"] - sent)
    return requests, emails


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": percentile(ordered, 0.5) * 1000, "p99_ms": percentile(ordered, 0.99) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--enrollments", type=int, default=100)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--smoke", action="store_true", help="20 events and 3 enrollments (tests/bench)")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.enrollments = 20, 3

    urls = infra_urls()
    admin = f"bench-admin-{uuid.uuid4().hex[:8]}@bench.example.org"
    with run_fake_sendgrid() as fake, tempfile.TemporaryDirectory(prefix="bench-notifications-") as data:
        env = {
            "COURSEGRAPH_SENDGRID_API_KEY": fake.api_key,
            "COURSEGRAPH_SENDGRID_HOST": fake.base_url,
            "COURSEGRAPH_DEV_SIGN_IN": "true",
            "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
            "COURSEGRAPH_LOG_LEVEL": "WARNING",
        }
        with run_test_stack(
            Path(data),
            database_url=urls["COURSEGRAPH_DATABASE_URL"],
            mongodb_url=urls["COURSEGRAPH_MONGODB_URL"],
            kafka_bootstrap=urls["COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"],
            admin_email=admin,
            env=env,
        ) as (stack, _, _):
            ready = stack.subgraph_urls["notifications"].removesuffix("/graphql") + "/ready"
            wait_for(lambda: httpx.get(ready, timeout=5).json()["consumer"]["healthy"], 60, "the consumer")
            direct = direct_sends(fake, args.events)
            through = consumer_throughput(
                stack, fake, urls["COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"], args.events
            )
            requests, emails = enrollment_latency(stack, fake, admin, args.enrollments)

    result = {
        "command": " ".join(["uv run python bench/notifications.py", *sys.argv[1:]]),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "throughput": {
            "events": args.events,
            "baseline_direct_emails_per_s": round(direct, 1),
            "consumer_events_per_s": round(through, 1),
            "ratio": round(through / direct, 3),
        },
        "latency": {
            "enrollments": args.enrollments,
            "baseline_enroll_request": summary(requests),
            "enrollment_to_email": summary(emails),
            "ratio_p50": round(summary(emails)["p50_ms"] / summary(requests)["p50_ms"], 2),
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
