from coursegraph_cli.cli import app

app()
