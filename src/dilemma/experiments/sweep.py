"""Run an experiment's runs concurrently, resumably, with one limit on model calls in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

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


class SweepError(RuntimeError):
    """A sweep that cannot start or must stop (existing records, replay miss)."""


@dataclass
class SweepStats:
    """Counters shown in the progress bar and returned at the end."""

    total: int
    done: int = 0
    """Runs finished or failed, the skipped ones included (not the stopped ones)."""
    skipped: int = 0
    failed: int = 0
    calls: int = 0
    tokens: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: int = 0
    """Runs a spend limit stopped (records closed as `stopped`)."""
    not_started: int = 0
    """Runs left unstarted because a spend limit was reached."""
    stop_reason: str | None = None
    """Why the sweep stopped early (a spend limit), or None when it did not."""
    nodes: dict[str, str] = field(default_factory=dict)
    """Ray executor: the id of the Ray node that played each run (not in the records)."""

    @property
    def remaining(self) -> int:
        """Runs a `--resume` still has to play: stopped or never started."""
        return self.stopped + self.not_started


def _set_aside(path: Path) -> None:
    """Move an unfinished record out of the sweep folder, so no run is recorded twice."""
    aside = path.parent / SET_ASIDE
    aside.mkdir(exist_ok=True)
    n = 1
    while (target := aside / f"{path.stem}.attempt{n}.jsonl").exists():
        n += 1
    path.rename(target)


def plan(runs: list[RunSpec], out_dir: Path, resume: bool) -> tuple[list[RunSpec], int]:
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


def _header_experiment(run: RunSpec, experiment: ExperimentInfo | None) -> ExperimentInfo:
    """The experiment of one run's header: the sweep's (or just its name) and the conditions."""
    base = experiment or ExperimentInfo(name=run.experiment, source=None, runs=None, conditions={})
    return base.model_copy(update={"conditions": dict(run.conditions)})


async def play_run(
    run: RunSpec,
    models: dict[str, ResolvedModel],
    out_dir: Path,
    *,
    limiter: asyncio.Semaphore,
    experiment: ExperimentInfo | None,
    cache: ResponseCache | None,
    on_event: Callable[[BaseModel], None] | None,
    budget: SpendBudget | None,
    argv: Sequence[str] | None = None,
) -> tuple[Literal["done", "failed", "stopped"], str]:
    """Play one run of a sweep into `out_dir`; its outcome and the cause of a failure.

    Shared by the local and the Ray executor, so both write the same records. Raises SweepError
    when a replayed run misses the cache (the whole sweep stops). `argv` goes into the header
    (default: this process's command line).
    """
    try:
        await play_scenario(
            Scenario.model_validate(run.scenario),
            models,
            RunConfig(
                seed=run.seed,
                out_dir=out_dir,
                record_path=out_dir / f"{run.run_id}.jsonl",
                run_id=run.run_id,
                prompt_setup=run.prompt_setup,
                max_retries=run.max_retries,
                max_in_flight=limiter,
                scenario_source=run.scenario_source,
                experiment=_header_experiment(run, experiment),
                argv=argv,
                cache=cache,
                on_event=on_event,
                budget=budget,
            ),
        )
    except RunStopped as exc:
        return "stopped", exc.reason
    except RunFailed as exc:
        if isinstance(exc.__cause__, CacheMiss):
            raise SweepError(f"{exc.cause}") from exc
        return "failed", exc.cause
    return "done", ""


async def sweep(
    runs: list[RunSpec],
    out_dir: Path,
    *,
    concurrency: int,
    resume: bool = False,
    cache: ResponseCache | None = None,
    options: ModelOptions | None = None,
    on_update: Callable[[SweepStats], None] | None = None,
    experiment: ExperimentInfo | None = None,
    resolver: Callable[[RunSpec], dict[str, ResolvedModel]] | None = None,
    budget: SpendBudget | None = None,
) -> SweepStats:
    """Run every planned run; failed runs are recorded and counted, the others go on.

    With a spend `budget`, no run starts once it is spent, and runs whose next call it refuses
    stop with their record closed as `stopped`; `stop_reason` says why, and `--resume` (resume)
    sets the stopped records aside and plays those runs and the unstarted ones.

    `resolver` supplies ready models per run (benchmarks, tests); by default specs are resolved,
    with one shared instance per non-scripted spec (one local server, one API client).
    `experiment` goes into every header with the run's conditions; by default it names the
    runs' experiment only.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
    out_dir.mkdir(parents=True, exist_ok=True)
    todo, complete = plan(runs, out_dir, resume)
    stats = SweepStats(total=len(runs), done=complete, skipped=complete)
    shared: dict[str, ResolvedModel] = {}
    try:
        for spec in dict.fromkeys(m for r in todo for m in r.models.values()):
            parsed = ModelSpec.parse(spec) if resolver is None else None
            if parsed is not None and not parsed.is_scripted:
                shared[spec] = resolve_model(parsed, options=options)
    except BaseException:
        close_models(shared.values())
        raise
    limiter = asyncio.Semaphore(concurrency)
    queue: asyncio.Queue[RunSpec] = asyncio.Queue()
    for run in todo:
        queue.put_nowait(run)

    def notify() -> None:
        if on_update is not None:
            on_update(stats)

    def count(event: BaseModel) -> None:
        if isinstance(event, LlmCallEvent):
            stats.calls += 1
            stats.tokens += (event.input_tokens or 0) + (event.output_tokens or 0)
            notify()

    async def play(run: RunSpec) -> None:
        resolved = (
            resolver(run)
            if resolver is not None
            else {
                sid: shared[spec] if spec in shared else resolve_model(spec, seed=run.seed)
                for sid, spec in run.models.items()
            }
        )
        outcome, cause = await play_run(
            run,
            resolved,
            out_dir,
            limiter=limiter,
            experiment=experiment,
            cache=cache,
            on_event=count,
            budget=budget,
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
            for _ in range(max(1, min(concurrency, len(todo)))):
                group.create_task(worker())
    except* SweepError as errors:
        raise errors.exceptions[0] from None
    finally:
        close_models(shared.values())
    stats.not_started = queue.qsize()
    if budget is not None and stats.remaining:
        stats.stop_reason = budget.stop_reason
    return stats
