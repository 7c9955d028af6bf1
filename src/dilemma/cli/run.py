"""`dilemma run`: one negotiation at the terminal, a thin layer over `dilemma.api.run`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dilemma.cli.common import (
    INTERRUPTED,
    LOCAL_NOTE,
    RUN_FAILED,
    SPEND_LIMIT,
    DeadlineOption,
    MaxCallsOption,
    MaxCostOption,
    TimeoutOption,
    Verbosity,
    console,
    err,
    fail,
    finite,
    limiter,
    parse_state_models,
    progress,
    spend_limit,
    summary,
)
from dilemma.core.safe_text import safe_console
from dilemma.models.spec import HUMAN_SPEC, LOCAL_SPEC

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dilemma.cli.call_progress import CallTracker
    from dilemma.scenarios.schema import Scenario


def default_states(
    scenario: Scenario, overrides: Mapping[str, str], model: str | None
) -> list[str]:
    """States that neither `--state-model`, `--model` nor the scenario give a model, when some
    others are named: they play on the default model, which deserves a notice."""
    if not overrides or model is not None or scenario.model is not None:
        return []
    return [s.id for s in scenario.states if s.id not in overrides and s.model is None]


def expected_calls(scenario: Scenario) -> int:
    """Model calls of a run without re-asks or an early war: states x rounds x (sub-turns + 1)."""
    rules = scenario.rules
    return len(scenario.states) * rules.rounds * (rules.subturns + 1)


def verbose_events(tracker: CallTracker) -> Callable[[BaseModel], None]:
    """`on_event` for `--verbose`: follow the event and print every completed call."""
    from dilemma.cli.call_progress import call_line
    from dilemma.records.schema import LlmCallEvent

    def on_event(event: BaseModel) -> None:
        tracker.on_event(event)
        if isinstance(event, LlmCallEvent):
            console.print(call_line(event), highlight=False, markup=False)

    return on_event


@contextmanager
def live_progress(tracker: CallTracker) -> Iterator[None]:
    """Show the tracker's line live at the foot of the terminal while a run plays (nothing
    when stdout is not a terminal or with --quiet)."""
    from rich.progress import Progress, SpinnerColumn

    from dilemma.cli.call_progress import TrackerColumn

    with Progress(
        SpinnerColumn(), TrackerColumn(tracker), console=console, transient=True
    ) as progress:
        progress.add_task("run", total=None)
        yield


def run(
    scenario: Annotated[str, typer.Argument(help="built-in scenario name or YAML file")],
    model: Annotated[
        str | None, typer.Option(help="model spec for every state (default: local)")
    ] = None,
    state_model: Annotated[
        list[str] | None, typer.Option("--state-model", help="ID=SPEC for one state; repeatable")
    ] = None,
    rounds: Annotated[int | None, typer.Option(help="override the number of rounds")] = None,
    seed: Annotated[int, typer.Option(help="seed of all randomness")] = 0,
    out: Annotated[Path, typer.Option(help="folder for the record")] = Path("runs"),
    prompt_setup: Annotated[str | None, typer.Option(help="prompt setup name or YAML file")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server (or DILEMMA_BASE_URL)")
    ] = None,
    max_retries: Annotated[
        int, typer.Option(min=0, help="re-asks after an invalid reply (0 or more)")
    ] = 2,
    concurrency: Annotated[
        int, typer.Option(min=1, help="model calls in flight at most (1 or more)")
    ] = 4,
    temperature: Annotated[
        float | None, typer.Option(help="sampling temperature", callback=finite)
    ] = None,
    rps: Annotated[
        float | None, typer.Option(help="model requests per second at most (LangChain limiter)")
    ] = None,
    timeout: TimeoutOption = None,
    call_deadline: DeadlineOption = None,
    max_cost: MaxCostOption = None,
    max_calls: MaxCallsOption = None,
) -> None:
    """Run one negotiation and write its research record."""
    from dilemma.agents.prompt_setup import PromptSetupError
    from dilemma.api.runs import run as play
    from dilemma.api.scenario import check_prompt_setup, with_rounds
    from dilemma.cli.call_progress import CallTracker
    from dilemma.models.budget import SpendBudget
    from dilemma.models.pricing import PricingError, load_prices
    from dilemma.models.registry import ModelOptions, ModelSpecError, check_spec
    from dilemma.scenarios.library import ScenarioError, load_scenario
    from dilemma.simulation.runner import (
        RunConfig,
        RunFailed,
        RunSpecError,
        RunStopped,
        model_specs,
    )

    try:
        loaded, source = load_scenario(scenario)
        loaded = with_rounds(loaded, rounds, source)
        overrides = parse_state_models(state_model or [])
        specs = model_specs(loaded, overrides, model)
        if HUMAN_SPEC in specs.values():
            raise RunSpecError(
                "a state with model `human` needs a person: use `dilemma play` (terminal) or"
                " `dilemma serve` (web)"
            )
        check_prompt_setup(loaded, source, prompt_setup)
        load_prices()  # a bad DILEMMA_PRICES file is bad input, found before anything runs
        for sid, spec in specs.items():
            try:
                check_spec(spec)
            except ModelSpecError as exc:
                raise RunSpecError(f"model of state {sid}: {exc}") from exc
    except (ScenarioError, RunSpecError, PromptSetupError, PricingError) as exc:
        raise fail(str(exc)) from exc
    limit = spend_limit(max_cost, max_calls, specs.values())
    if LOCAL_SPEC in specs.values():
        console.print(LOCAL_NOTE, style="yellow")
    left = default_states(loaded, overrides, model)
    if left:
        console.print(
            f"Note: {', '.join(left)} not named by --state-model, so on the default model"
            f" `{specs[left[0]]}` (name them, or give --model for every unnamed state)",
            style="yellow",
            highlight=False,
            markup=False,
        )
    console.print(
        f"Running [bold]{loaded.name}[/bold] ({loaded.rules.rounds} rounds, seed {seed}); models: "
        + ", ".join(f"{k}={v}" for k, v in specs.items()),
        highlight=False,
    )
    options = ModelOptions(
        base_url=base_url,
        temperature=temperature,
        rate_limiter=limiter(rps),
        timeout_s=timeout,
        deadline_s=call_deadline,
    )
    tracker = CallTracker(expected_calls=expected_calls(loaded))
    config = RunConfig(
        seed=seed,
        out_dir=out,
        prompt_setup=prompt_setup,
        max_retries=max_retries,
        max_in_flight=concurrency,
        scenario_source=source,
        on_round=progress,
        on_event=tracker.on_event if not Verbosity.verbose() else verbose_events(tracker),
        argv=sys.argv,
        budget=SpendBudget(limit) if limit is not None else None,
    )
    try:
        with live_progress(tracker):
            path = play(loaded, config, model=model, state_models=overrides, options=options)
    except ModelSpecError as exc:
        raise fail(str(exc)) from exc
    except RunFailed as exc:
        raise fail(str(exc), RUN_FAILED) from exc
    except RunStopped as exc:
        summary(exc.path)
        err.print(
            f"stopped: {safe_console(exc.reason)}; the record ends with outcome `stopped`",
            highlight=False,
            markup=False,
            emoji=False,
            soft_wrap=True,
        )
        raise typer.Exit(SPEND_LIMIT) from None
    except KeyboardInterrupt:
        err.print("interrupted; the record ends with an `interrupted` event")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        tracker.remember()
    summary(path)
