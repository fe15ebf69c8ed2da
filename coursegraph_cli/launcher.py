"""Run CourseGraph: Python services in one process (one uvicorn server per port) plus the router.

One process is what the dev profile's in-process event bus needs; in production each service runs on its
own (`coursegraph serve users`, one per container). The router is Node (Hive Gateway), a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from coursegraph.settings import Profile, ServiceSettings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.applications import Starlette

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTER_DIR = REPO_ROOT / "router"
WEB_DIR = REPO_ROOT / "web"


# Each service's app factory, imported when the service starts: a command that runs no service (or only
# some) does not pay for importing the others.
def _auth_app() -> FastAPI:
    from subgraphs.auth.app import create_app

    return create_app()


def _users_app() -> FastAPI:
    from subgraphs.users.app import create_app

    return create_app()


def _courses_app() -> FastAPI:
    from subgraphs.courses.app import create_app

    return create_app()


def _assessments_app() -> FastAPI:
    from subgraphs.assessments.app import create_app

    return create_app()


def _media_app() -> FastAPI:
    from subgraphs.media.app import create_app

    return create_app()


def _notifications_app() -> FastAPI:
    from subgraphs.notifications.app import create_app

    return create_app()


def _rest_compat_app() -> FastAPI:
    from rest_compat.app import create_app

    return create_app()


def _web_app() -> Starlette:
    from coursegraph_cli.web import create_app

    return create_app()


@dataclass(frozen=True)
class PythonService:
    name: str
    factory: Callable[[], Starlette]  # called by uvicorn when the server starts (factory=True)

    def port(self, settings: ServiceSettings) -> int:
        return int(getattr(settings, f"{self.name.replace('-', '_')}_port"))


# Start order matters only for logs; the router retries subgraphs until they answer.
PYTHON_SERVICES = {
    service.name: service
    for service in (
        PythonService("auth", _auth_app),
        PythonService("users", _users_app),
        PythonService("courses", _courses_app),
        PythonService("assessments", _assessments_app),
        PythonService("media", _media_app),
        PythonService("notifications", _notifications_app),
        PythonService("rest-compat", _rest_compat_app),
    )
}
SUBGRAPHS = [name for name in PYTHON_SERVICES if name != "rest-compat"]
ALL_SERVICES = [*PYTHON_SERVICES, "router"]
# The web app is no part of the API: `coursegraph dev` runs it too, `coursegraph serve web` on its own.
WEB = PythonService("web", _web_app)
SERVERS = {**PYTHON_SERVICES, WEB.name: WEB}
KNOWN_SERVICES = [*ALL_SERVICES, WEB.name]


class LaunchError(RuntimeError):
    """Something the user must fix before the stack can start; printed without a traceback."""


KEEP_ALIVE_SECONDS = 75
KEEP_ALIVE_HINT_SECONDS = 60


class _EmbeddedServer(uvicorn.Server):
    """Several servers share one loop, so signals are handled once by the launcher, not by each."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_server(service: PythonService, settings: ServiceSettings) -> _EmbeddedServer:
    config = uvicorn.Config(
        service.factory,
        factory=True,
        host=settings.host,
        port=service.port(settings),
        loop="none",  # the launcher's loop (uvloop) is already running
        http="httptools",
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        proxy_headers=False,
        # Callers (the router, service clients) reuse idle connections. A server that closes one as a
        # request arrives on it makes that request fail ("socket hang up"): keep idle connections well
        # past the clients' own idle limits (httpx 5 s), and tell Node clients, which honour the hint,
        # to drop theirs first.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        headers=[("Keep-Alive", f"timeout={KEEP_ALIVE_HINT_SECONDS}")],
    )
    return _EmbeddedServer(config)


def ensure_router_installed() -> None:
    """Install the gateway's npm packages on first use (npm's cache lives outside the clone)."""
    _ensure_npm_packages(ROUTER_DIR, ROUTER_DIR / "node_modules" / ".bin" / "hive-gateway", "the router")


def ensure_web_installed() -> None:
    """Install the web app's npm packages on first use (the browser loads them from web/node_modules)."""
    _ensure_npm_packages(WEB_DIR, WEB_DIR / "node_modules" / "preact", "the web app")


def _ensure_npm_packages(directory: Path, installed: Path, what: str) -> None:
    if installed.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise LaunchError(f"Node.js and npm are needed for {what}: install them (Node 20+).")
    logger.info("installing the npm packages of %s (first run)", what)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=directory, check=True)  # noqa: S603 fixed argv


def router_command(settings: ServiceSettings) -> list[str]:
    return [
        str(ROUTER_DIR / "node_modules" / ".bin" / "hive-gateway"),
        "supergraph",
        "-c",
        str(ROUTER_DIR / "gateway.config.ts"),
        "--port",
        str(settings.router_port),
        "--host",
        settings.host,
    ]


def router_environment(settings: ServiceSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "COURSEGRAPH_PROFILE": settings.profile.value,
            "LOG_JSON": "1" if settings.log_json else "0",
            "COURSEGRAPH_ROUTER_PORT": str(settings.router_port),
            "COURSEGRAPH_SUPERGRAPH_PATH": str(ROUTER_DIR / "supergraph.graphql"),
            "COURSEGRAPH_JWKS_URL": settings.jwks_url,
            "COURSEGRAPH_JWT_ISSUER": settings.jwt_issuer,
            "COURSEGRAPH_JWT_AUDIENCE": settings.jwt_audience,
        }
    )
    for name in SUBGRAPHS:
        port = PYTHON_SERVICES[name].port(settings)
        env[f"COURSEGRAPH_SUBGRAPH_URL_{name.upper()}"] = f"http://{settings.host}:{port}/graphql"
    return env


def dev_mongodb_command(settings: ServiceSettings) -> list[str] | None:
    """In dev without a configured MongoDB, FerretDB on SQLite in the data dir (built on first use)."""
    if settings.mongodb_url or settings.profile is not Profile.DEV:
        return None
    from coursegraph_cli.infra.services import FerretDB

    ferretdb = FerretDB()
    try:
        ferretdb.ensure_installed()
    except RuntimeError as exc:
        raise LaunchError(
            f"The courses service needs a MongoDB-compatible server and FerretDB could not be built ({exc}). "
            "Install Go, or set COURSEGRAPH_MONGODB_URL to a MongoDB you run."
        ) from exc
    return ferretdb.command(settings.dev_mongodb_port, (settings.data_dir / "ferretdb").resolve())


def readiness_urls(names: list[str], settings: ServiceSettings) -> dict[str, str]:
    """Where each named service says it is ready: the Python services' /ready, the router's /readiness."""
    return {
        name: f"http://{settings.host}:{settings.router_port}/readiness"
        if name == "router"
        else f"http://{settings.host}:{SERVERS[name].port(settings)}/ready"
        for name in names
    }


async def wait_until_ready(
    urls: dict[str, str],
    *,
    on_waiting: Callable[[list[str]], None] | None = None,
    remind_every: float = 15.0,
    interval: float = 0.2,
) -> None:
    """Return once every URL has answered 200; every `remind_every` seconds until then, tell `on_waiting`
    which services have not."""
    waiting = dict(urls)
    reminded = time.monotonic()
    # Loopback only: no proxy from the environment.
    async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
        while waiting:
            for name, url in list(waiting.items()):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code == 200:
                        del waiting[name]
            if not waiting:
                return
            if on_waiting is not None and time.monotonic() - reminded >= remind_every:
                reminded = time.monotonic()
                on_waiting(sorted(waiting))
            await asyncio.sleep(interval)


async def run_services(
    names: list[str],
    settings: ServiceSettings,
    *,
    on_ready: Callable[[], None] | None = None,
    on_waiting: Callable[[list[str]], None] | None = None,
) -> int:
    """Serve the named services until SIGINT/SIGTERM; returns an exit code. `on_ready` is called once every
    service's readiness has passed (`on_waiting` meanwhile, with those not ready yet)."""
    unknown = set(names) - set(KNOWN_SERVICES)
    if unknown:
        raise LaunchError(
            f"unknown services: {', '.join(sorted(unknown))} (known: {', '.join(KNOWN_SERVICES)})"
        )
    if WEB.name in names:
        ensure_web_installed()
    servers = {name: _uvicorn_server(SERVERS[name], settings) for name in names if name != "router"}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(server.serve(), name=name) for name, server in servers.items()
    ]
    router: asyncio.subprocess.Process | None = None
    if "router" in names:
        ensure_router_installed()
        router = await asyncio.create_subprocess_exec(
            *router_command(settings), env=router_environment(settings), cwd=ROUTER_DIR
        )
        tasks.append(asyncio.create_task(router.wait(), name="router"))

    mongodb: asyncio.subprocess.Process | None = None
    uses_mongodb = {"courses", "assessments", "media", "notifications"} & set(names)
    if uses_mongodb and (command := dev_mongodb_command(settings)) is not None:
        mongodb = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
        tasks.append(asyncio.create_task(mongodb.wait(), name="ferretdb"))

    announcer: asyncio.Task[None] | None = None
    if on_ready is not None:

        async def announce() -> None:
            await wait_until_ready(readiness_urls(names, settings), on_waiting=on_waiting)
            on_ready()

        announcer = asyncio.create_task(announce(), name="readiness")

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    if announcer is not None:
        announcer.cancel()
    exit_code = 0
    if stopper not in done:
        # Something stopped on its own: that is a failure, bring the rest down.
        failed = next(iter(done))
        error = None if failed.cancelled() else failed.exception()
        logger.error("%s stopped unexpectedly; shutting down", failed.get_name(), exc_info=error)
        exit_code = 1
    for server in servers.values():
        server.should_exit = True
    for child in (router, mongodb):
        if child is not None and child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), timeout=10)
            except TimeoutError:
                child.kill()
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    return exit_code
