"""The Ray executor of `dilemma sweep --executor ray`: the runs of a sweep as Ray actor tasks.

The driver (the `dilemma` process) plans the sweep exactly as the local executor does (`plan`:
complete records are skipped under `--resume`, unfinished ones are moved to `failed/`), then
starts one `SweepWorker` actor per worker (one CPU each, spread over the nodes) and hands each
run to a worker as one actor task (`play`). A worker plays its runs in its own asyncio loop with
`play_run`, the function the local executor uses, so the records are the same apart from times;
it writes them straight into the output folder, which must therefore be a folder every node
sees (one machine, or a shared filesystem). Only small results (outcome, counts, node id) go back
to the driver, which updates the progress bar as runs finish and hands the worker its next run.

Calls in flight: worker i gets `share_i` of the `--concurrency` permits (`shares`: the limit
split as evenly as possible, the shares adding up to exactly the limit) and plays at most that
many runs at once, so the calls in flight across all workers never exceed `--concurrency`: a
global limit, enforced without a round trip per call. Spend limits are exact and global: one
`BudgetKeeper` actor holds the sweep's `SpendBudget`, and every call reserves its place there
(a blocking round trip per call, only when `--max-cost`/`--max-calls` is given).

Ray is imported only when this executor runs (`import_ray`); it is the optional `ray` extra.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Literal

from dilemma.experiments import ray_reaper
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import SweepError, SweepStats, plan, play_run
from dilemma.models.budget import SpendBudget, SpendLimit, SpendLimitReached
from dilemma.models.registry import ModelOptions, ResolvedModel, resolve_model
from dilemma.models.response_cache import ResponseCache
from dilemma.records.schema import ExperimentInfo, LlmCallEvent

LOOPBACK = "127.0.0.1"
"""The only address a Ray instance started by the driver binds to."""
CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
INSTALL_HINT = "pip install 'security-dilemma-sandbox[ray]' (the `ray` extra)"
CLOSE_S = 30.0
"""Seconds the driver waits for workers to close their runs and models before killing them."""
WAIT_S = 1.0
"""Longest block in `ray.wait`, so that Ctrl-C and signals are handled promptly."""

Status = Literal["done", "failed", "stopped", "not_started", "error"]


class RayUnavailable(RuntimeError):
    """`--executor ray` was asked for but Ray is not installed."""


def import_ray() -> ModuleType:
    """The `ray` module, or RayUnavailable naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(f"--executor ray needs Ray: {INSTALL_HINT}") from exc
    return ray


def loopback_only(ray: ModuleType) -> None:
    """Make the Ray instances this process starts bind every service to 127.0.0.1 only.

    Ray 2.60 binds to the host's address even with `_node_ip_address="127.0.0.1"` unless
    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, which Ray reads when it is imported: the variable is
    set for the processes Ray starts, and Ray's copy of it in this process (imported before).
    """
    os.environ[CLUSTER_ENV] = "0"
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


@contextmanager
def ray_session(ray: ModuleType, *, workers: int | None, address: str | None) -> Iterator[bool]:
    """Connect to Ray for one sweep; yields whether this process started the Ray instance.

    A Ray already initialised in this process (a test, a notebook) is used as it is and left
    running. With `address` (`auto`, `ray://...`, `host:port`) the driver connects to that
    cluster and disconnects at the end. Otherwise a local instance with `workers` CPUs (default:
    the machine's) is started on loopback only, without the dashboard, and shut down at the end,
    also on Ctrl-C, SIGTERM, SIGHUP or an error. If the driver is killed, most of its processes
    share its fate, and a watcher (`dilemma.experiments.ray_reaper`) ends the two agents that
    would otherwise outlive it by a minute.
    """
    if ray.is_initialized():
        yield False
        return
    watcher = None
    try:  # an interrupted start is shut down too
        if address is None:
            loopback_only(ray)
            watcher = ray_reaper.Watcher()  # ends the agents a killed driver leaves
            ray.init(
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                _node_ip_address=LOOPBACK,
                logging_level=logging.WARNING,
                log_to_driver=False,
                # Ray runs workers at nice 15 by default; they are the sweep's work, and play at
                # the priority the local executor's process has
                _system_config={"worker_niceness": 0},
            )
            watcher.started(ray)
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        with _signals_interrupt():
            yield address is None
    finally:
        ray.shutdown()
        if watcher is not None:
            watcher.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt meanwhile, like Ctrl-C, so the sweep closes
    its runs and Ray is shut down. Installed after `ray.init`, whose handlers would otherwise
    abort the process on SIGTERM; only in the main thread (Python's rule for handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = (signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, _interrupt) for s in caught}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` shares as even as possible (the first ones larger)."""
    if not 1 <= parts <= total:
        raise ValueError(f"cannot split {total} into {parts} shares of at least 1")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass(frozen=True)
class WorkerJob:
    """What every worker of a sweep needs (pickled to the workers once, at their start)."""

    out_dir: Path
    cache_path: Path | None
    replay: bool
    options: ModelOptions
    """Without its rate limiter (not picklable): `rps` gives each worker its own."""
    rps: float | None
    check_every_s: float
    experiment: ExperimentInfo | None
    resolver: Callable[[RunSpec], dict[str, ResolvedModel]] | None
    argv: tuple[str, ...]
    limit: SpendLimit | None


@dataclass(frozen=True)
class RunResult:
    """What a worker reports to the driver when a run ends."""

    run_id: str
    node_id: str
    status: Status
    cause: str
    calls: int
    tokens: int


class BudgetKeeper:
    """The one `SpendBudget` of a Ray sweep, kept in one actor: its tasks run one at a time, in
    the order each worker sent them, so the limits hold across all workers exactly."""

    def __init__(self, limit: SpendLimit) -> None:
        self.budget = SpendBudget(limit)

    def reserve(
        self, provider: str, model: str, prompt_tokens: int, max_output_tokens: int | None = None
    ) -> tuple[float, str | None]:
        """(worst case, None) for a call that may go out, (0, reason) for one that may not."""
        try:
            return self.budget.reserve(provider, model, prompt_tokens, max_output_tokens), None
        except SpendLimitReached as exc:
            return 0.0, exc.reason

    def settle(self, provider: str, model: str, estimate: float, cost: float | None) -> None:
        """See `SpendBudget.settle`."""
        self.budget.settle(provider, model, estimate, cost)

    def state(self) -> tuple[int, float, str | None]:
        """Calls reserved, cost settled, and why the budget is spent (None while it is not)."""
        return self.budget.calls, self.budget.cost_usd, self.budget.stop_reason


class RemoteBudget(SpendBudget):
    """A worker's view of the `BudgetKeeper`: every reserve is a blocking round trip (the
    limits must hold exactly across workers); settling is sent without waiting."""

    def __init__(self, limit: SpendLimit, keeper: Any, ray: ModuleType) -> None:
        super().__init__(limit)
        self._keeper = keeper
        self._ray = ray
        self._known_stop: str | None = None

    @property
    def stop_reason(self) -> str | None:
        """Why the shared budget is spent, asked of the keeper until it is."""
        if self._known_stop is None:
            self._known_stop = self._ray.get(self._keeper.state.remote())[2]
        return self._known_stop

    def reserve(
        self, provider: str, model: str, prompt_tokens: int, max_output_tokens: int | None = None
    ) -> float:
        """Reserve a call in the shared budget; SpendLimitReached when it may not go out."""
        estimate, reason = self._ray.get(
            self._keeper.reserve.remote(provider, model, prompt_tokens, max_output_tokens)
        )
        if reason is not None:
            self._known_stop = reason
            raise SpendLimitReached(reason)
        self.calls += 1
        return float(estimate)

    def settle(self, provider: str, model: str, estimate: float, cost: float | None) -> None:
        """Settle the call in the keeper (ordered before this worker's next reserve)."""
        self._keeper.settle.remote(provider, model, estimate, cost)


class SweepWorker:
    """A Ray actor playing the runs handed to it, at most `share` at once, with `share` permits
    for model calls in flight; models are resolved once per spec per worker, as in a local sweep.
    """

    def __init__(self, job: WorkerJob, share: int, rps: float | None, keeper: Any) -> None:
        import ray
        from langchain_core.rate_limiters import InMemoryRateLimiter

        self.job = job
        self.node_id: str = ray.get_runtime_context().get_node_id()
        self.limiter = asyncio.Semaphore(share)
        self.budget: SpendBudget | None = None
        if keeper is not None and job.limit is not None:
            # the blocking reserve is intended: the limits must be exact across workers
            os.environ["RAY_WARN_BLOCKING_GET_INSIDE_ASYNC"] = "0"
            self.budget = RemoteBudget(job.limit, keeper, ray)
        limiter = (
            InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=job.check_every_s)
            if rps is not None
            else None
        )
        self.options = replace(job.options, rate_limiter=limiter)
        self.cache = (
            ResponseCache(job.cache_path, replay=job.replay) if job.cache_path is not None else None
        )
        self.shared: dict[str, ResolvedModel] = {}
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def ready(self) -> str:
        """The node this worker runs on (once the worker has started)."""
        return self.node_id

    def _models(self, run: RunSpec) -> dict[str, ResolvedModel]:
        if self.job.resolver is not None:
            return self.job.resolver(run)
        models = {}
        for sid, spec in run.models.items():
            if spec.startswith("scripted:"):
                models[sid] = resolve_model(spec, seed=run.seed)
            else:
                if spec not in self.shared:
                    self.shared[spec] = resolve_model(spec, options=self.options)
                models[sid] = self.shared[spec]
        return models

    async def play(self, run: RunSpec) -> RunResult:
        """Play one run into the output folder (none starts once the spend budget is spent)."""
        if self.budget is not None and self.budget.spent:
            return RunResult(run.run_id, self.node_id, "not_started", "", 0, 0)
        calls = tokens = 0

        def count(event: object) -> None:
            nonlocal calls, tokens
            if isinstance(event, LlmCallEvent):
                calls += 1
                tokens += (event.input_tokens or 0) + (event.output_tokens or 0)

        self.active += 1
        self.idle.clear()
        try:
            outcome, cause = await play_run(
                run,
                self._models(run),
                self.job.out_dir,
                limiter=self.limiter,
                experiment=self.job.experiment,
                cache=self.cache,
                on_event=count,
                budget=self.budget,
                argv=self.job.argv,
            )
        except SweepError as exc:  # a replay miss: the driver stops the sweep
            return RunResult(run.run_id, self.node_id, "error", str(exc), calls, tokens)
        finally:
            self.active -= 1
            if not self.active:
                self.idle.set()
        return RunResult(run.run_id, self.node_id, outcome, cause, calls, tokens)

    async def close(self) -> None:
        """Wait for the runs in flight (cancelled ones close their records), then release the
        models (e.g. a local server) and the cache."""
        from dilemma.simulation.runner import close_models

        await self.idle.wait()
        close_models(self.shared.values())
        if self.cache is not None:
            self.cache.close()


def ray_sweep(
    runs: list[RunSpec],
    out_dir: Path,
    *,
    concurrency: int,
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    cache_path: Path | None = None,
    replay: bool = False,
    options: ModelOptions | None = None,
    on_update: Callable[[SweepStats], None] | None = None,
    experiment: ExperimentInfo | None = None,
    resolver: Callable[[RunSpec], dict[str, ResolvedModel]] | None = None,
    limit: SpendLimit | None = None,
    argv: Sequence[str] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> SweepStats:
    """Run the sweep on Ray (see the module docstring); the same stats as `sweep`, plus the
    node each run was played on (`stats.nodes`).

    `workers`: worker processes (default: the CPUs of the local instance or of the cluster, at
    most `concurrency` and the runs to play). `resolver` must be picklable (tests, benchmarks).
    `on_ready` is called once the workers have started, before the first run is handed out.
    """
    ray = import_ray()
    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    out_dir.mkdir(parents=True, exist_ok=True)
    todo, complete = plan(runs, out_dir, resume)
    stats = SweepStats(total=len(runs), done=complete, skipped=complete)

    def notify() -> None:
        if on_update is not None:
            on_update(stats)

    notify()
    if not todo:
        return stats
    options = options or ModelOptions()
    rate = options.rate_limiter
    job = WorkerJob(
        out_dir=out_dir.resolve(),
        cache_path=cache_path.resolve() if cache_path is not None else None,
        replay=replay,
        options=replace(options, rate_limiter=None),
        rps=getattr(rate, "requests_per_second", None) if rate is not None else None,
        check_every_s=float(getattr(rate, "check_every_n_seconds", 0.1)),
        experiment=experiment,
        resolver=resolver,
        argv=tuple(sys.argv if argv is None else argv),
        limit=limit,
    )
    with ray_session(ray, workers=workers, address=address):
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        count = min(workers or cpus, cpus, concurrency, len(todo))
        permits = shares(concurrency, count)
        keeper = (
            ray.remote(BudgetKeeper).options(num_cpus=0).remote(limit)
            if limit is not None
            else None
        )
        worker_cls = ray.remote(SweepWorker)
        actors = [
            worker_cls.options(
                num_cpus=1, max_concurrency=share + 2, scheduling_strategy="SPREAD"
            ).remote(
                job,
                share,
                job.rps * share / concurrency if job.rps is not None else None,
                keeper,
            )
            for share in permits
        ]
        pending: dict[Any, int] = {}
        try:
            ray.get([a.ready.remote() for a in actors])
            if on_ready is not None:
                on_ready()
            _dispatch(ray, actors, permits, deque(todo), pending, stats, notify)
            if keeper is not None and stats.remaining:
                stats.stop_reason = ray.get(keeper.state.remote())[2]
        except ray.exceptions.RayError as exc:
            raise SweepError(
                f"a Ray worker failed ({type(exc).__name__}: {exc}); finished records in"
                f" {out_dir} are intact; rerun with --resume"
            ) from exc
        finally:
            _stop(ray, actors, pending)
    return stats


def _dispatch(
    ray: ModuleType,
    actors: list[Any],
    permits: list[int],
    queue: deque[RunSpec],
    pending: dict[Any, int],
    stats: SweepStats,
    notify: Callable[[], None],
) -> None:
    """Keep each worker busy with as many runs as it has permits until the queue is empty or
    the spend budget is spent; account each result as the local executor does."""

    def submit(i: int) -> None:
        pending[actors[i].play.remote(queue.popleft())] = i

    for i, share in enumerate(permits):
        for _ in range(share):
            if queue:
                submit(i)
    spent = False
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
        for ref in ready:
            i = pending.pop(ref)
            result: RunResult = ray.get(ref)
            if result.status == "error":
                raise SweepError(result.cause)
            stats.nodes[result.run_id] = result.node_id
            stats.calls += result.calls
            stats.tokens += result.tokens
            if result.status in ("stopped", "not_started"):
                spent = True
                if result.status == "stopped":
                    stats.stopped += 1
                else:
                    stats.not_started += 1
                    del stats.nodes[result.run_id]
            else:
                if result.status == "failed":
                    stats.failed += 1
                    stats.failures.append((result.run_id, result.cause))
                stats.done += 1
            notify()
            if queue and not spent:
                submit(i)
    stats.not_started += len(queue)


def _stop(ray: ModuleType, actors: list[Any], pending: dict[Any, int]) -> None:
    """Cancel the runs still in flight (their records close as interrupted), let the workers
    close their models, then end them."""
    for ref in pending:
        ray.cancel(ref)
    closing = [a.close.remote() for a in actors]
    ray.wait(closing, num_returns=len(closing), timeout=CLOSE_S)
    for actor in actors:
        ray.kill(actor)
