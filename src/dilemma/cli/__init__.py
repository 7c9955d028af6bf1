"""The `dilemma` command line: thin typer commands over the Python API, and their formatting."""
