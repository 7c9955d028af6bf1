"""Group-sequential looks: alpha spending across planned looks at the data.

An experiment may plan its looks in advance (`sequential: {looks: [10, 20, 40], spending:
obrien_fleming}`: seeds per cell at each look). Comparing at every look with alpha each time
would let the false-positive rate grow with the number of looks; here each look gets a nominal
level from an alpha-spending function (Lan and DeMets 1983), so that the chance of a false
`changes` at any look is at most alpha overall. Two spending functions, alpha(t) at information
fraction t = seeds at this look / seeds at the last look, both two-sided:

- `obrien_fleming` (O'Brien-Fleming type): alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t)).
  Spends almost nothing early, so the last look keeps nearly the full alpha.
- `pocock` (Pocock type): alpha(t) = alpha ln(1 + (e - 1) t). Spends evenly.

(Lan, K.K.G. and DeMets, D.L. (1983), "Discrete sequential boundaries for clinical trials",
Biometrika 70(3): 659-663; Jennison and Turnbull (2000), Group Sequential Methods, ch. 7.)

The boundaries are found by recursive numerical integration (Armitage, McPherson and Rowe 1969;
Jennison and Turnbull ch. 19) of the score statistic S_k ~ N(0, t_k) with independent
increments: look k's critical value c_k solves P(|Z_j| < c_j for j < k, |Z_k| >= c_k) =
alpha(t_k) - alpha(t_{k-1}), and its nominal level is 2 (1 - Phi(c_k)). No maintained Python
library offers these spending functions (statsmodels has none); the integration uses scipy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from dilemma.records.schema import SequentialPlan, Spending

_GRID = 801
"""Points of the integration grid across the continuation region at each look."""


def spent(spending: Spending, t: float, alpha: float) -> float:
    """Alpha spent by information fraction t (0 < t <= 1; beyond 1 the whole alpha)."""
    t = min(max(t, 0.0), 1.0)
    if t == 0:
        return 0.0
    if spending == "obrien_fleming":
        z = float(stats.norm.isf(alpha / 2))
        return float(2 * stats.norm.sf(z / math.sqrt(t)))
    if spending == "pocock":
        return float(alpha * math.log(1 + (math.e - 1) * t))
    raise ValueError(f"unknown spending function {spending!r}")


def _exit_probability(grid: np.ndarray, weights: np.ndarray, sd: float, bound: float) -> float:
    """P(|S_next| >= bound, no earlier exit), with S_next = s + N(0, sd^2) over the sub-density."""
    cross = stats.norm.sf((bound - grid) / sd) + stats.norm.cdf((-bound - grid) / sd)
    return float(np.dot(weights, cross))


def _excess(bound: float, grid: np.ndarray, weights: np.ndarray, sd: float, target: float) -> float:
    return _exit_probability(grid, weights, sd, bound) - target


@functools.lru_cache(maxsize=256)
def nominal_levels(fractions: tuple[float, ...], alpha: float, spending: Spending) -> list[float]:
    """Nominal two-sided level of each look at these information fractions (increasing)."""
    levels: list[float] = []
    grid = np.zeros(1)
    weights = np.ones(1)  # the sub-density of S at the previous look, as quadrature weights
    previous_t, previous_spent = 0.0, 0.0
    for t in fractions:
        target = spent(spending, t, alpha) - previous_spent
        sd = math.sqrt(t - previous_t)
        if target <= 0:
            bound = math.inf
        elif _exit_probability(grid, weights, sd, 0.0) <= target:
            bound = 0.0
        else:
            bound = float(
                optimize.brentq(
                    _excess, 0.0, 60.0 * math.sqrt(t), args=(grid, weights, sd, target), xtol=1e-12
                )
            )
        levels.append(float(2 * stats.norm.sf(bound / math.sqrt(t))))
        # carry the sub-density of paths still inside (|S| < bound) to the next look
        edge = min(bound, 12.0 * math.sqrt(t))
        nodes = np.linspace(-edge, edge, _GRID)
        step = nodes[1] - nodes[0]
        simpson = np.ones(_GRID)
        simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
        simpson *= step / 3
        density = stats.norm.pdf((nodes[:, None] - grid[None, :]) / sd) / sd @ weights
        weights, grid = density * simpson, nodes
        previous_t = t
        previous_spent += target if target > 0 else 0.0
    return levels


@dataclass(frozen=True)
class Look:
    """Where a comparison stands in a sequential plan."""

    number: int
    """1-based: which look this is (planned looks before it, then this one)."""
    seeds: int
    """Seeds per cell now."""
    plan: SequentialPlan
    nominal_alpha: float
    """The level the `changes` (and `equivalent`) verdict uses at this look."""
    alpha: float
    """The overall false-positive rate the plan keeps."""
    planned: bool
    """Whether the seeds per cell are one of the planned looks."""
    next_look: int | None
    """Seeds per cell at the next planned look; None after the last."""

    def note(self) -> str:
        """One sentence on this look and its level."""
        looks = ", ".join(str(x) for x in self.plan.looks)
        which = (
            f"look {self.number} of {len(self.plan.looks)}"
            if self.planned
            else f"an unplanned look (number {self.number}) between the planned ones"
        )
        return (
            f"sequential plan ({self.plan.spending}, looks at {looks} seeds per cell): this"
            f" is {which}, at {self.seeds} seeds per cell, tested at the nominal level"
            f" {self.nominal_alpha:.3g} so that the plan's false-positive rate stays"
            f" {self.alpha:g} over all looks"
        )


def current_look(plan: SequentialPlan, seeds: int, alpha: float) -> Look:
    """The look at `seeds` per cell: the planned looks below it count as taken. Seeds beyond
    the last look are treated as the last look (all alpha spent by then)."""
    last = plan.looks[-1]
    earlier = [x for x in plan.looks if x < seeds]
    taken = [*earlier, min(seeds, last)] if seeds <= last else [*plan.looks]
    fractions = tuple(x / last for x in taken)
    level = nominal_levels(fractions, alpha, plan.spending)[-1]
    later = [x for x in plan.looks if x > seeds]
    return Look(
        number=len(taken),
        seeds=seeds,
        plan=plan,
        nominal_alpha=level,
        alpha=alpha,
        planned=seeds in plan.looks,
        next_look=later[0] if later else None,
    )


def seeds_per_cell(runs: pd.DataFrame, cells: Sequence[str]) -> int:
    """The most distinct seeds in any cell (a combination of the `cells` columns' values)."""
    if runs.empty or "seed" not in runs.columns:
        return 0
    cols = [c for c in cells if c in runs.columns]
    if not cols:
        return int(runs["seed"].nunique())
    keyed = runs[cols].astype(str).assign(seed=runs["seed"])
    return int(keyed.groupby(cols, dropna=False)["seed"].nunique().max())
