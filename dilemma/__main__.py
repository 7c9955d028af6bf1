"""`python -m dilemma` runs the command line."""

from dilemma.cli import app

app()
