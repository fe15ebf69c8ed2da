"""A CourseGraph checkout to benchmark: its own Python environment, its seed command and its stack.

The load client always runs from this repository; the code it measures can be another checkout, e.g. a
`git worktree` of an older commit, so that a baseline and today's code run in one session on the same
machine. Everything of the measured side comes from that checkout: `uv sync --frozen` there (once), its
interpreter, its `coursegraph seed` and its `coursegraph serve` (started as tests/support/stack.py's
run_stack starts one: free loopback ports, every service and the router in one process group).

Older checkouts have the command line at `coursegraph.cli`, newer ones at `coursegraph_cli`.
"""

import hashlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursegraph_cli.infra.paths import cache_dir
from tests.support.servers import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[1]
SUBGRAPHS = ("auth", "users", "courses", "assessments")
# Every service gets a free port, not only those waited for: a default port may be another stack's.
PORTS = (*SUBGRAPHS, "media", "notifications", "rest-compat", "router")


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603 (git with fixed arguments)
        ["git", *args],  # noqa: S607 (git from PATH)
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.strip()


def _clean_environment() -> dict[str, str]:
    """This process's environment without its virtualenv or CourseGraph settings: a checkout's own
    interpreter and settings must not be steered by the load client's."""
    skip = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("COURSEGRAPH_")}


@dataclass(frozen=True)
class Checkout:
    path: Path
    python: Path  # the checkout's own interpreter (.venv/bin/python)
    cli: str  # the module run with `python -m`: coursegraph_cli or coursegraph.cli

    def describe(self) -> dict[str, Any]:
        """The commit, and the uncommitted changes (work in progress) the measured code has on top of it:
        how many files, and a fingerprint that is the same for the same changes. Not bench/ (the load
        client), nor the router packages _ensure_router may have linked."""
        paths = ("--", ".", ":(exclude)bench", ":(exclude)router/node_modules")
        changed = _git(self.path, "status", "--porcelain", *paths).splitlines()
        fingerprint = hashlib.sha1(_git(self.path, "diff", "HEAD", *paths).encode(), usedforsecurity=False)
        for name in _git(self.path, "ls-files", "--others", "--exclude-standard", *paths).splitlines():
            if (self.path / name).is_file():
                fingerprint.update(name.encode() + b"\0" + (self.path / name).read_bytes())
        return {
            "path": str(self.path),
            "commit": _git(self.path, "rev-parse", "HEAD"),
            "subject": _git(self.path, "log", "-1", "--format=%s"),
            "changed_files": len(changed),
            "changes": fingerprint.hexdigest()[:12] if changed else None,
            "cli": self.cli,
        }

    def seed(self, env: dict[str, str], options: list[str], log_path: Path) -> None:
        """`coursegraph seed` of this checkout, with its interpreter, configured by `env`."""
        with log_path.open("w") as log:
            run = subprocess.run(  # noqa: S603 (the checkout's own CLI, fixed arguments)
                [str(self.python), "-m", self.cli, "seed", *options],
                cwd=self.path,
                env={**_clean_environment(), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=3600,
                check=False,
            )
        if run.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise SystemExit(f"seeding failed ({self.path}):\n{tail}")


def open_checkout(path: Path, say: Callable[[str], None]) -> Checkout:
    """The checkout at `path`, with its Python environment and the router's packages installed."""
    path = path.resolve()
    if (path / "coursegraph_cli" / "__main__.py").is_file():
        cli = "coursegraph_cli"
    elif (path / "coursegraph" / "cli.py").is_file():
        cli = "coursegraph.cli"
    else:
        raise SystemExit(f"{path} is no CourseGraph checkout (no coursegraph_cli/ nor coursegraph/cli.py)")
    python = path / ".venv" / "bin" / "python"
    if not python.exists():
        say(f"uv sync --frozen in {path}")
        subprocess.run(
            ["uv", "sync", "--frozen"],  # noqa: S607 (uv from PATH, as the Makefile runs it)
            cwd=path,
            env=_clean_environment(),
            check=True,
            timeout=1800,
        )
    _ensure_router(path, say)
    return Checkout(path, python, cli)


def _ensure_router(path: Path, say: Callable[[str], None]) -> None:
    """The router's npm packages: this repository's, linked, when the lock file is the same; else npm ci."""
    router = path / "router"
    if (router / "node_modules" / ".bin" / "hive-gateway").exists():
        return
    ours = REPO / "router"
    same_lock = (ours / "package-lock.json").read_bytes() == (router / "package-lock.json").read_bytes()
    if same_lock and (ours / "node_modules" / ".bin" / "hive-gateway").exists() and path != REPO:
        say(f"linking {router / 'node_modules'} to {ours / 'node_modules'} (same package-lock.json)")
        (router / "node_modules").symlink_to(ours / "node_modules", target_is_directory=True)
        return
    say(f"npm ci in {router}")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607 (npm from PATH, as the launcher runs it)
        cwd=router,
        check=True,
        timeout=1800,
    )


def worktree(ref: str, say: Callable[[str], None]) -> Path:
    """A git worktree of `ref` (detached) in the cache, created once and reused afterwards."""
    commit = _git(REPO, "rev-parse", "--verify", f"{ref}^{{commit}}")
    path = cache_dir() / "bench-worktrees" / commit[:12]
    if (path / ".git").exists():
        if _git(path, "rev-parse", "HEAD") != commit:
            raise SystemExit(f"{path} is not at {commit}: remove it (git worktree remove) and run again")
        return path
    say(f"git worktree add --detach {path} {commit[:12]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _git(REPO, "worktree", "add", "--detach", str(path), commit)
    return path


@dataclass(frozen=True)
class RunningStack:
    router_url: str  # .../graphql
    rest_url: str
    subgraph_urls: dict[str, str]  # name -> .../graphql (each subgraph directly)
    pid: int  # the `coursegraph serve` process: the Python services, with the router as its child
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def serve(checkout: Checkout, env: dict[str, str], log_path: Path, timeout: float) -> Iterator[RunningStack]:
    """`coursegraph serve` of `checkout` on free loopback ports, configured by `env`, until the block ends."""
    ports = {name: free_port() for name in PORTS}
    host = "127.0.0.1"
    full_env = {
        **_clean_environment(),
        "COURSEGRAPH_LOG_JSON": "true",
        **{f"COURSEGRAPH_{name.upper().replace('-', '_')}_PORT": str(port) for name, port in ports.items()},
        "COURSEGRAPH_DEV_MONGODB_PORT": str(free_port()),
        "COURSEGRAPH_JWKS_URL": f"http://{host}:{ports['auth']}/.well-known/jwks.json",
        "COURSEGRAPH_USERS_SUBGRAPH_URL": f"http://{host}:{ports['users']}/graphql",
        "COURSEGRAPH_ROUTER_URL": f"http://{host}:{ports['router']}/graphql",
        "COURSEGRAPH_MEDIA_PUBLIC_URL": f"http://{host}:{ports['media']}",
        **env,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 (the checkout's own CLI, fixed arguments)
            [str(checkout.python), "-m", checkout.cli, "serve"],
            cwd=checkout.path,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = RunningStack(
        router_url=f"http://{host}:{ports['router']}/graphql",
        rest_url=f"http://{host}:{ports['rest-compat']}",
        subgraph_urls={name: f"http://{host}:{ports[name]}/graphql" for name in SUBGRAPHS},
        pid=process.pid,
        log_path=log_path,
    )
    try:

        def alive() -> bool:
            return process.poll() is None

        try:
            for name in SUBGRAPHS:
                wait_until_ready(f"http://{host}:{ports[name]}/ready", timeout=timeout, alive=alive)
            wait_until_ready(f"http://{host}:{ports['router']}/readiness", timeout=timeout, alive=alive)
            wait_until_ready(f"http://{host}:{ports['rest-compat']}/health", timeout=timeout, alive=alive)
        except (TimeoutError, RuntimeError) as exc:
            raise SystemExit(
                f"the stack did not start: {exc}\n--- stack log ---\n{stack.log_tail()}"
            ) from exc
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
