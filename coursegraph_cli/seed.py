"""`coursegraph seed`: load a realistic demo catalog into the configured stores.

Each service writes its own store through its own seed module (`subgraphs.users.seed`,
`subgraphs.courses.seed`). This module only orchestrates: it checks that every store answers before
anything changes, removes earlier seeded data when asked, asks each service for its part of the plan, and
shows the progress.

Seeded data is marked, so that `--reset` removes it and nothing else: users by their email domain
(`@seed.example.org`), course and enrollment documents by a `seeded: true` field. Seeding writes state
directly in bulk and announces nothing: no outbox entries, so no events reach Kafka or the notifications.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
import uvloop
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from coursegraph.seeding import SEED_EMAIL_DOMAIN, SEED_MARKER, SeedError
from coursegraph.settings import Profile, ServiceSettings

if TYPE_CHECKING:
    from subgraphs.courses.seed import CourseSeeder
    from subgraphs.users.seed import UserSeeder


class AlreadySeeded(SeedError):
    """Seeded data is already there and `--reset` was not given."""


class Plan(Protocol):
    def totals(self) -> dict[str, int]:
        """Items to write per progress step, e.g. {"courses": 500}."""
        ...

    def summary(self) -> dict[str, int]:
        """What the plan holds, for the report, e.g. {"published courses": 410}."""
        ...


@dataclass(frozen=True)
class SeedOptions:
    instructors: int = 50
    courses: int = 500
    learners: int = 2000
    enrollments_per_learner: int = 3
    seed: int = 1
    reset: bool = False
    clear: bool = False  # remove seeded data, load nothing

    def validate(self) -> None:
        if min(self.instructors, self.courses, self.learners, self.enrollments_per_learner) < 0:
            raise SeedError("Counts must not be negative.")
        if self.courses and not self.instructors:
            raise SeedError("Courses need instructors: give --instructors 1 or more.")


@dataclass
class SeedReport:
    removed: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    stores: dict[str, str] = field(default_factory=dict)
    dev_sign_in: bool = False


# Each service's seeder, imported when seeding starts: the other `coursegraph` commands do not load the
# services' models.
async def _connect_users(overrides: Mapping[str, Any]) -> "UserSeeder":
    from subgraphs.users.seed import connect

    return await connect(overrides)


async def _connect_courses(overrides: Mapping[str, Any]) -> "CourseSeeder":
    from subgraphs.courses.seed import connect

    return await connect(overrides)


async def seed_catalog(
    options: SeedOptions,
    *,
    overrides: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> SeedReport:
    """Seed (or, with `clear`, only remove) the demo catalog; `overrides` are settings by field name."""
    options.validate()
    overrides = overrides or {}
    console = console or Console(stderr=True)
    report = SeedReport(dev_sign_in=ServiceSettings(**dict(overrides)).profile is Profile.DEV)
    started = time.perf_counter()

    # Every store must answer before anything changes (the document store first: in dev it is the one
    # most likely down, and the users store's migrations create its SQLite file).
    courses = await _connect_courses(overrides)
    try:
        users = await _connect_users(overrides)
    except BaseException:
        await courses.close()
        raise
    report.stores = {"users": users.where, "courses": courses.where}
    report.seconds["connect"] = time.perf_counter() - started
    try:
        mark = time.perf_counter()
        seeded_users = await users.seeded_user_ids()
        seeded_documents = await courses.seeded_documents()
        report.seconds["check"] = time.perf_counter() - mark
        if options.reset or options.clear:
            mark = time.perf_counter()
            # Documents first: they are found through the seeded users' ids.
            report.removed.update(await courses.remove(seeded_users))
            report.removed["users"] = await users.remove()
            report.seconds["remove"] = time.perf_counter() - mark
            if options.clear:
                await courses.announce(datetime.now(UTC))
        elif seeded_users or seeded_documents:
            raise AlreadySeeded(
                f"Seeded data is already there ({len(seeded_users)} users, {seeded_documents} course and "
                "enrollment documents): run with --reset to replace it, or --clear to remove it."
            )
        if options.clear:
            return report

        mark = time.perf_counter()
        now = datetime.now(UTC)
        people = users.plan(
            seed=options.seed, instructors=options.instructors, learners=options.learners, now=now
        )
        catalog = courses.plan(
            seed=options.seed,
            instructors=people.instructors,
            learners=people.learners,
            courses=options.courses,
            enrollments_per_learner=options.enrollments_per_learner,
            now=now,
        )
        report.seconds["plan"] = time.perf_counter() - mark

        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            plans: tuple[Plan, ...] = (people, catalog)
            tasks = {
                step: progress.add_task(step, total=total)
                for plan in plans
                for step, total in plan.totals().items()
            }

            def advance(step: str, count: int) -> None:
                progress.advance(tasks[step], count)

            mark = time.perf_counter()
            await users.insert(people, advance)
            report.seconds["users"] = time.perf_counter() - mark
            mark = time.perf_counter()
            await courses.insert(catalog, advance)
            report.seconds["courses and enrollments"] = time.perf_counter() - mark
        # Running courses replicas load the new catalog within seconds, without a restart.
        await courses.announce(datetime.now(UTC))
        report.loaded = {**people.summary(), **catalog.summary()}
        return report
    finally:
        report.seconds["total"] = time.perf_counter() - started
        await courses.close()
        await users.close()


def print_report(report: SeedReport, options: SeedOptions, console: Console) -> None:
    for service, where in report.stores.items():
        console.print(f"[dim]{service}: {where}[/dim]")
    if report.removed:
        removed = ", ".join(f"{count} {what}" for what, count in report.removed.items())
        console.print(f"Removed earlier seeded data: {removed}.")
    if report.loaded:
        table = Table(title=f"Seeded catalog (--seed {options.seed})", title_justify="left")
        table.add_column("what")
        table.add_column("count", justify="right")
        for what, count in report.loaded.items():
            table.add_row(what, f"{count:,}")
        console.print(table)
    timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in report.seconds.items())
    console.print(f"Took {timings}.")
    if report.loaded and report.dev_sign_in:
        console.print(
            "Sign in as a seeded user with dev sign-in: POST /auth/dev "
            f'{{"email": "instructor-0001@{SEED_EMAIL_DOMAIN}", "name": "Ines"}} '
            f"(learners: learner-00001@{SEED_EMAIL_DOMAIN}, ...)."
        )


HELP = "\n\n".join(
    (
        "Load a demo catalog: instructors, courses with modules and lessons, learners, enrollments.",
        "Writes each service's store directly and in bulk, with the configured settings: the dev profile's "
        "SQLite file and FerretDB, or COURSEGRAPH_DATABASE_URL and COURSEGRAPH_MONGODB_URL. In the dev "
        "profile the document store runs only while `coursegraph dev` does: start that first.",
        "Seeding announces nothing: no outbox entries are written, so no events reach Kafka and no email "
        "is sent.",
        f"Seeded users have emails @{SEED_EMAIL_DOMAIN} and seeded documents carry `{SEED_MARKER}: true`; "
        "--reset and --clear remove exactly those, and what belongs to the seeded users.",
    )
)


def command(
    instructors: Annotated[int, typer.Option(min=0, help="Instructors to create.")] = 50,
    courses: Annotated[
        int, typer.Option(min=0, help="Courses to create (drafts, published, archived).")
    ] = 500,
    learners: Annotated[int, typer.Option(min=0, help="Learners to create.")] = 2000,
    enrollments_per_learner: Annotated[
        int, typer.Option(min=0, help="Enrollments per learner, with partial progress.")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same catalog.")] = 1,
    reset: Annotated[
        bool, typer.Option("--reset", help="Remove previously seeded data (and only that) before seeding.")
    ] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove previously seeded data and load nothing.")
    ] = False,
) -> None:
    options = SeedOptions(
        instructors=instructors,
        courses=courses,
        learners=learners,
        enrollments_per_learner=enrollments_per_learner,
        seed=seed,
        reset=reset,
        clear=clear,
    )
    errors = Console(stderr=True)
    try:
        report = uvloop.run(seed_catalog(options, console=errors))
    except SeedError as exc:
        errors.print(f"[red]coursegraph seed: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    print_report(report, options, Console())
