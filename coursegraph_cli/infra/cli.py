"""`coursegraph infra up|down|status|env`: the real backing services on 127.0.0.1, idempotently."""

import shlex
import time
from typing import Annotated

import typer
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from coursegraph_cli.infra.paths import env_file, state_dir
from coursegraph_cli.infra.process import InfraError, file_lock, tail
from coursegraph_cli.infra.services import ALIASES, SERVICES, Service, port_open

app = typer.Typer(help="Provision and start the backing services used by the tests.", no_args_is_help=True)

ServiceArgs = Annotated[
    list[str] | None,
    typer.Argument(help=f"Services to act on (default: all): {', '.join(SERVICES)}.", show_default=False),
]


def select(names: list[str] | None) -> list[Service]:
    chosen = [ALIASES.get(n.lower(), n.lower()) for n in names or SERVICES]
    if unknown := [n for n in chosen if n not in SERVICES]:
        raise typer.BadParameter(f"unknown service {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    return [SERVICES[n]() for n in dict.fromkeys(chosen)]


def wait_ready(svc: Service, timeout: float) -> None:
    """Poll the real client until it answers; stop early if our process died meanwhile."""

    def attempt() -> bool:
        ready = svc.is_ready()
        if not ready and not svc.external and svc.pid() is None:
            raise InfraError(
                f"{svc.name} exited during startup; last lines of {svc.log_file}:\n{tail(svc.log_file)}"
            )
        return ready

    try:
        Retrying(
            stop=stop_after_delay(timeout), wait=wait_fixed(0.5), retry=retry_if_result(lambda ok: not ok)
        )(attempt)
    except RetryError:
        where = f"{svc.external} (set in {svc.env_key})" if svc.external else svc.url
        log = "" if svc.external else f"; last lines of {svc.log_file}:\n{tail(svc.log_file)}"
        raise InfraError(f"{svc.name} not ready at {where} after {timeout:.0f}s{log}") from None


def check_existing(svc: Service) -> str | None:
    """What already serves `svc` (external, ours and alive, or someone else's), else None."""
    if svc.external:
        return f"external ({svc.env_key})"
    if svc.pid() is not None:
        return "already running"
    if port_open(svc.port):
        # Not ours (no live pid file), e.g. another clone's instance: use it if it answers.
        if svc.is_ready():
            return f"port {svc.port} served by a process not started from this clone; using it"
        raise InfraError(f"port {svc.port} is taken by another program")
    return None


def write_env() -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    lines = []
    for cls in SERVICES.values():
        service = cls()
        lines += [f"{service.env_key}={service.url}", *(f"{k}={v}" for k, v in service.extra_env().items())]
    env_file().write_text("\n".join(lines) + "\n")


@app.command()
def up(services: ServiceArgs = None) -> None:
    """Install (cached), start and wait for the services; restart whatever died."""
    failed: list[str] = []

    def fail(svc: Service, exc: InfraError) -> None:
        typer.secho(f"{svc.name}: {exc}", err=True, fg="red")
        failed.append(svc.name)

    with file_lock(state_dir() / "lock"):
        notes: dict[str, str] = {}
        to_start: list[Service] = []
        for svc in select(services):
            try:
                note = check_existing(svc)
                if note is None:
                    svc.ensure_installed()
                    to_start.append(svc)
                else:
                    notes[svc.name] = note
                    wait_ready(svc, 15.0)
                    typer.echo(f"{svc.name:9} ready  {svc.url}  ({note})")
            except InfraError as exc:
                fail(svc, exc)
        # Launch everything, then wait: the JVM boots while the others come up.
        launched: list[tuple[Service, float]] = []
        for svc in to_start:
            try:
                launched.append((svc, time.monotonic()))
                svc.start()
            except InfraError as exc:
                fail(svc, exc)
        for svc, begin in launched:
            if svc.name in failed:
                continue
            try:
                wait_ready(svc, svc.start_timeout)
                typer.echo(f"{svc.name:9} ready  {svc.url}  (started in {time.monotonic() - begin:.1f}s)")
            except InfraError as exc:
                fail(svc, exc)
        write_env()
    if failed:
        typer.secho(f"not ready: {', '.join(failed)}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"wrote {env_file()}")


@app.command()
def down(services: ServiceArgs = None) -> None:
    """Stop the services this clone started (found by their pid files)."""
    with file_lock(state_dir() / "lock"):
        for svc in reversed(select(services)):
            if svc.external:
                typer.echo(f"{svc.name:9} external, not ours to stop")
            elif svc.pid() is None:
                typer.echo(f"{svc.name:9} not running")
            else:
                svc.stop()
                typer.echo(f"{svc.name:9} stopped")


@app.command()
def status() -> None:
    """Show which backing services are running and answering."""
    for svc in select(None):
        pid = svc.pid()
        owner = "external" if svc.external else (f"pid {pid}" if pid else "not running")
        health = "ready" if svc.is_ready() else "unreachable"
        typer.echo(f"{svc.name:9} {health:11} {owner:12} {svc.url}")


@app.command()
def env() -> None:
    """Print the services' URLs as `export` lines, for `eval "$(coursegraph infra env)"`."""
    for cls in SERVICES.values():
        service = cls()
        typer.echo(f"export {service.env_key}={shlex.quote(service.url)}")
        for key, value in service.extra_env().items():
            typer.echo(f"export {key}={shlex.quote(value)}")
