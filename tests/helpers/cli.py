"""The `dilemma` command run in this process through typer's CliRunner (no interpreter start).

A CLI subprocess costs seconds of CPU before it reads its first argument; the commands here go
through the same typer app the console script calls, with stdout and stderr captured apart.
`tests/cli/test_cli_run.py` keeps one end-to-end check of the real console script.
"""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from dilemma.cli.main import app


@dataclass(frozen=True)
class CliResult:
    """What one in-process command produced: its exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def unwrapped_stderr(self) -> str:
        """stderr with the console's line folding undone: its lines joined as they are (a wrap
        keeps the space it broke at, and a path longer than the terminal is cut mid-word)."""
        return "".join(self.stderr.splitlines())


def invoke(*args: str) -> CliResult:
    """`dilemma ARGS` in this process; an exception other than an exit is kept, not raised."""
    result = CliRunner().invoke(app, list(args))
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr, exception)
