"""`dilemma scenarios` and `dilemma validate`: the built-in library and scenario files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dilemma.cli.common import console, fail


def scenarios() -> None:
    """List the built-in scenarios."""
    from dilemma.scenarios.library import builtin_names, load_builtin

    for name in builtin_names():
        sc = load_builtin(name)
        kinds = ", ".join(f"{s.id} ({s.regime.value}/{s.transparency.value})" for s in sc.states)
        first = sc.description.split(". ")[0].rstrip(".")
        console.print(f"[bold]{name}[/bold]: {kinds}. {first}.", highlight=False)


def validate(path: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check a scenario file; exit 2 with the field path when it is invalid."""
    from dilemma.agents.prompt_setup import PromptSetupError
    from dilemma.api.scenario import prepare
    from dilemma.scenarios.library import ScenarioError

    try:
        sc, _ = prepare(str(path))
    except (ScenarioError, PromptSetupError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{path}: valid ({len(sc.states)} states, {sc.rules.rounds} rounds)")
