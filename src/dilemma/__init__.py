"""Security-dilemma sandbox: LLM state personas negotiate and arm; records and measures.

The Python API (see docs/python-api.md):

    import dilemma
    path = dilemma.run("two-rivals", model="scripted:reactive", rounds=3)   # one scenario
    result = dilemma.sweep("experiment.yaml", dilemma.SweepConfig(out_dir="runs/x"))
    scores = dilemma.score(result.out_dir)          # runs, rounds, ... with condition columns
    verdict = dilemma.compare(scores, by="regime")  # changes / equivalent / inconclusive
    record = dilemma.read_record(path)

Each function has an async form (`arun`, `asweep`, `ascore`, `acompare`, `aread_record`); the
synchronous ones also work inside a running event loop (a Jupyter cell). Names are loaded on
first use, so `import dilemma` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dilemma._version import __version__ as __version__

if TYPE_CHECKING:
    from dilemma.api.analysis import (
        acompare,
        aread_record,
        ascore,
        compare,
        read_record,
        score,
    )
    from dilemma.api.runs import arun, run
    from dilemma.api.sweeps import SweepPlan, SweepResult, asweep, plan_sweep, sweep
    from dilemma.evaluation.comparison import Comparison
    from dilemma.evaluation.tables import Scores
    from dilemma.experiments.config import SweepConfig, SweepStats
    from dilemma.experiments.executor import Executor
    from dilemma.experiments.ray_executor import RayExecutor
    from dilemma.experiments.spec import Experiment
    from dilemma.experiments.sweep import LocalExecutor
    from dilemma.records.reader import Record
    from dilemma.scenarios.schema import Scenario
    from dilemma.simulation.runner import RunConfig

_EXPORTS = {
    "run": "dilemma.api.runs",
    "arun": "dilemma.api.runs",
    "sweep": "dilemma.api.sweeps",
    "asweep": "dilemma.api.sweeps",
    "plan_sweep": "dilemma.api.sweeps",
    "SweepPlan": "dilemma.api.sweeps",
    "SweepResult": "dilemma.api.sweeps",
    "score": "dilemma.api.analysis",
    "ascore": "dilemma.api.analysis",
    "compare": "dilemma.api.analysis",
    "acompare": "dilemma.api.analysis",
    "read_record": "dilemma.api.analysis",
    "aread_record": "dilemma.api.analysis",
    "Scenario": "dilemma.scenarios.schema",
    "RunConfig": "dilemma.simulation.runner",
    "SweepConfig": "dilemma.experiments.config",
    "SweepStats": "dilemma.experiments.config",
    "Experiment": "dilemma.experiments.spec",
    "Executor": "dilemma.experiments.executor",
    "LocalExecutor": "dilemma.experiments.sweep",
    "RayExecutor": "dilemma.experiments.ray_executor",
    "Scores": "dilemma.evaluation.tables",
    "Comparison": "dilemma.evaluation.comparison",
    "Record": "dilemma.records.reader",
}
"""Public name -> the module that defines it (imported on first use)."""

__all__ = [
    "Comparison",
    "Executor",
    "Experiment",
    "LocalExecutor",
    "RayExecutor",
    "Record",
    "RunConfig",
    "Scenario",
    "Scores",
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "SweepStats",
    "__version__",
    "acompare",
    "aread_record",
    "arun",
    "ascore",
    "asweep",
    "compare",
    "plan_sweep",
    "read_record",
    "run",
    "score",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
