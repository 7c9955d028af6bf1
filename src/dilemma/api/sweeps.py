"""`sweep` / `asweep`: play every run of an experiment; `plan_sweep`: which runs those are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from dilemma.api.loop import run_sync
from dilemma.experiments.config import SweepConfig, SweepStats
from dilemma.experiments.executor import Executor
from dilemma.experiments.shards import Shard
from dilemma.experiments.spec import (
    Experiment,
    ExperimentError,
    RunSpec,
    expand,
    find_experiment,
    load_experiment,
)
from dilemma.experiments.sweep import LocalExecutor
from dilemma.models.spec import HUMAN_SPEC
from dilemma.records.schema import ExperimentInfo

ExperimentRef = Experiment | str | Path
"""An experiment object or an experiment YAML file."""


@dataclass(frozen=True)
class SweepPlan:
    """The runs a sweep of an experiment plays (the shard's, when sharded)."""

    experiment: Experiment
    source: Path | None
    """The experiment file; None for an experiment object."""
    runs: list[RunSpec]
    total: int
    """Runs of the whole experiment (more than `runs` when sharded)."""
    shard: Shard | None = None
    overrides: dict[str, int] = field(default_factory=dict)
    """What the command line changed from the file (`repeats`, `rounds`): a pilot."""

    @property
    def default_out_dir(self) -> Path:
        """Where the records go unless told otherwise: `runs/NAME`, or `runs/NAME-pilot` for a
        pilot (so that its records never sit among the full design's)."""
        suffix = "-pilot" if self.overrides else ""
        return Path("runs") / f"{self.experiment.name}{suffix}"

    def info(self) -> ExperimentInfo:
        """The experiment as written into every header (with each run's conditions)."""
        return ExperimentInfo.model_validate(
            {
                "name": self.experiment.name,
                "source": str(self.source) if self.source is not None else None,
                "runs": self.total,
                "conditions": {},
                "overrides": dict(self.overrides),
            }
            | self.experiment.compare_settings()
        )


def _with_model(experiment: Experiment, model: str) -> Experiment:
    """The experiment with `model` for every state, its model factors dropped."""
    data = experiment.model_dump()
    data["model"] = model
    data["factors"] = {
        k: v for k, v in experiment.factors.items() if k != "model" and not k.startswith("model.")
    }
    return type(experiment).model_validate(data)


PILOT_FIELDS = ("repeats", "rounds")
"""Experiment fields a pilot may override from the command line."""


def _with_overrides(experiment: Experiment, overrides: dict[str, int], where: Path) -> Experiment:
    """The experiment with the pilot's `repeats` / `rounds`; ExperimentError for a bad value."""
    unknown = sorted(set(overrides) - set(PILOT_FIELDS))
    if unknown:
        raise ValueError(f"overrides {unknown}: only {list(PILOT_FIELDS)} can be overridden")
    try:
        return type(experiment).model_validate(experiment.model_dump() | overrides)
    except ValidationError as exc:
        details = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise ExperimentError(f"{where}: override: {details}") from exc


def plan_sweep(
    experiment: ExperimentRef,
    *,
    model: str | None = None,
    shard: Shard | str | None = None,
    overrides: Mapping[str, int] | None = None,
) -> SweepPlan:
    """The runs of `experiment` (a file, a packaged example's name or an `Experiment`), with
    `model` overriding every state's model and only shard `shard` (`Shard` or "I/N") of them
    when given. `overrides` (`repeats`, `rounds`) make a pilot: recorded in every header, so a
    pilot is never mistaken for the full design.

    Raises ExperimentError naming the file and field (ShardError for a bad shard), also when a
    state has model `human` (a sweep has no one to ask).
    """
    part = Shard.parse(shard) if isinstance(shard, str) else shard
    if isinstance(experiment, Experiment):
        exp, source = experiment, None
        where = Path(f"<experiment {experiment.name}>")  # relative scenario files: from here
    else:
        where = source = find_experiment(Path(experiment))
        exp = load_experiment(source)
    if model is not None:
        exp = _with_model(exp, model)
    # a value the file already has changes nothing: not a pilot
    changed = {k: v for k, v in (overrides or {}).items() if getattr(exp, k, None) != v}
    if changed:
        exp = _with_overrides(exp, changed, where)
    runs = expand(exp, where)
    seated = sorted({sid for r in runs for sid, spec in r.models.items() if spec == HUMAN_SPEC})
    if seated:
        raise ExperimentError(
            f"{where}: state(s) {seated} have model `human`, and a sweep has no one to ask;"
            " play such runs one at a time with `dilemma play` (terminal) or `dilemma serve` (web)"
        )
    total = len(runs)
    if part is not None:
        runs = part.select(runs)
    return SweepPlan(
        experiment=exp, source=source, runs=runs, total=total, shard=part, overrides=changed
    )


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: where its records are, its counters, the runs it was asked to play."""

    out_dir: Path
    stats: SweepStats
    runs: list[RunSpec]


async def asweep(
    experiment: ExperimentRef | SweepPlan,
    config: SweepConfig | None = None,
    *,
    executor: Executor | None = None,
    model: str | None = None,
    shard: Shard | str | None = None,
) -> SweepResult:
    """Play every run of an experiment (a file, an `Experiment` or a `SweepPlan`).

    `config`: output folder, concurrency, resume, cache, spend limits, model options (default:
    folder `runs/NAME`, 8 calls in flight); its `experiment` defaults to the plan's, so every
    header names the experiment and its run's conditions. `executor`: `LocalExecutor()` (the
    default) or `RayExecutor(...)`. `model` and `shard`: see `plan_sweep`.

    Failed runs are recorded and counted in `stats` while the others go on. Raises
    ExperimentError on a bad experiment, SweepError when the sweep cannot start or must stop.
    """
    if isinstance(experiment, SweepPlan):
        if model is not None or shard is not None:
            raise ValueError("model and shard apply to an experiment, not to a SweepPlan")
        plan = experiment
    else:
        plan = plan_sweep(experiment, model=model, shard=shard)
    config = config or SweepConfig(out_dir=plan.default_out_dir)
    if config.experiment is None:
        config = replace(config, experiment=plan.info())
    stats = await (executor or LocalExecutor()).run(plan.runs, config)
    return SweepResult(out_dir=config.out_dir, stats=stats, runs=plan.runs)


def sweep(
    experiment: ExperimentRef | SweepPlan,
    config: SweepConfig | None = None,
    *,
    executor: Executor | None = None,
    model: str | None = None,
    shard: Shard | str | None = None,
) -> SweepResult:
    """`asweep`, synchronously; works inside a running event loop too (a notebook cell)."""
    return run_sync(lambda: asweep(experiment, config, executor=executor, model=model, shard=shard))
