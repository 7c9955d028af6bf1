"""Small scripted sweeps for report tests: two factors (so an interaction), a few rounds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dilemma.experiments.spec import expand, load_experiment
from dilemma.records.schema import ExperimentInfo
from tests.helpers.sweeps import sweep_locally

TWO_FACTORS = """\
name: {name}
scenarios: [two-rivals]
rounds: {rounds}
model: scripted:reactive
factors:
  regime:
    - [democracy, democracy]
    - [autocracy, autocracy]
  transparency:
    - [transparent, transparent]
    - [secretive, secretive]
repeats: {repeats}
"""


def two_factor_experiment(rounds: int = 2, repeats: int = 2, name: str = "two-factor-pilot") -> str:
    """The text of a regime x transparency experiment file of scripted runs on two-rivals."""
    return TWO_FACTORS.format(rounds=rounds, repeats=repeats, name=name)


def two_factor_sweep(root: Path, rounds: int = 2, repeats: int = 2) -> Path:
    """A regime x transparency sweep of scripted runs; the folder of its records."""
    source = root / "two.yaml"
    source.write_text(two_factor_experiment(rounds, repeats), encoding="utf-8")
    experiment = load_experiment(source)
    runs = expand(experiment, source)
    out = root / "runs"
    meta = ExperimentInfo(name=experiment.name, source=str(source), runs=len(runs), conditions={})
    stats = asyncio.run(sweep_locally(runs, out, concurrency=4, experiment=meta))
    assert stats.failed == 0
    return out
