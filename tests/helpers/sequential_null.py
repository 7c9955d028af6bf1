"""Simulated experiments under the null, compared at three looks (tests and the benchmark).

Each experiment is a synthetic 2-cell table (tests.helpers.run_tables, no effect, seeds shared
across levels) with 40 seeds per cell; the looks see its first 10, 20 and 40 seeds. `compare`
runs on each look, once with the O'Brien-Fleming plan (looks 10, 20, 40) and once at alpha
each time ("compare, add seeds, compare" without a plan). An experiment counts as a false
positive when any look gives `changes` (it would have stopped there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dilemma.evaluation.comparison import Resampling, compare

from dilemma.records.schema import SequentialPlan, Spending
from tests.helpers.run_tables import synthetic_runs

LOOKS = (10, 20, 40)


def _any_changes(table: pd.DataFrame, plan: SequentialPlan | None, seed: int) -> bool:
    for k in LOOKS:
        seen = table[table["seed"] < k]
        result = compare(
            seen, "f", secondary=[], seed=seed, resampling=Resampling(n_boot=99, plan=plan)
        )
        if result.verdict == "changes":
            return True
    return False


def null_rates(
    experiments: int, seed: int, spending: Spending = "obrien_fleming"
) -> tuple[float, float]:
    """Share of null experiments with `changes` at any look: with the plan, and without."""
    rng = np.random.default_rng(seed)
    plan = SequentialPlan(looks=list(LOOKS), spending=spending)
    planned = unplanned = 0
    for i in range(experiments):
        table = synthetic_runs(rng, LOOKS[-1])
        planned += _any_changes(table, plan, i)
        unplanned += _any_changes(table, None, i)
    return planned / experiments, unplanned / experiments
