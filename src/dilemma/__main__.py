"""`python -m dilemma` runs the command line."""

from dilemma.cli.main import app

app()
