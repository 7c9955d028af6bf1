"""The terminal side of `dilemma sweep`: progress bar, summary, exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dilemma.cli.main import SPEND_LIMIT
from dilemma.core.safe_text import safe_console
from dilemma.experiments.estimate import EXPECTED_REASKS, MAX_TOKENS, estimate
from dilemma.experiments.executors import RayOptions
from dilemma.experiments.shards import Shard
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import COMPLETE, SweepError, SweepStats, sweep
from dilemma.models.budget import SpendBudget, SpendLimit
from dilemma.models.registry import ModelOptions, ModelSpecError
from dilemma.models.response_cache import CacheFormatError, CacheMiss, ResponseCache
from dilemma.records.reader import record_status
from dilemma.records.schema import ExperimentInfo, RecordError


def run_sweep(
    name: str,
    runs: list[RunSpec],
    out: Path,
    *,
    concurrency: int,
    resume: bool,
    cache_path: Path | None,
    replay: bool,
    options: ModelOptions,
    source: str,
    console: Console,
    err: Console,
    compare_settings: dict[str, object] | None = None,
    experiment_runs: int | None = None,
    shard: Shard | None = None,
    limit: SpendLimit | None = None,
    ray: RayOptions | None = None,
) -> int:
    """Run the sweep with a progress bar; return the exit code (0 ok, 1 failures, 2 bad input,
    3 stopped by a spend limit).

    `experiment_runs` is the experiment's number of runs, for the headers (default: `runs`, which
    holds only the shard's runs when `shard` is given). With `ray`, the runs are played on Ray
    (`dilemma.experiments.ray_executor`); exit 2 when Ray is not installed.
    """
    if ray is not None:
        from dilemma.experiments.ray_executor import RayUnavailable, import_ray

        try:
            import_ray()
        except RayUnavailable as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            return 2
    try:
        cache = ResponseCache(cache_path, replay=replay) if cache_path is not None else None
    except (CacheMiss, CacheFormatError) as exc:
        err.print(f"error: {exc}", highlight=False)
        return 2
    if ray is not None and cache is not None:
        cache.close()  # checked here; each Ray worker opens the file itself
        cache = None
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "runs | {task.fields[calls]} calls | {task.fields[tokens]} tokens |"
            " {task.fields[failed]} failed"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    label = name if shard is None else f"{name} (shard {shard})"
    task = progress.add_task(label, total=len(runs), calls=0, tokens=0, failed=0)

    def update(stats: SweepStats) -> None:
        progress.update(
            task, completed=stats.done, calls=stats.calls, tokens=stats.tokens, failed=stats.failed
        )

    meta = ExperimentInfo.model_validate(
        {
            "name": name,
            "source": source,
            "runs": len(runs) if experiment_runs is None else experiment_runs,
            "conditions": {},
        }
        | (compare_settings or {})
    )
    budget = SpendBudget(limit) if limit is not None else None
    try:
        with progress:
            if ray is not None:
                stats = _ray_sweep(
                    runs,
                    out,
                    ray,
                    concurrency=concurrency,
                    resume=resume,
                    cache_path=cache_path,
                    replay=replay,
                    options=options,
                    on_update=update,
                    experiment=meta,
                    limit=limit,
                )
            else:
                stats = asyncio.run(
                    sweep(
                        runs,
                        out,
                        concurrency=concurrency,
                        resume=resume,
                        cache=cache,
                        options=options,
                        on_update=update,
                        experiment=meta,
                        budget=budget,
                    )
                )
    except (SweepError, ModelSpecError) as exc:
        err.print(f"error: {safe_console(str(exc))}", highlight=False, markup=False)
        return 1 if isinstance(exc, SweepError) and "replay" in str(exc) else 2
    except KeyboardInterrupt:
        err.print(f"interrupted; finished records in {out} are intact; rerun with --resume")
        return 130
    finally:
        if cache is not None:
            cache.close()
    console.print(
        f"{stats.done - stats.skipped} runs played, {stats.skipped} already complete,"
        f" {stats.failed} failed; records in {out}",
        highlight=False,
    )
    for run_id, cause in stats.failures[:10]:
        console.print(f"  failed {run_id}: {safe_console(cause)}", highlight=False, markup=False)
    if stats.stop_reason is not None:
        err.print(
            f"stopped: {safe_console(stats.stop_reason)}; {stats.stopped} runs in flight were"
            f" stopped (records closed as `stopped`) and {stats.not_started} not started; rerun"
            f" with --resume to play the remaining {stats.remaining} (a stopped run starts again"
            " from round 1; with --cache its calls so far are answered from the cache, free)",
            highlight=False,
            markup=False,
            emoji=False,
        )
        return SPEND_LIMIT
    return 1 if stats.failed else 0


def _ray_sweep(runs: list[RunSpec], out: Path, ray: RayOptions, **kwargs: Any) -> SweepStats:
    """`ray_sweep` with `--workers` and `--address` (Ray is imported here, not before)."""
    from dilemma.experiments.ray_executor import ray_sweep

    return ray_sweep(runs, out, workers=ray.workers, address=ray.address, **kwargs)


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f} USD"


def dry_run(
    name: str,
    runs: list[RunSpec],
    out: Path,
    *,
    resume: bool,
    experiment_runs: int,
    shard: Shard | None,
    console: Console,
) -> int:
    """Print the runs a sweep would play and their estimated calls, tokens and cost; run nothing.

    With `resume`, runs whose record in `out` is complete are left out (nothing is moved).
    """
    todo = runs
    complete = 0
    if resume:
        try:
            todo = [r for r in runs if record_status(out / f"{r.run_id}.jsonl") not in COMPLETE]
        except RecordError as exc:
            console.print(f"error: {safe_console(str(exc))}", highlight=False, markup=False)
            return 2
        complete = len(runs) - len(todo)
    est = estimate(todo)
    where = f" (shard {shard}: {len(runs)} of {experiment_runs})" if shard is not None else ""
    lines = [
        "dry run: nothing is run or written",
        f"experiment {name}: {len(runs)} runs{where}"
        + (f"; {complete} already complete in {out}, {len(todo)} to play" if resume else ""),
    ]
    if todo:
        lines += [
            f"model calls per run: about {est.per_run(est.calls):,.1f} (states x rounds x"
            f" (sub-turns + 1) x (1 + expected re-asks: 0 for scripted policies,"
            f" {EXPECTED_REASKS:g} a call for language models)); at most"
            f" {est.per_run(est.max_calls):,.1f} with every re-ask; fewer when a war ends a run",
            f"tokens per run: input at least about {est.per_run(est.input_tokens):,.0f} (round-1"
            " prompts with the reply schema, 4 characters a token; later rounds show more"
            f" history), output at most {est.per_run(est.output_tokens):,.0f}"
            f" ({MAX_TOKENS} a call, the reply cap)",
            f"total: about {est.calls:,.0f} model calls, {est.input_tokens:,.0f} input and at"
            f" most {est.output_tokens:,.0f} output tokens",
            "estimated cost (input and output tokens as above, at the price table's prices):",
        ]
        for spec, model in sorted(est.models.items()):
            note = "" if model.cost_usd is not None else " (no price: add it to DILEMMA_PRICES)"
            lines.append(f"  {spec}: {model.calls:,.0f} calls, {_usd(model.cost_usd)}{note}")
        total = _usd(est.cost_usd)
        if est.unpriced:
            total = f"{total} + unknown ({', '.join(est.unpriced)})"
        lines.append(f"  total: {total}")
    for line in lines:
        console.print(
            safe_console(line), highlight=False, markup=False, emoji=False, soft_wrap=True
        )
    return 0
