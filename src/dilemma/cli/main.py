"""The `dilemma` command line: every command, registered on one typer app.

The commands live in modules by group, none of which imports this one: `run` (one negotiation),
`seat` (play, serve), `scenarios` (scenarios, validate), `sweep`, `analysis` (score, compare,
export, report, show) and `viewer` (view); `common` holds what they share. Each command imports
what it runs inside its body, so `dilemma --help` and `dilemma validate` stay quick.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dilemma._version import __version__
from dilemma.cli import analysis, scenarios, seat, sweep, viewer
from dilemma.cli import run as run_command
from dilemma.cli.common import Verbosity

app = typer.Typer(
    help="Security-dilemma negotiation sandbox: LLM state personas negotiate, arm and escalate.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"dilemma {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", callback=_print_version, is_eager=True
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="print only results and errors (no progress, notes or tables)"
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="print every model call as it completes, and logs"),
    ] = False,
) -> None:
    """Security-dilemma negotiation sandbox: LLM state personas negotiate, arm and escalate."""
    Verbosity.set(quiet, verbose)


for command in (
    run_command.run,
    seat.play,
    seat.serve,
    scenarios.scenarios,
    scenarios.validate,
    sweep.sweep,
    analysis.score,
    analysis.compare,
    analysis.export,
    analysis.report,
    analysis.show,
    viewer.view,
):
    app.command()(command)


if __name__ == "__main__":
    app()
