"""`dilemma sweep`: every run of an experiment, a thin layer over `dilemma.api.sweep`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dilemma.cli.common import (
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
    spend_limit,
)
from dilemma.cli.common import out as results

if TYPE_CHECKING:
    from dilemma.experiments.executor import Executor


class ExecutorChoice(StrEnum):
    """`--executor`: where the runs are played."""

    LOCAL = "local"
    RAY = "ray"


def executor_for(choice: ExecutorChoice, workers: int | None, address: str | None) -> Executor:
    """The executor `--executor`, `--workers` and `--address` ask for; RayUnavailable when Ray
    is asked for and not installed."""
    if choice is ExecutorChoice.LOCAL:
        from dilemma.experiments.sweep import LocalExecutor

        return LocalExecutor()
    from dilemma.experiments.ray_executor import RayExecutor, import_ray

    import_ray()
    return RayExecutor(workers=workers, address=address)


def sweep(
    experiment: Annotated[
        Path, typer.Argument(help="experiment YAML file or the name of a packaged example")
    ],
    concurrency: Annotated[
        int, typer.Option(min=1, help="model calls in flight across all runs (1 or more)")
    ] = 8,
    resume: Annotated[
        bool, typer.Option(help="skip complete runs; redo failed, interrupted and stopped ones")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="folder for records (default runs/NAME)")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite response cache")] = None,
    replay: Annotated[bool, typer.Option(help="answer only from --cache; stop at a miss")] = False,
    model: Annotated[
        str | None, typer.Option(help="override the model of every state in every run")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL")] = None,
    rps: Annotated[
        float | None, typer.Option(help="model requests per second at most (LangChain limiter)")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="sampling temperature of every model (recorded)", callback=finite),
    ] = None,
    timeout: TimeoutOption = None,
    call_deadline: DeadlineOption = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="run only shard I of N (1 <= I <= N), chosen by a hash of each run id; the N"
            " shards are disjoint and cover the experiment",
            metavar="I/N",
        ),
    ] = None,
    max_cost: MaxCostOption = None,
    max_calls: MaxCallsOption = None,
    repeats: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="pilot: this many seeds instead of the file's `repeats` (recorded in every"
            " header; records go to runs/NAME-pilot by default)",
        ),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            min=1, help="pilot: this many rounds instead of the file's (recorded likewise)"
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            help=(
                "print the runs and their estimated model calls (as the rules imply: expected"
                " rounds, no negotiation call under communication public or none), tokens,"
                " cost and time; run nothing"
            )
        ),
    ] = False,
    executor: Annotated[
        ExecutorChoice,
        typer.Option(help="local: one asyncio process; ray: runs as Ray tasks (the `ray` extra)"),
    ] = ExecutorChoice.LOCAL,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray worker processes (default: the CPUs of the local instance or cluster)",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to use (auto, ray://HOST:PORT); default: start a local instance"
        ),
    ] = None,
) -> None:
    """Run every run of an experiment concurrently; records go to one folder."""
    from dilemma.api.sweeps import plan_sweep
    from dilemma.cli.sweep_run import dry_run as print_estimate
    from dilemma.cli.sweep_run import play_sweep
    from dilemma.experiments.config import SweepConfig
    from dilemma.experiments.shards import Shard, ShardError
    from dilemma.experiments.spec import ExperimentError
    from dilemma.models.pricing import PricingError, load_prices
    from dilemma.models.registry import ModelOptions

    try:
        part = Shard.parse(shard) if shard is not None else None
    except ShardError as exc:
        raise fail(f"--shard: {exc}") from exc
    try:
        load_prices()
        pilot = {k: v for k, v in (("repeats", repeats), ("rounds", rounds)) if v is not None}
        plan = plan_sweep(experiment, model=model, shard=part, overrides=pilot)
    except (ExperimentError, PricingError) as exc:
        raise fail(str(exc)) from exc
    if temperature is not None and plan.experiment.sets_temperature():
        raise fail(
            f"--temperature: {plan.source or experiment} sets temperatures itself (temperature,"
            " temperatures or a temperature factor); change them in the file instead"
        )
    if replay and cache is None:
        raise fail("--replay needs --cache PATH (the cache of the sweep to replay)")
    if executor is ExecutorChoice.LOCAL and (workers is not None or address is not None):
        raise fail("--workers and --address need --executor ray")
    limit = spend_limit(max_cost, max_calls, (m for r in plan.runs for m in r.models.values()))
    folder = out or plan.default_out_dir
    if dry_run:
        raise typer.Exit(
            print_estimate(plan, folder, resume=resume, console=console, concurrency=concurrency)
        )
    config = SweepConfig(
        out_dir=folder,
        concurrency=concurrency,
        resume=resume,
        cache=cache,
        replay=replay,
        options=ModelOptions(
            base_url=base_url,
            temperature=temperature,
            rate_limiter=limiter(rps),
            timeout_s=timeout,
            deadline_s=call_deadline,
        ),
        limit=limit,
        experiment=plan.info(),
    )
    code = play_sweep(
        plan,
        config,
        lambda: executor_for(executor, workers, address),
        console=console,
        err=err,
        results=results,
        verbose=Verbosity.verbose(),
    )
    raise typer.Exit(code)
