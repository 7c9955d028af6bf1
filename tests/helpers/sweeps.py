"""Sweeps of run specs in tests: the local or the Ray executor, with a config from keywords."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.executor import Executor
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import LocalExecutor
from dilemma.models.budget import SpendBudget
from dilemma.models.response_cache import ResponseCache


async def sweep_locally(
    runs: Sequence[RunSpec],
    out_dir: Path,
    *,
    shared_cache: ResponseCache | None = None,
    budget: SpendBudget | None = None,
    **config: Any,
) -> SweepStats:
    """`LocalExecutor(cache=shared_cache, budget=budget)` on `SweepConfig(out_dir, **config)`."""
    executor: Executor = LocalExecutor(cache=shared_cache, budget=budget)
    return await executor.run(runs, SweepConfig(out_dir, **config))


def sweep_on_ray(
    runs: Sequence[RunSpec],
    out_dir: Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    **config: Any,
) -> SweepStats:
    """`RayExecutor(workers, address)` on `SweepConfig(out_dir, **config)`, run to its end."""
    from dilemma.experiments.ray_executor import RayExecutor

    executor: Executor = RayExecutor(workers=workers, address=address)
    return asyncio.run(executor.run(runs, SweepConfig(out_dir, **config)))
