"""What a sweep is asked to do (`SweepConfig`) and what it reports (`SweepStats`).

Both executors (`dilemma.experiments.sweep.LocalExecutor`, one asyncio process, and
`dilemma.experiments.ray_executor.RayExecutor`, Ray tasks) take the same `SweepConfig`; where the
runs are played is the executor's business, how they are played and recorded is the config's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from dilemma.experiments.spec import RunSpec
from dilemma.models.budget import SpendLimit
from dilemma.models.registry import ModelOptions
from dilemma.models.types import ResolvedModel
from dilemma.records.schema import ExperimentInfo

Resolver = Callable[[RunSpec], dict[str, ResolvedModel]]
"""Ready models for one run, by state id (tests, benchmarks; picklable for the Ray executor)."""


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


@dataclass(frozen=True)
class SweepConfig:
    """How to play and record the runs of a sweep, whichever executor plays them."""

    out_dir: Path
    """Folder of the sweep's records (one `RUN_ID.jsonl` per run)."""
    concurrency: int = 8
    """Model calls in flight at most, across all runs (and all Ray workers)."""
    resume: bool = False
    """Skip complete records; set unfinished ones aside in `failed/` and play those runs again.
    Without it, a folder that already holds records of these runs is refused."""
    cache: Path | None = None
    """SQLite response cache: replies are read from it and written to it."""
    replay: bool = False
    """Answer only from `cache`; a miss stops the sweep (ReplayMiss)."""
    options: ModelOptions = field(default_factory=ModelOptions)
    """Transport options of every model (server URL, temperature, rate limiter, timeouts)."""
    limit: SpendLimit | None = None
    """Spend limits of the whole sweep (`--max-cost`, `--max-calls`)."""
    experiment: ExperimentInfo | None = None
    """The experiment written into every header, with each run's conditions; default: the
    runs' experiment name only."""
    argv: Sequence[str] | None = None
    """Command line for the headers; default: this process's."""
    resolver: Resolver | None = None
    """Ready models per run instead of resolving the specs (tests, benchmarks)."""
    on_update: Callable[[SweepStats], None] | None = None
    """Called with the counters whenever they change (a progress bar)."""
    on_event: Callable[[str, BaseModel], None] | None = None
    """Called with the run id and every event of that run as it is written (per-call progress;
    the local executor only: Ray workers play in other processes)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.cache is not None:
            object.__setattr__(self, "cache", Path(self.cache))
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {self.concurrency}")
        if self.replay and self.cache is None:
            raise ValueError("replay needs a cache (the cache of the sweep to replay)")
