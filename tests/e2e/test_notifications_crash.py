"""Issue 9: the notifications service killed (SIGKILL) mid-batch and restarted sends every email exactly
once, over 3 rounds and more than 200 events; stopped with SIGTERM, it finishes what it has in hand.

The service runs on its own (`coursegraph serve notifications`, as in production) against the real Kafka
and document store, consuming USER_REGISTERED events published here (they carry their recipient). The
fake SendGrid takes 40 ms per email, so a kill always lands while emails are in flight.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from tests.fakes.sendgrid import FakeSendGrid, run_fake_sendgrid
from tests.support.kafka import publish_registrations
from tests.support.servers import free_port, wait_until_ready
from tests.support.stack import REPO

pytestmark = pytest.mark.e2e

ROUNDS = 3
EVENTS_PER_ROUND = 80  # 240 in all
LEASE_SECONDS = 2


@contextlib.contextmanager
def notifications_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "coursegraph_cli", "serve", "notifications"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until_joined(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    try:
        wait_until_ready(f"{base}/ready", timeout=60, alive=lambda: process.poll() is None)
        deadline = time.monotonic() + 60
        while not httpx.get(f"{base}/ready", timeout=5).json()["consumer"]["healthy"]:
            assert time.monotonic() < deadline, "the consumer did not join its group"
            time.sleep(0.1)
    except (RuntimeError, TimeoutError, AssertionError) as exc:
        raise AssertionError(f"{exc}\n{log.read_text()[-3000:]}") from exc


def received(fake: FakeSendGrid, emails: set[str]) -> Counter[str]:
    with fake.lock:
        return Counter(
            m["personalizations"][0]["to"][0]["email"]
            for m in fake.received
            if m["personalizations"][0]["to"][0]["email"] in emails
        )


@pytest.fixture
def service_env(mongodb_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    database = f"coursegraph_notifications_{run}"
    port = free_port()
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("COURSEGRAPH_")}
    env = {
        **inherited,
        "COURSEGRAPH_PROFILE": "test",
        "COURSEGRAPH_DATA_DIR": str(tmp_path),
        "COURSEGRAPH_MONGODB_URL": mongodb_url,
        "COURSEGRAPH_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "COURSEGRAPH_KAFKA_CONSUMER_GROUP_PREFIX": f"{run}-",
        "COURSEGRAPH_NOTIFICATIONS_DATABASE": database,
        "COURSEGRAPH_NOTIFICATIONS_PORT": str(port),
        "COURSEGRAPH_NOTIFICATIONS_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
        "COURSEGRAPH_LOG_JSON": "true",
    }
    yield {"env": env, "base": f"http://127.0.0.1:{port}", "database": database, "log": tmp_path / "svc.log"}
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_url) as client:
        client.drop_database(database)


def test_killed_mid_batch_and_restarted_it_sends_every_email_exactly_once(
    service_env: dict[str, Any], kafka_bootstrap: str, mongodb_url: str
) -> None:
    fake = FakeSendGrid(delay_seconds=0.04)
    emails: list[str] = []
    kills = 0
    with run_fake_sendgrid(fake):
        env = {
            **service_env["env"],
            "COURSEGRAPH_SENDGRID_API_KEY": fake.api_key,
            "COURSEGRAPH_SENDGRID_HOST": fake.base_url,
        }
        log: Path = service_env["log"]
        for round_number in range(ROUNDS):
            with notifications_process(env, log) as process:
                wait_until_joined(service_env["base"], process, log)
                batch = [
                    f"crash-{round_number}-{i}-{uuid.uuid4().hex[:8]}@example.org"
                    for i in range(EVENTS_PER_ROUND)
                ]
                emails += batch
                asyncio.run(publish_registrations(kafka_bootstrap, batch, name="Crash Test"))
                # Kill once a part of this round's emails went out: the rest are claimed, in flight or queued.
                deadline = time.monotonic() + 60
                while sum(received(fake, set(batch)).values()) < EVENTS_PER_ROUND // 3:
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.005)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                kills += 1
                assert sum(received(fake, set(batch)).values()) < EVENTS_PER_ROUND, "killed mid-batch"

        # Restarted: everything left goes out, once (claims of the dead process wait out their lease).
        with notifications_process(env, log) as process:
            wait_until_joined(service_env["base"], process, log)
            deadline = time.monotonic() + 120
            while set(received(fake, set(emails))) != set(emails):
                assert time.monotonic() < deadline, (
                    f"missing {len(set(emails) - set(received(fake, set(emails))))}"
                )
                time.sleep(0.2)
            time.sleep(LEASE_SECONDS + 2)  # anything sent twice would have come by now
            metrics = httpx.get(service_env["base"] + "/metrics", timeout=5).text

            # SIGTERM: the service stops gracefully (finishes its batch, commits, leaves the group).
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0

    counts = received(fake, set(emails))
    assert kills == ROUNDS and len(emails) == ROUNDS * EVENTS_PER_ROUND >= 200
    assert set(counts) == set(emails), "none lost"
    assert [email for email, n in counts.items() if n > 1] == [], "none twice"
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongodb_url) as client:
        records: list[dict[str, Any]] = list(client[service_env["database"]]["notifications"].find())
    statuses = Counter(str(record["status"]) for record in records)
    assert statuses == {"sent": len(emails)}, statuses
    assert "coursegraph_notifications_consumer_lag 0.0" in metrics
