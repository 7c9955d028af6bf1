"""Where a sweep's runs are played: the `Executor` protocol and the errors every executor raises.

Two executors implement it: `dilemma.experiments.sweep.LocalExecutor` (one asyncio process) and
`dilemma.experiments.ray_executor.RayExecutor` (Ray tasks, the `ray` extra). Both plan the sweep
the same way (complete records are skipped under `resume`, unfinished ones set aside), play each
run with the same function and so write the same records, and return the same counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.spec import RunSpec


class SweepError(RuntimeError):
    """A sweep that cannot start or must stop (records in the way, a lost Ray worker)."""


class ReplayMiss(SweepError):
    """A replayed run asked for a reply its cache does not hold: the whole sweep stops."""


class Executor(Protocol):
    """Plays the runs of a sweep into `config.out_dir`.

    An executor whose class attribute `streams_calls` is False (Ray) does not pass each event
    to `config.on_event`; its calls reach the progress display through `SweepStats.calls` as
    runs finish."""

    async def run(self, runs: Sequence[RunSpec], config: SweepConfig) -> SweepStats:
        """Play every run still to play (see `SweepConfig.resume`); failed runs are recorded
        and counted while the others go on. Raises SweepError when the sweep cannot start or
        must stop (ReplayMiss: a replayed run missed the cache)."""
        ...
