"""Subscriptions (issue 18): how many `courseActivity` and `enrollmentProgress` subscribers one router and one
courses replica hold, the memory each costs, and the fan-out latency from a lesson completion to every one.

Starts a test-profile stack (`coursegraph serve`: every Python service in one process, the courses
subgraph among them, the router its child; Kafka and FerretDB from the test infrastructure) with the
router's per-user subscription cap and request limit off, since one client opens everything. Then, for
each subscription and each number of subscribers in `--levels`:

1. A new learner enrolls in a course of many lessons. The resident memory (RSS, from /proc) of the
   router (node) and of the Python services' process is sampled idle (median over a few seconds).
2. N graphql-transport-ws clients connect to the router, one WebSocket and one token each, as N browsers
   would, and subscribe: to `courseActivity` of the course as an admin (who may watch every course), or
   to `enrollmentProgress` as that learner (the same learner's N devices). The tokens are the signed-in
   admin's or learner's claims with a jti each, signed with the stack's key (N sign-ins would take
   minutes): the router opens one subgraph WebSocket per token, as for N users. A first write reaches every
   one of them (each has answered: every subscription is live up to the subgraph), then the RSS is
   sampled again: (after - before) / N is the memory per subscriber, for each process.
3. `--rounds` times, the learner completes a lesson through the router; the time from sending that
   mutation to each subscriber receiving the update (LESSON_COMPLETED, or the new progress) is one
   sample. Reported: p50 and p99 over every sample, and the median and worst of each round's last
   arrival (the time to reach every subscriber).

The clients run in this process (one asyncio loop, orjson), on the same two cores as the stack: at 1,000
subscribers their own reading is part of the tail. Loopback only.

    uv run python bench/subscriptions.py --json run.json
    uv run python bench/subscriptions.py --smoke      # 1 and 5 subscribers, 2 rounds (tests/bench)

Needs `uv run coursegraph infra up`. Not a test: pytest does not collect it.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from bench.common import infra_urls, machine, percentile, write_report
from bench.gradebook_csv import idle, processes
from tests.support.stack import Stack, run_test_stack

ACTIVITY = "subscription($c: ID!) { courseActivity(courseId: $c) { kind lessonId missed } }"
PROGRESS = "subscription($c: ID!) { enrollmentProgress(courseId: $c) { progress } }"
CREATE = """mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { course { id modules { lessons { id } } } errors { code } }
}"""
PUBLISH = "mutation($id: ID!) { publishCourse(id: $id) { course { id } errors { code } } }"
ENROLL = "mutation($c: ID!) { enroll(courseId: $c) { enrollment { id } errors { code } } }"
COMPLETE = (
    "mutation($c: ID!, $l: ID!) { completeLesson(courseId: $c, lessonId: $l) { enrollment { progress } } }"
)
CONNECT_AT_ONCE = 50  # WebSockets opened concurrently while subscribers are added
WAIT_SECONDS = 60.0  # for an update to reach every subscriber, else the run fails
WARM_UP_LESSONS = 5  # completions tried, each given WARM_UP_SECONDS, until one reaches every subscriber
WARM_UP_SECONDS = 5.0


def tokens_like(token: str, count: int, signing_key: bytes) -> list[str]:
    """`count` access tokens of the caller of `token` (same user, role and expiry), each its own, as
    `count` browsers signed in would hold: signed with the stack's key instead of `count` sign-ins."""
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    return [
        jwt.encode({**claims, "jti": uuid.uuid4().hex}, signing_key, algorithm="RS256", headers={"kid": kid})
        for _ in range(count)
    ]


def progress_marker(progress: float) -> str:
    return f"{float(progress):.2f}"


@dataclass
class Subscribers:
    """N sockets of one subscription; each `next` is recorded by its marker (lesson id or progress)."""

    sockets: list[ClientConnection] = field(default_factory=list)
    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[Any] = field(default_factory=list)
    readers: list["asyncio.Task[None]"] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # set on every arrival and error

    async def read(self, socket: ClientConnection) -> None:
        async for raw in socket:
            message = orjson.loads(raw)
            if message.get("type") != "next":
                if message.get("type") in ("error", "complete"):
                    self.errors.append(message)
                    self.changed.set()
                continue
            payload = message["payload"]
            if payload.get("errors"):
                self.errors.append(payload["errors"])
                self.changed.set()
                continue
            data = payload["data"]
            if "courseActivity" in data:
                activity = data["courseActivity"]
                if activity["kind"] != "LESSON_COMPLETED":
                    continue
                marker = str(activity["lessonId"])
            else:
                marker = progress_marker(data["enrollmentProgress"]["progress"])
            self.arrivals[marker].append(time.monotonic())
            self.changed.set()

    async def add(self, router_url: str, token: str, query: str, course_id: str) -> None:
        url = router_url.replace("http://", "ws://", 1)
        socket = await ws_connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=30, ping_interval=None
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await socket.send(orjson.dumps(init).decode())
        ack = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"connection refused: {ack}")
        payload = {"query": query, "variables": {"c": course_id}}
        await socket.send(orjson.dumps({"id": "s", "type": "subscribe", "payload": payload}).decode())
        self.sockets.append(socket)
        self.readers.append(asyncio.create_task(self.read(socket)))

    async def _until(self, marker: str, count: int) -> list[float]:
        while len(self.arrivals[marker]) < count:
            if self.errors:
                raise SystemExit(f"a subscription failed: {self.errors[:3]}")
            self.changed.clear()
            await self.changed.wait()
        return self.arrivals[marker]

    async def reached(self, marker: str, count: int) -> bool:
        """Whether `count` subscribers receive the update within WARM_UP_SECONDS."""
        try:
            async with asyncio.timeout(WARM_UP_SECONDS):
                await self._until(marker, count)
        except TimeoutError:
            return False
        return True

    async def wait_for(self, marker: str, count: int) -> list[float]:
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                return await self._until(marker, count)
        except TimeoutError:
            got = len(self.arrivals[marker])
            raise SystemExit(f"only {got} of {count} subscribers received {marker}") from None

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)


async def measure(
    stack: Stack, admin: str, subscription: str, subscribers: int, rounds: int, signing_key: bytes
) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:

        async def graphql(query: str, variables: dict[str, Any], token: str) -> Any:
            headers = {"authorization": f"Bearer {token}"}
            response = await client.post(
                stack.router_url, json={"query": query, "variables": variables}, headers=headers
            )
            body = response.json()
            if body.get("errors"):
                raise SystemExit(f"{query[:40]}…: {body['errors']}")
            return body["data"]

        lessons = [
            {"title": f"L{n}", "content": "", "mediaUrl": None} for n in range(rounds + WARM_UP_LESSONS)
        ]
        created = await graphql(
            CREATE,
            {
                "input": {
                    "title": f"Bench {uuid.uuid4().hex[:6]}",
                    "modules": [{"title": "M", "lessons": lessons}],
                }
            },
            admin,
        )
        course = created["createCourse"]["course"]
        lesson_ids = [lesson["id"] for lesson in course["modules"][0]["lessons"]]
        await graphql(PUBLISH, {"id": course["id"]}, admin)
        signed_in = await client.post(
            stack.rest_url + "/auth/dev",
            json={"email": f"bench-{uuid.uuid4().hex[:8]}@bench.example.org", "name": "Bench Learner"},
        )
        learner = str(signed_in.json()["data"]["access_token"])
        await graphql(ENROLL, {"c": course["id"]}, learner)

        pids = processes(stack)
        before = await asyncio.to_thread(idle, pids)
        group = Subscribers()
        token, query = (admin, ACTIVITY) if subscription == "courseActivity" else (learner, PROGRESS)
        # One token each: the router shares a subgraph WebSocket among the subscriptions of one token
        # (connectionParams), as it would for one user's tabs; N browsers hold N tokens.
        tokens = tokens_like(token, subscribers, signing_key)
        opened = time.monotonic()
        for start in range(0, subscribers, CONNECT_AT_ONCE):
            await asyncio.gather(
                *(
                    group.add(stack.router_url, each, query, course["id"])
                    for each in tokens[start : start + CONNECT_AT_ONCE]
                )
            )
        if subscription == "enrollmentProgress":
            await group.wait_for(
                progress_marker(0), subscribers
            )  # each one's first answer: the enrollment as it is
        # Warm-up completions until one reaches everyone: every subscription is live, up to the subgraph
        # (a courseActivity subscription answers nothing before its first activity).
        progress_step = 100 / len(lesson_ids)
        for warm_up, lesson in enumerate(lesson_ids[:WARM_UP_LESSONS], start=1):
            await graphql(COMPLETE, {"c": course["id"], "l": lesson}, learner)
            marker = lesson if subscription == "courseActivity" else progress_marker(warm_up * progress_step)
            if await group.reached(marker, subscribers):
                break
        else:
            raise SystemExit(f"no warm-up completion reached all {subscribers} subscribers")
        opened_seconds = time.monotonic() - opened
        await asyncio.sleep(1)
        after = await asyncio.to_thread(idle, pids)

        samples: list[float] = []
        everyone: list[float] = []
        for n, lesson in enumerate(lesson_ids[warm_up : warm_up + rounds], start=warm_up + 1):
            sent = time.monotonic()
            await graphql(COMPLETE, {"c": course["id"], "l": lesson}, learner)
            marker = lesson if subscription == "courseActivity" else progress_marker(n * progress_step)
            arrivals = await group.wait_for(marker, subscribers)
            latencies = sorted(arrival - sent for arrival in arrivals)
            samples += latencies
            everyone.append(latencies[-1])
            await asyncio.sleep(0.2)
        await group.close()

    samples.sort()
    everyone.sort()
    mib = 1024 * 1024
    return {
        "subscription": subscription,
        "subscribers": subscribers,
        "rounds": rounds,
        "seconds_to_open_all": round(opened_seconds, 2),
        "latency_ms": {
            "p50": round(percentile(samples, 0.5) * 1000, 1),
            "p99": round(percentile(samples, 0.99) * 1000, 1),
            "to_every_subscriber_median": round(percentile(everyone, 0.5) * 1000, 1),
            "to_every_subscriber_worst": round(everyone[-1] * 1000, 1),
        },
        "rss_mib": {
            name: {"before": round(before[name] / mib, 1), "after": round(after[name] / mib, 1)}
            for name in pids
        },
        "kib_per_subscriber": {
            name: round((after[name] - before[name]) / subscribers / 1024, 1) for name in pids
        },
    }


def measure_in_a_stack(
    subscription: str, levels: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    urls = infra_urls()
    admin_email = f"bench-admin-{uuid.uuid4().hex[:8]}@bench.example.org"
    env = {
        "COURSEGRAPH_DEV_SIGN_IN": "true",
        "COURSEGRAPH_ROUTER_RATE_LIMIT": "0",
        "COURSEGRAPH_ROUTER_MAX_SUBSCRIPTIONS": "0",  # one user opens them all
        "COURSEGRAPH_LOG_LEVEL": args.log_level,
    }
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-subscriptions-") as data,
        run_test_stack(
            Path(data),
            database_url=urls["COURSEGRAPH_DATABASE_URL"],
            mongodb_url=urls["COURSEGRAPH_MONGODB_URL"],
            kafka_bootstrap=urls["COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS"],
            admin_email=admin_email,
            env=env,
        ) as (stack, _, _),
    ):
        signed_in = stack.rest("POST", "/auth/dev", json={"email": admin_email, "name": "Bench Admin"})
        signed_in.raise_for_status()
        admin = str(signed_in.json()["data"]["access_token"])
        signing_key = (Path(data) / "keys" / "jwt-signing.pem").read_bytes()
        try:
            for level in levels:
                load_before = os.getloadavg()[0]
                result = asyncio.run(measure(stack, admin, subscription, level, args.rounds, signing_key))
                # The machine is shared: how busy it was (1-minute load average) is part of the figure.
                result["load_average"] = {"before": load_before, "after": os.getloadavg()[0]}
                print(orjson.dumps(result).decode(), flush=True)
                results.append(result)
        finally:
            if args.keep_log:
                shutil.copy(Path(data) / "stack.log", args.keep_log)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,100,1000", help="numbers of subscribers, comma-separated")
    parser.add_argument("--rounds", type=int, default=10, help="completions measured at each level")
    parser.add_argument(
        "--subscriptions", default="courseActivity,enrollmentProgress", help="which, comma-separated"
    )
    parser.add_argument("--json", default=None, help="write the report here ('-': stdout)")
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the stack's log here at the end")
    parser.add_argument("--log-level", default="WARNING", help="the stack's (debug shows every WebSocket)")
    parser.add_argument("--smoke", action="store_true", help="1 and 5 subscribers, 2 rounds (tests/bench)")
    args = parser.parse_args()
    if args.smoke:
        args.levels, args.rounds = "1,5", 2
    levels = [int(level) for level in args.levels.split(",")]
    subscriptions = args.subscriptions.split(",")

    results = []
    for subscription in subscriptions:
        # A stack each: memory a process freed is not given back, and would hide the next one's cost.
        results += measure_in_a_stack(subscription, levels, args)
    report = {
        "command": " ".join(["uv run python bench/subscriptions.py", *sys.argv[1:]]),
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    if args.json:
        write_report(report, args.json)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
