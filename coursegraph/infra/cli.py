import typer

app = typer.Typer(help="Provision and start the backing services used by the tests.", no_args_is_help=True)


@app.command()
def status() -> None:
    """Show which backing services are running."""
