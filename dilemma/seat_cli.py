"""The commands that put people in seats: `dilemma play` (terminal) and `dilemma serve` (web).

They are registered in dilemma.cli; the shared helpers of that module are imported lazily here
(it imports this one).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from agents.human_seat import HUMAN_SPEC
from scenarios.schema import Scenario

ModelOption = Annotated[
    str | None, typer.Option(help="model spec of every other state (default: local)")
]
StateModelOption = Annotated[
    list[str] | None,
    typer.Option("--state-model", help="ID=SPEC for one state (SPEC `human` seats a person)"),
]
RoundsOption = Annotated[int | None, typer.Option(help="override the number of rounds")]
SeedOption = Annotated[int, typer.Option(help="seed of all randomness")]
OutOption = Annotated[Path, typer.Option(help="folder for the record")]
SetupOption = Annotated[str | None, typer.Option(help="prompt setup name or YAML file")]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server (or DILEMMA_BASE_URL)")
]


def human_specs(
    scenario: str,
    seats: list[str],
    state_model: list[str] | None,
    model: str | None,
    rounds: int | None,
) -> tuple[Scenario, str, dict[str, str], dict[str, str]]:
    """(scenario, source, overrides, specs) with `seats` played by people; exits 2 on bad input."""
    from dilemma.cli import _fail, _parse_state_models, _with_overrides
    from scenarios.library import ScenarioError, load_scenario
    from simulation.runner import RunSpecError, model_specs

    try:
        loaded, source = load_scenario(scenario)
        loaded = _with_overrides(loaded, rounds, source)
        overrides = _parse_state_models(state_model or [])
        for seat in seats:
            if seat not in loaded.ids:
                raise RunSpecError(f"no state {seat!r} in {source}; states: {loaded.ids}")
            overrides[seat] = HUMAN_SPEC
        specs = model_specs(loaded, overrides, model)
    except (ScenarioError, RunSpecError) as exc:
        raise _fail(str(exc)) from exc
    return loaded, source, overrides, specs


def play(
    scenario: Annotated[str, typer.Argument(help="built-in scenario name or YAML file")],
    as_state: Annotated[str, typer.Option("--as", help="the state you play (its id)")],
    model: ModelOption = None,
    state_model: StateModelOption = None,
    rounds: RoundsOption = None,
    seed: SeedOption = 0,
    out: OutOption = Path("runs"),
    prompt_setup: SetupOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Play one state yourself at the terminal; the other states are models."""
    from agents.models import ModelOptions, ModelSpecError
    from dilemma.cli import RUN_FAILED, _fail, _progress, _summary, console
    from dilemma.play_cli import TerminalDesk
    from simulation.runner import RunConfig, RunFailed, RunSpecError, run_scenario

    loaded, source, overrides, specs = human_specs(scenario, [as_state], state_model, model, rounds)
    humans = [sid for sid, spec in specs.items() if spec == HUMAN_SPEC]
    if humans != [as_state]:
        raise _fail(
            f"dilemma play seats one person; {humans} have model `human` (use dilemma serve)"
        )
    console.print(
        f"Playing [bold]{loaded.name}[/bold] as {as_state} ({loaded.rules.rounds} rounds,"
        " seed "
        f"{seed}); models: " + ", ".join(f"{k}={v}" for k, v in specs.items()),
        highlight=False,
    )
    try:
        path = asyncio.run(
            run_scenario(
                loaded,
                RunConfig(
                    seed=seed,
                    out_dir=out,
                    prompt_setup=prompt_setup,
                    scenario_source=source,
                    on_round=_progress,
                    argv=sys.argv,
                    desk=TerminalDesk(),
                ),
                overrides=overrides,
                default_model=model,
                options=ModelOptions(base_url=base_url),
            )
        )
    except (ModelSpecError, RunSpecError) as exc:
        raise _fail(str(exc)) from exc
    except RunFailed as exc:
        raise _fail(str(exc), RUN_FAILED) from exc
    except KeyboardInterrupt:
        raise _fail("interrupted; the record ends with an `interrupted` event", 130) from None
    _summary(path)
