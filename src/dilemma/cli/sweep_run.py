"""The terminal side of `dilemma sweep`: progress bar, summary, exit codes, dry run."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dilemma.api.sweeps import SweepPlan, asweep
from dilemma.cli.call_progress import CallTracker, TrackerColumn, call_line, duration
from dilemma.cli.common import BAD_INPUT, INTERRUPTED, RUN_FAILED, SPEND_LIMIT
from dilemma.core.safe_text import safe_console
from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.estimate import EXPECTED_REASKS, MAX_TOKENS, estimate
from dilemma.experiments.executor import Executor, ReplayMiss, SweepError
from dilemma.experiments.ray_executor import RayUnavailable
from dilemma.experiments.sweep import COMPLETE
from dilemma.models.latency import latency_of
from dilemma.models.registry import ModelSpecError
from dilemma.models.response_cache import CacheFormatError, CacheMiss, ResponseCache
from dilemma.models.spec import ModelSpec
from dilemma.records.reader import record_status
from dilemma.records.schema import LlmCallEvent, RecordError

EXIT_CODES: Mapping[type[Exception], int] = {
    ReplayMiss: RUN_FAILED,
    SweepError: BAD_INPUT,
    ModelSpecError: BAD_INPUT,
    CacheMiss: BAD_INPUT,
    CacheFormatError: BAD_INPUT,
    RayUnavailable: BAD_INPUT,
}
"""Exit code of a sweep stopped by an exception of this class (or of a subclass: the nearest
class in the exception's method resolution order wins)."""
STOPPING = tuple(EXIT_CODES)


def exit_code(exc: Exception) -> int:
    """The exit code for a sweep stopped by `exc` (see EXIT_CODES)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    raise ValueError(f"no exit code for {type(exc).__name__}")


def _error(err: Console, exc: Exception) -> int:
    """Print the error; its exit code."""
    err.print(f"error: {safe_console(str(exc))}", highlight=False, markup=False, soft_wrap=True)
    return exit_code(exc)


def check_cache(config: SweepConfig) -> None:
    """Open and close the response cache once, so that a bad or missing cache file is refused
    before the progress bar starts (CacheMiss, CacheFormatError)."""
    if config.cache is not None:
        ResponseCache(config.cache, replay=config.replay).close()


class _TwoLines(Progress):
    """A progress display with a second line under the runs' bar: the call tracker's (states
    waiting on a model, calls completed, ETA by the calls' pace)."""

    def __init__(self, console: Console, tracker: CallTracker) -> None:
        super().__init__(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs | {task.fields[tokens]} tokens | {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.calls = TrackerColumn(tracker)

    def get_renderables(self) -> Iterable[RenderableType]:
        """The runs' bar, then the tracker's line."""
        yield self.make_tasks_table(self.tasks)
        if self.tasks:
            yield self.calls.render(self.tasks[0])


def play_sweep(
    plan: SweepPlan,
    config: SweepConfig,
    executor: Callable[[], Executor],
    *,
    console: Console,
    err: Console,
    results: Console | None = None,
    verbose: bool = False,
) -> int:
    """Play the sweep (`dilemma.asweep`) with a progress bar; return the exit code (0 ok,
    1 failures or a replay miss, 2 bad input, 3 stopped by a spend limit, 130 interrupted).

    `executor` makes the executor before the progress bar starts; it may refuse
    (RayUnavailable), as a bad cache file is refused then.
    """
    try:
        runner = executor()
        check_cache(config)
    except STOPPING as exc:
        return _error(err, exc)
    expected = estimate(list(plan.runs)).calls if plan.runs else 0.0
    tracker = CallTracker(
        expected_calls=expected or None, per_call=getattr(runner, "streams_calls", True)
    )
    progress = _TwoLines(console, tracker)
    name = plan.experiment.name
    label = name if plan.shard is None else f"{name} (shard {plan.shard})"
    task = progress.add_task(label, total=len(plan.runs), calls=0, tokens=0, failed=0)

    def update(stats: SweepStats) -> None:
        if stats.total and expected:  # runs already complete make no calls
            tracker.expected_calls = expected * (stats.total - stats.skipped) / stats.total
        tracker.count(stats.calls)
        progress.update(
            task, completed=stats.done, calls=stats.calls, tokens=stats.tokens, failed=stats.failed
        )

    def on_event(run_id: str, event: BaseModel) -> None:
        tracker.on_event(event, run_id)
        if verbose and isinstance(event, LlmCallEvent):
            console.print(call_line(event, run_id[:8]), highlight=False, markup=False)

    out = config.out_dir
    try:
        with progress:
            watched = replace(config, on_update=update, on_event=on_event)
            result = asyncio.run(asweep(plan, watched, executor=runner))
    except STOPPING as exc:
        return _error(err, exc)
    except KeyboardInterrupt:
        err.print(
            f"interrupted; finished records in {out} are intact; rerun with --resume",
            markup=False,
            soft_wrap=True,
        )
        return INTERRUPTED
    finally:
        tracker.remember()
    code = _summary(result.stats, out, console=results or console, err=err)
    if code == 0:
        for line in next_steps(plan, out):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    return code


def next_steps(plan: SweepPlan, out: Path) -> list[str]:
    """What to run after a finished sweep: compare by the experiment's factors, report, view."""
    varying = [name for name, levels in plan.experiment.factors.items() if len(levels) > 1]
    folder = shlex.quote(str(out))
    lines = ["next:"]
    if varying:
        compare = f"dilemma compare {folder} --by {shlex.quote(varying[0])}"
        if len(varying) > 1:
            compare += f" --interaction {shlex.quote(varying[1])}"
        lines.append(f"  {compare}")
        lines += [f"  dilemma compare {folder} --by {shlex.quote(f)}" for f in varying[2:]]
    lines += [
        f"  dilemma score {folder}",
        f"  dilemma report {folder} -o {shlex.quote(str(out / 'report.html'))}",
        f"  dilemma view {folder}",
    ]
    if plan.overrides:
        given = " ".join(f"--{k} {v}" for k, v in plan.overrides.items())
        lines.append(f"  (a pilot: {given}; run the full design without them, into another folder)")
    return lines


def _summary(stats: SweepStats, out: Path, *, console: Console, err: Console) -> int:
    """Print what the sweep did; its exit code."""
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
            soft_wrap=True,
        )
        return SPEND_LIMIT
    return RUN_FAILED if stats.failed else 0


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.2f} USD"


def time_lines(models: Mapping[str, float], concurrency: int) -> list[str]:
    """The estimated time of `models` (spec -> expected calls): calls x seconds per call, the
    embedded model one call at a time, the others with up to `concurrency` calls in flight."""
    lines = [
        "estimated time (an estimate: calls x seconds per call; `local` as measured on this"
        " machine by an earlier run, else a default; defaults per provider in docs/cli.md):"
    ]
    serial = overlapped = 0.0
    for spec, calls in sorted(models.items()):
        latency = latency_of(spec)
        seconds = calls * latency.seconds
        if ModelSpec.parse(spec).is_local:
            serial += seconds
            how = "one call at a time"
        else:
            overlapped += seconds
            how = f"{duration(seconds / concurrency)} with {concurrency} calls in flight"
        lines.append(
            f"  {spec}: {calls:,.0f} calls x {latency.seconds:g} s ({latency.source})"
            f" = {duration(seconds)}; {how}"
        )
    lines.append(f"  total: about {duration(serial + overlapped / concurrency)}")
    return lines


def dry_run(
    plan: SweepPlan, out: Path, *, resume: bool, console: Console, concurrency: int = 8
) -> int:
    """Print the runs a sweep would play and their estimated calls, tokens and cost; run nothing.

    With `resume`, runs whose record in `out` is complete are left out (nothing is moved).
    """
    runs, shard, name = plan.runs, plan.shard, plan.experiment.name
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
    where = f" (shard {shard}: {len(runs)} of {plan.total})" if shard is not None else ""
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
        lines += time_lines({s: m.calls for s, m in est.models.items()}, concurrency)
    for line in lines:
        console.print(
            safe_console(line), highlight=False, markup=False, emoji=False, soft_wrap=True
        )
    return 0
