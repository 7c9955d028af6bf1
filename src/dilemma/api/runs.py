"""`run` / `arun`: play one scenario and write its research record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from dilemma.api.loop import run_sync
from dilemma.api.scenario import ScenarioRef, prepare
from dilemma.models.registry import ModelOptions
from dilemma.simulation.runner import RunConfig, run_scenario


async def arun(
    scenario: ScenarioRef,
    config: RunConfig | None = None,
    *,
    model: str | None = None,
    state_models: Mapping[str, str] | None = None,
    rounds: int | None = None,
    options: ModelOptions | None = None,
) -> Path:
    """Play one scenario and write its record; returns the record's path.

    `scenario`: a `Scenario`, a built-in name (`two-rivals`) or a YAML file. `config`: seed,
    output folder, prompt setup, re-asks, callbacks (default: seed 0, folder `runs`). `model`:
    the spec of every state the scenario leaves without one (default `local`); `state_models`:
    a spec per state id; `rounds` overrides the scenario's; `options`: server URL, temperature,
    rate limiter, timeouts.

    Raises ScenarioError / PromptSetupError / RunSpecError / ModelSpecError on bad input (before
    anything runs), RunFailed when the run could not finish and RunStopped when a spend limit
    stopped it (the record is closed with the cause in both cases).
    """
    loaded, source = prepare(
        scenario, rounds=rounds, prompt_setup=config.prompt_setup if config else None
    )
    config = config or RunConfig(seed=0, out_dir=Path("runs"))
    if not config.scenario_source:
        config = replace(config, scenario_source=source)
    return await run_scenario(
        loaded, config, overrides=state_models, default_model=model, options=options
    )


def run(
    scenario: ScenarioRef,
    config: RunConfig | None = None,
    *,
    model: str | None = None,
    state_models: Mapping[str, str] | None = None,
    rounds: int | None = None,
    options: ModelOptions | None = None,
) -> Path:
    """`arun`, synchronously; works inside a running event loop too (a notebook cell)."""
    return run_sync(
        lambda: arun(
            scenario,
            config,
            model=model,
            state_models=state_models,
            rounds=rounds,
            options=options,
        )
    )
