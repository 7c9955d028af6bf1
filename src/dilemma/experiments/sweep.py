"""Run an experiment's runs concurrently, resumably, with one limit on model calls in flight.

`LocalExecutor` plays them in this process's event loop; `plan` and `play_run` are shared with
the Ray executor, so both write the same records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.executor import ReplayMiss, SweepError
from dilemma.experiments.spec import RunSpec
from dilemma.models.budget import SpendBudget
from dilemma.models.registry import ModelOptions, ResolvedModel, resolve_model
from dilemma.models.response_cache import CacheMiss, ResponseCache
from dilemma.models.spec import ModelSpec
from dilemma.records.reader import SET_ASIDE, record_status
from dilemma.records.schema import ExperimentInfo, LlmCallEvent, RecordError
from dilemma.scenarios.schema import Scenario
from dilemma.simulation.runner import RunConfig, RunFailed, RunStopped, close_models, play_scenario

COMPLETE = ("completed", "war")


def _set_aside(path: Path) -> None:
    """Move an unfinished record out of the sweep folder, so no run is recorded twice."""
    aside = path.parent / SET_ASIDE
    aside.mkdir(exist_ok=True)
    n = 1
    while (target := aside / f"{path.stem}.attempt{n}.jsonl").exists():
        n += 1
    path.rename(target)


def plan(runs: Sequence[RunSpec], out_dir: Path, resume: bool) -> tuple[list[RunSpec], int]:
    """The runs still to do, and how many are already complete; refuses to overwrite."""
    todo: list[RunSpec] = []
    complete = 0
    existing = []
    for run in runs:
        path = out_dir / f"{run.run_id}.jsonl"
        try:
            status = record_status(path)
        except RecordError as exc:  # e.g. a record written by a newer version
            raise SweepError(str(exc)) from exc
        if status == "missing":
            todo.append(run)
        elif not resume:
            existing.append(path.name)
        elif status in COMPLETE:
            complete += 1
        else:
            _set_aside(path)
            todo.append(run)
    if existing:
        raise SweepError(
            f"{out_dir}: {len(existing)} records of this experiment exist already (e.g."
            f" {existing[0]}); use --resume to skip complete runs and redo the others"
        )
    return todo, complete


def start(runs: Sequence[RunSpec], config: SweepConfig) -> tuple[list[RunSpec], SweepStats]:
    """Create the output folder and plan the sweep: the runs to play and the first counters."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    todo, complete = plan(runs, config.out_dir, config.resume)
    return todo, SweepStats(total=len(runs), done=complete, skipped=complete)


def _header_experiment(run: RunSpec, experiment: ExperimentInfo | None) -> ExperimentInfo:
    """The experiment of one run's header: the sweep's (or just its name) and the conditions."""
    base = experiment or ExperimentInfo(name=run.experiment, source=None, runs=None, conditions={})
    return base.model_copy(update={"conditions": dict(run.conditions)})


async def play_run(
    run: RunSpec,
    models: dict[str, ResolvedModel],
    config: SweepConfig,
    *,
    limiter: asyncio.Semaphore,
    cache: ResponseCache | None,
    budget: SpendBudget | None,
    on_event: Callable[[BaseModel], None] | None,
) -> tuple[Literal["done", "failed", "stopped"], str]:
    """Play one run of a sweep into `config.out_dir`; its outcome and the cause of a failure.

    Shared by the local and the Ray executor, so both write the same records. Raises ReplayMiss
    when a replayed run misses the cache (the whole sweep stops).
    """
    try:
        await play_scenario(
            Scenario.model_validate(run.scenario),
            models,
            RunConfig(
                seed=run.seed,
                out_dir=config.out_dir,
                record_path=config.out_dir / f"{run.run_id}.jsonl",
                run_id=run.run_id,
                prompt_setup=run.prompt_setup,
                max_retries=run.max_retries,
                max_in_flight=limiter,
                scenario_source=run.scenario_source,
                experiment=_header_experiment(run, config.experiment),
                argv=config.argv,
                cache=cache,
                on_event=on_event,
                budget=budget,
            ),
        )
    except RunStopped as exc:
        return "stopped", exc.reason
    except RunFailed as exc:
        if isinstance(exc.__cause__, CacheMiss):
            raise ReplayMiss(f"{exc.cause}") from exc
        return "failed", exc.cause
    return "done", ""


def is_scripted(spec: str) -> bool:
    """Whether a spec names a scripted policy (resolved per run: it is seeded by the run)."""
    return ModelSpec.parse(spec).is_scripted


SharedKey = tuple[str, float | None]
"""A model shared by the runs: its spec and the temperature it samples at (None: default)."""


def shared_models(run: RunSpec) -> dict[str, SharedKey]:
    """The shared model (spec, temperature) of each non-scripted state of `run`."""
    return {
        sid: (spec, run.temperatures.get(sid))
        for sid, spec in run.models.items()
        if not is_scripted(spec)
    }


def resolve_shared(key: SharedKey, options: ModelOptions) -> ResolvedModel:
    """The model of `key`, at its temperature when it has one (else at `options`')."""
    spec, temperature = key
    if temperature is not None:
        options = replace(options, temperature=temperature)
    return resolve_model(spec, options=options)


def run_models(run: RunSpec, shared: dict[SharedKey, ResolvedModel]) -> dict[str, ResolvedModel]:
    """Ready models of one run: the shared ones, and its scripted policies seeded by the run."""
    keys = shared_models(run)
    return {
        sid: shared[keys[sid]] if sid in keys else resolve_model(spec, seed=run.seed)
        for sid, spec in run.models.items()
    }


@dataclass(frozen=True)
class LocalExecutor:
    """Plays a sweep's runs as tasks of the running event loop, in this process.

    Models are resolved once per non-scripted spec and shared by the runs (one local server,
    one API client). `cache` and `budget` share an open response cache or spend budget with the
    caller (e.g. across several sweeps); by default the executor opens `config.cache` and keeps
    `config.limit` itself.
    """

    cache: ResponseCache | None = None
    budget: SpendBudget | None = None

    async def run(self, runs: Sequence[RunSpec], config: SweepConfig) -> SweepStats:
        """See `dilemma.experiments.executor.Executor.run`.

        With a spend limit, no run starts once it is spent, and runs whose next call it refuses
        stop with their record closed as `stopped`; `stop_reason` says why, and a resumed sweep
        sets the stopped records aside and plays those runs and the unstarted ones.
        """
        if self.cache is not None and config.cache is not None:
            raise ValueError("give the response cache either to the executor or to the config")
        budget = self.budget
        if budget is None and config.limit is not None:
            budget = SpendBudget(config.limit)
        opened = None  # opened first: a bad cache file is refused before anything is written
        if config.cache is not None:
            opened = ResponseCache(config.cache, replay=config.replay)
        try:
            todo, stats = start(runs, config)
            await _play_all(todo, config, stats, opened or self.cache, budget)
        finally:
            if opened is not None:
                opened.close()
        return stats


async def _play_all(
    todo: list[RunSpec],
    config: SweepConfig,
    stats: SweepStats,
    cache: ResponseCache | None,
    budget: SpendBudget | None,
) -> None:
    """Play `todo` with `config.concurrency` calls in flight at most, counting into `stats`."""
    shared: dict[SharedKey, ResolvedModel] = {}
    try:
        for key in dict.fromkeys(k for r in todo for k in shared_models(r).values()):
            if config.resolver is None:
                shared[key] = resolve_shared(key, config.options)
    except BaseException:
        close_models(shared.values())
        raise
    limiter = asyncio.Semaphore(config.concurrency)
    queue: asyncio.Queue[RunSpec] = asyncio.Queue()
    for run in todo:
        queue.put_nowait(run)

    def notify() -> None:
        if config.on_update is not None:
            config.on_update(stats)

    def count(run_id: str, event: BaseModel) -> None:
        if config.on_event is not None:
            config.on_event(run_id, event)
        if isinstance(event, LlmCallEvent):
            stats.calls += 1
            stats.tokens += (event.input_tokens or 0) + (event.output_tokens or 0)
            notify()

    async def play(run: RunSpec) -> None:
        resolved = config.resolver(run) if config.resolver is not None else run_models(run, shared)
        outcome, cause = await play_run(
            run,
            resolved,
            config,
            limiter=limiter,
            cache=cache,
            budget=budget,
            on_event=lambda event: count(run.run_id, event),
        )
        if outcome == "stopped":
            stats.stopped += 1
            notify()
            return
        if outcome == "failed":
            stats.failed += 1
            stats.failures.append((run.run_id, cause))
        stats.done += 1
        notify()

    async def worker() -> None:
        while not queue.empty():
            if budget is not None and budget.spent:
                return  # no new run starts; the queued ones are counted as not started
            await play(queue.get_nowait())

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(config.concurrency, len(todo)))):
                group.create_task(worker())
    except* SweepError as errors:
        raise errors.exceptions[0] from None
    finally:
        close_models(shared.values())
    stats.not_started = queue.qsize()
    if budget is not None and stats.remaining:
        stats.stop_reason = budget.stop_reason
