from coursegraph.cli import app

app()
