"""The `coursegraph` command line: run the stack, export schemas, provision test infrastructure."""

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
import uvloop

from coursegraph.observability import configure_logging
from coursegraph.settings import ServiceSettings
from coursegraph_cli.infra.cli import app as infra_app
from coursegraph_cli.launcher import ALL_SERVICES, KNOWN_SERVICES, SUBGRAPHS, WEB, LaunchError, run_services
from coursegraph_cli.seed import HELP as SEED_HELP
from coursegraph_cli.seed import command as seed_command

app = typer.Typer(help="CourseGraph: a GraphQL federation learning-management backend.", no_args_is_help=True)
app.add_typer(infra_app, name="infra")
app.command("seed", help=SEED_HELP)(seed_command)  # the demo catalog (coursegraph_cli/seed.py)

BANNER = """
CourseGraph is ready in {seconds:.1f} s ({profile} profile)
  Web app:                     http://{host}:{web}/app/
  GraphQL (router, explorer):  http://{host}:{router}/graphql
  REST compatibility API:      http://{host}:{rest}/docs
  Subgraphs:                   {subgraphs}
  Data:                        {data}
Dev sign-in: POST http://{host}:{rest}/auth/dev {{"email": "admin@example.org", "name": "Ada"}}
Press Ctrl-C to stop.
"""


@app.command()
def serve(
    services: Annotated[
        list[str] | None,
        typer.Argument(help=f"Services to run (default: all but web): {', '.join(KNOWN_SERVICES)}"),
    ] = None,
) -> None:
    """Run services in this process (and the router as a child), configured from the environment."""
    settings = ServiceSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    raise typer.Exit(_run(services or ALL_SERVICES, settings))


@app.command()
def web() -> None:
    """Serve the web app alone (http://HOST:WEB_PORT/app/), pointed at the API by COURSEGRAPH_WEB_*."""
    settings = ServiceSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    raise typer.Exit(_run([WEB.name], settings))


@app.command()
def dev() -> None:
    """Run all of CourseGraph on embedded defaults: SQLite, in-process events, dev sign-in. The URLs are
    printed once every service says it is ready (its /ready, the router's /readiness)."""
    started = time.monotonic()
    os.environ.setdefault("COURSEGRAPH_PROFILE", "dev")
    os.environ.setdefault("COURSEGRAPH_LOG_JSON", "false")
    settings = ServiceSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    typer.echo(f"CourseGraph is starting ({settings.profile.value} profile)…")

    def ready() -> None:
        subgraphs = ", ".join(f"{name}:{getattr(settings, f'{name}_port')}" for name in SUBGRAPHS)
        typer.echo(
            BANNER.format(
                profile=settings.profile.value,
                seconds=time.monotonic() - started,
                host=settings.host,
                router=settings.router_port,
                web=settings.web_port,
                rest=settings.rest_compat_port,
                subgraphs=subgraphs,
                data=settings.data_dir.resolve(),
            )
        )

    def waiting(names: list[str]) -> None:
        typer.echo(f"Still starting ({time.monotonic() - started:.0f} s): waiting for {', '.join(names)}…")

    raise typer.Exit(_run([*ALL_SERVICES, WEB.name], settings, on_ready=ready, on_waiting=waiting))


def _run(
    services: list[str],
    settings: ServiceSettings,
    *,
    on_ready: Callable[[], None] | None = None,
    on_waiting: Callable[[list[str]], None] | None = None,
) -> int:
    try:
        return uvloop.run(run_services(services, settings, on_ready=on_ready, on_waiting=on_waiting))
    except LaunchError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1


@app.command()
def migrate() -> None:
    """Bring the users database to the newest schema (Alembic), then exit. Deployments run it as a Job
    and set COURSEGRAPH_MIGRATE_ON_START=false on the users service."""
    from coursegraph_cli.operations import migrate_users_database

    asyncio.run(migrate_users_database())
    typer.echo("users database: at head")


@app.command("kafka-topics")
def kafka_topics() -> None:
    """Create CourseGraph's Kafka topics and their dead-letter topics where missing (partitions,
    replication and retention from COURSEGRAPH_KAFKA_* settings), then exit; existing ones are left alone."""
    from coursegraph_cli.operations import TopicSettings, create_topics

    for name, outcome in asyncio.run(create_topics(TopicSettings())).items():
        typer.echo(f"{name}: {outcome}")


@app.command("catalog-announce")
def catalog_announce() -> None:
    """Tell every running courses replica to load the catalog again, after courses were written outside the
    service (a restore from a backup, a script): reads every course once, writes a snapshot of them and
    advances the catalog's generation, which replicas follow within seconds (ADR 0025)."""
    from coursegraph_cli.operations import announce_catalog

    courses, generation = asyncio.run(announce_catalog())
    typer.echo(f"catalog generation {generation}: {courses} courses")


@app.command("compose-secrets")
def compose_secrets(
    directory: Annotated[Path, typer.Argument(help="Where to write them")] = Path("secrets"),
) -> None:
    """Generate what compose.yml needs (random secrets, an RSA signing key) into ./secrets; existing
    files are kept. Then fill in the SendGrid key and run
    `docker compose --env-file secrets/compose.env up --build`."""
    from coursegraph_cli.operations import write_compose_secrets

    for path in write_compose_secrets(directory):
        typer.echo(f"wrote {path}")


@app.command("deploy-check")
def deploy_check() -> None:
    """Render every Kubernetes overlay (kustomize), validate it strictly against the vendored schemas
    (kubeconform) and hold it to the deployment policy; exit 1 on any problem."""
    from coursegraph_cli.deploy import OVERLAYS, check

    failed = False
    for overlay in OVERLAYS:
        problems = check(overlay)
        failed |= bool(problems)
        typer.echo(f"{overlay}: {'ok' if not problems else f'{len(problems)} problems'}")
        for problem in problems:
            typer.echo(f"  {problem}")
    if failed:
        raise typer.Exit(1)


@app.command("export-schemas")
def export_schemas(
    check: Annotated[bool, typer.Option(help="Fail if a checked-in schema.graphql is stale.")] = False,
) -> None:
    """Write each subgraph's SDL to subgraphs/<name>/schema.graphql (what the router composes)."""
    from coursegraph_cli.schemas import export_all  # imports every subgraph's schema: only when needed

    stale = export_all(Path.cwd(), check=check)
    for path in stale:
        typer.echo(f"{path} is stale: run `make schemas`" if check else f"wrote {path}")
    if check and stale:
        raise typer.Exit(1)


@app.command("preview-email")
def preview_email(
    kind: Annotated[str, typer.Argument(help="welcome, enrollment_confirmed, course_completed, ...")],
    html: Annotated[Path | None, typer.Option(help="Also write the HTML part to this file.")] = None,
) -> None:
    """Render one notification email with sample values: its subject and text part, and the HTML part."""
    from subgraphs.notifications.rendering import SAMPLES, Kind, Renderer

    try:
        chosen = Kind(kind)
    except ValueError:
        typer.echo(f"No such email: {kind!r}. Kinds: {', '.join(Kind)}.", err=True)
        raise typer.Exit(2) from None
    sample = {
        **SAMPLES[chosen],
        "unsubscribe_url": "https://learn.example.org/notifications/unsubscribe?token=...",
    }
    rendered = Renderer().render(chosen, sample)
    typer.echo(f"Subject: {rendered.subject}\n\n{rendered.text}")
    if html is not None:
        html.write_text(rendered.html, encoding="utf-8")
        typer.echo(f"HTML part written to {html}")


if __name__ == "__main__":
    app()
