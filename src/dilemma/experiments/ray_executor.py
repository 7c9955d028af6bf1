"""The Ray executor of `dilemma sweep --executor ray`: the runs of a sweep as Ray actor tasks.

The driver (the `dilemma` process) plans the sweep exactly as the local executor does (`start`:
complete records are skipped under `resume`, unfinished ones are moved to `failed/`), then
starts one `SweepWorker` actor per worker (one CPU each, spread over the nodes) and hands each
run to a worker as one actor task (`play`; see `dilemma.experiments.ray_worker`). The workers
write the records straight into the output folder, which must therefore be a folder every node
sees (one machine, or a shared filesystem). Only small results (outcome, counts, node id) go back
to the driver, which awaits them in its event loop, updates the progress as runs finish and hands
the worker its next run.

Calls in flight: worker i gets `share_i` of the `concurrency` permits (`shares`: the limit split
as evenly as possible, the shares adding up to exactly the limit) and plays at most that many
runs at once, so the calls in flight across all workers never exceed `concurrency`: a global
limit, enforced without a round trip per call. Spend limits are exact and global: one
`BudgetKeeper` actor holds the sweep's `SpendBudget`, and every call reserves its place there (a
blocking round trip per call, only when a limit is given).

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
from types import ModuleType
from typing import Any, ClassVar

from dilemma.experiments import ray_reaper
from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.executor import ReplayMiss, SweepError
from dilemma.experiments.ray_worker import BudgetKeeper, RunResult, SweepWorker, WorkerJob
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import start

LOOPBACK = "127.0.0.1"
"""The only address a Ray instance started by the driver binds to."""
CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
INSTALL_HINT = "pip install 'security-dilemma-sandbox[ray]' (the `ray` extra)"
CLOSE_S = 30.0
"""Seconds the driver waits for workers to close their runs and models before killing them."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals that stop a Ray sweep as Ctrl-C does (runs closed as interrupted, Ray shut down)."""


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
    also on an interruption or an error. If the driver is killed, most of its processes share its
    fate, and a watcher (`dilemma.experiments.ray_reaper`) ends the two agents that would
    otherwise outlive it by a minute.
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
        yield address is None
    finally:
        ray.shutdown()
        if watcher is not None:
            watcher.close()


@contextmanager
def _signals_cancel(caught: list[int]) -> Iterator[None]:
    """SIGTERM and SIGHUP cancel the current task meanwhile (noted in `caught`), as Ctrl-C
    does under `asyncio.run`, so the sweep closes its runs and Ray is shut down. Installed after
    `ray.init`, whose handlers would otherwise abort the process on SIGTERM, and restored after;
    only in the main thread (Python's rule for handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def stop(signum: int) -> None:
        caught.append(signum)
        if task is not None:
            task.cancel()

    for s in STOP_SIGNALS:
        loop.add_signal_handler(s, stop, s)
    try:
        yield
    finally:
        for s, handler in before.items():
            loop.remove_signal_handler(s)
            if handler is not None:
                signal.signal(s, handler)


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` shares as even as possible (the first ones larger)."""
    if not 1 <= parts <= total:
        raise ValueError(f"cannot split {total} into {parts} shares of at least 1")
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _job(config: SweepConfig) -> WorkerJob:
    """What the workers need of `config`: absolute paths, nothing that cannot be pickled."""
    rate = config.options.rate_limiter
    return WorkerJob(
        config=replace(
            config,
            out_dir=config.out_dir.resolve(),
            cache=config.cache.resolve() if config.cache is not None else None,
            options=replace(config.options, rate_limiter=None),
            argv=tuple(config.argv if config.argv is not None else sys.argv),
            on_update=None,
            on_event=None,
        ),
        rps=getattr(rate, "requests_per_second", None) if rate is not None else None,
        check_every_s=float(getattr(rate, "check_every_n_seconds", 0.1)),
    )


@dataclass(frozen=True)
class RayExecutor:
    """Plays a sweep's runs as Ray actor tasks (see the module docstring); the stats also say
    which node played each run (`stats.nodes`).

    `workers`: worker processes (default: the CPUs of the local instance or of the cluster, at
    most `concurrency` and the runs to play). `address`: a Ray cluster to use (`auto`,
    `ray://HOST:PORT`); default: start a local instance, or use the Ray already initialised in
    this process. `on_ready` is called once the workers have started, before the first run is
    handed out (benchmarks). A resolver in the config must be picklable.
    """

    streams_calls: ClassVar[bool] = False
    """Workers report a run's calls when it finishes, not each call as it happens."""
    workers: int | None = None
    address: str | None = None
    on_ready: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be 1 or more, not {self.workers}")

    async def run(self, runs: Sequence[RunSpec], config: SweepConfig) -> SweepStats:
        """See `dilemma.experiments.executor.Executor.run`. The driver's event loop is blocked
        while Ray starts and stops; in between it awaits the workers' results."""
        ray = import_ray()
        todo, stats = start(runs, config)

        def notify() -> None:
            if config.on_update is not None:
                config.on_update(stats)

        notify()
        if not todo:
            return stats
        caught: list[int] = []
        try:
            with (
                ray_session(ray, workers=self.workers, address=self.address),
                _signals_cancel(caught),
            ):
                await self._play(ray, todo, config, stats, notify)
        except asyncio.CancelledError:
            if caught:
                raise KeyboardInterrupt(f"signal {caught[0]}") from None
            raise
        return stats

    async def _play(
        self,
        ray: ModuleType,
        todo: list[RunSpec],
        config: SweepConfig,
        stats: SweepStats,
        notify: Callable[[], None],
    ) -> None:
        """Start the workers (and the budget keeper), hand out the runs, stop the workers."""
        job = _job(config)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        count = min(self.workers or cpus, cpus, config.concurrency, len(todo))
        permits = shares(config.concurrency, count)
        keeper = (
            ray.remote(BudgetKeeper).options(num_cpus=0).remote(config.limit)
            if config.limit is not None
            else None
        )
        worker_cls = ray.remote(SweepWorker)
        actors = [
            worker_cls.options(
                num_cpus=1, max_concurrency=share + 2, scheduling_strategy="SPREAD"
            ).remote(
                job,
                share,
                job.rps * share / config.concurrency if job.rps is not None else None,
                keeper,
            )
            for share in permits
        ]
        pending: dict[asyncio.Future[RunResult], Any] = {}
        try:
            await asyncio.gather(*(a.ready.remote() for a in actors))
            if self.on_ready is not None:
                self.on_ready()
            await _dispatch(actors, permits, deque(todo), pending, stats, notify)
            if keeper is not None and stats.remaining:
                stats.stop_reason = (await keeper.state.remote())[2]
        except ray.exceptions.RayError as exc:
            raise SweepError(
                f"a Ray worker failed ({type(exc).__name__}: {exc}); finished records in"
                f" {config.out_dir} are intact; rerun with --resume"
            ) from exc
        finally:
            _stop(ray, actors, pending)


async def _dispatch(
    actors: list[Any],
    permits: list[int],
    queue: deque[RunSpec],
    pending: dict[asyncio.Future[RunResult], Any],
    stats: SweepStats,
    notify: Callable[[], None],
) -> None:
    """Keep each worker busy with as many runs as it has permits until the queue is empty or
    the spend budget is spent; account each result as the local executor does. `pending` maps
    each awaited result to its Ray object reference."""
    worker_of: dict[asyncio.Future[RunResult], int] = {}

    def submit(i: int) -> None:
        ref = actors[i].play.remote(queue.popleft())
        future: asyncio.Future[RunResult] = asyncio.wrap_future(ref.future())
        pending[future] = ref
        worker_of[future] = i

    for i, share in enumerate(permits):
        for _ in range(share):
            if queue:
                submit(i)
    spent = False
    while pending:
        ready, _ = await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)
        for future in ready:
            del pending[future]
            i = worker_of.pop(future)
            result = future.result()
            if result.status == "error":
                raise ReplayMiss(result.cause)
            _account(result, stats)
            spent = spent or result.status in ("stopped", "not_started")
            notify()
            if queue and not spent:
                submit(i)
    stats.not_started += len(queue)


def _account(result: RunResult, stats: SweepStats) -> None:
    """Count one finished, failed, stopped or unstarted run into `stats`."""
    stats.nodes[result.run_id] = result.node_id
    stats.calls += result.calls
    stats.tokens += result.tokens
    if result.status == "stopped":
        stats.stopped += 1
    elif result.status == "not_started":
        stats.not_started += 1
        del stats.nodes[result.run_id]
    else:
        if result.status == "failed":
            stats.failed += 1
            stats.failures.append((result.run_id, result.cause))
        stats.done += 1


def _stop(
    ray: ModuleType, actors: list[Any], pending: dict[asyncio.Future[RunResult], Any]
) -> None:
    """Cancel the runs still in flight (their records close as interrupted), let the workers
    close their models, then end them."""
    for future, ref in pending.items():
        future.cancel()
        ray.cancel(ref)
    closing = [a.close.remote() for a in actors]
    ray.wait(closing, num_returns=len(closing), timeout=CLOSE_S)
    for actor in actors:
        ray.kill(actor)
