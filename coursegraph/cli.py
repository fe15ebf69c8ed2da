"""The `coursegraph` command line: run the stack, provision test infrastructure, manage data."""

import typer

from coursegraph.infra.cli import app as infra_app

app = typer.Typer(help="CourseGraph: a GraphQL federation learning-management backend.", no_args_is_help=True)
app.add_typer(infra_app, name="infra")
