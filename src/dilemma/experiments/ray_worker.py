"""What runs inside Ray for `RayExecutor`: the sweep workers and the one shared spend budget.

A `SweepWorker` actor plays the runs the driver hands it with `play_run`, the function the local
executor uses, so the records are the same apart from times. A `BudgetKeeper` actor holds the
sweep's `SpendBudget`; each worker sees it through a `RemoteBudget`, so spend limits are exact
across workers. Ray itself is imported only inside the actors.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, Literal

from dilemma.experiments.config import SweepConfig
from dilemma.experiments.executor import ReplayMiss
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import (
    SharedKey,
    play_run,
    resolve_shared,
    run_models,
    shared_models,
)
from dilemma.models.budget import SpendBudget, SpendLimit, SpendLimitReached
from dilemma.models.registry import ResolvedModel
from dilemma.models.response_cache import ResponseCache
from dilemma.records.schema import LlmCallEvent

Status = Literal["done", "failed", "stopped", "not_started", "error"]


@dataclass(frozen=True)
class WorkerJob:
    """What every worker of a sweep needs (pickled to the workers once, at their start)."""

    config: SweepConfig
    """The sweep's config with absolute paths, without its progress callback and rate limiter
    (neither is picklable): `rps` gives each worker its own limiter."""
    rps: float | None
    check_every_s: float


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

        self.node_id: str = ray.get_runtime_context().get_node_id()
        self.limiter = asyncio.Semaphore(share)
        self.budget: SpendBudget | None = None
        config = job.config
        if keeper is not None and config.limit is not None:
            # the blocking reserve is intended: the limits must be exact across workers
            os.environ["RAY_WARN_BLOCKING_GET_INSIDE_ASYNC"] = "0"
            self.budget = RemoteBudget(config.limit, keeper, ray)
        limiter = (
            InMemoryRateLimiter(requests_per_second=rps, check_every_n_seconds=job.check_every_s)
            if rps is not None
            else None
        )
        self.config = replace(config, options=replace(config.options, rate_limiter=limiter))
        self.cache = (
            ResponseCache(config.cache, replay=config.replay) if config.cache is not None else None
        )
        self.shared: dict[SharedKey, ResolvedModel] = {}
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def ready(self) -> str:
        """The node this worker runs on (once the worker has started)."""
        return self.node_id

    def _models(self, run: RunSpec) -> dict[str, ResolvedModel]:
        if self.config.resolver is not None:
            return self.config.resolver(run)
        for key in shared_models(run).values():
            if key not in self.shared:
                self.shared[key] = resolve_shared(key, self.config.options)
        return run_models(run, self.shared)

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
                self.config,
                limiter=self.limiter,
                cache=self.cache,
                budget=self.budget,
                on_event=count,
            )
        except ReplayMiss as exc:  # the driver stops the sweep
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
