"""Binary outcomes (war) across strata and in interactions: an exact stratified test, and
intervals and equivalence tests for weighted differences of proportions.

A contrast of proportions is a linear combination of cell proportions p[k, c] (stratum k, cell
c) with fixed coefficients per cell: (1, -1) for a difference of two levels, (1, -1, -1, 1) for
a difference of differences (an interaction). Strata are combined with the weights of the
Mantel-Haenszel risk difference, w_k proportional to 1 / sum_c (1 / n[k, c]) (for two cells
n_a n_b / (n_a + n_b)), so the estimate is sum_k w_k sum_c coef_c p[k, c].

- Test of a stratified difference of two levels: the exact conditional test of the stratified
  2 x 2 tables (the exact Mantel-Haenszel test; Birch 1964). Given each stratum's margins, the
  events at level a in a stratum are hypergeometric under the null, and their total over strata
  is the convolution of those distributions (scipy `hypergeom`), computed exactly at any size:
  the same distribution that relabelling the runs within each stratum gives, without sampling.
  Two-sided p: twice the smaller tail, at most 1 (the convention of the permutation tests). With
  one stratum it is the doubled one-sided Fisher exact test.
- Interval: the method of variance estimates recovery (MOVER; Zou and Donner 2008) over Wilson
  score limits of every cell (statsmodels `proportion_confint(method="wilson")`), the stratified
  Newcombe interval of Yan and Su (2010): for sum_j g_j p_j (g_j = w_k coef_c), the lower limit
  is est - sqrt(sum_j g_j^2 (p_j - l_j)^2), taking the cell's lower limit l_j where g_j > 0 and
  the upper one where g_j < 0 (and the other way round for the upper limit). With one stratum
  and two cells it is Newcombe's hybrid score interval; unlike a Wald interval it stays
  informative when no cell has an event (the usual case for war).
- Equivalence within +-margin: two one-sided tests, each the inversion of the one-sided MOVER
  limit (the p of H0: contrast <= -margin is the level alpha at which the one-sided lower limit
  reaches -margin, found by root finding); equivalence at alpha is exactly "the 1 - 2 alpha
  interval lies inside the margins".
- A difference of differences uses Clopper-Pearson limits of its four cells instead of Wilson
  ones (INTERACTION_LIMITS): with four components the Wilson-based interval undercovers at war
  rates near 30% with few runs per cell. When its runs are not matched by seed its test is the
  same inversion, two-sided (p < alpha exactly when the 1 - alpha interval excludes 0). No
  exact test of an interaction of risk differences exists (the exact conditional test of a
  2 x 2 x 2 table, Zelen's, tests odds ratios, a different scale); this one is approximate and
  its calibration under the null is measured (`benchmarks/bench_binary_calibration.py`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.contrast import ALPHA, FloatArray
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

MAIN = (1.0, -1.0)
"""Coefficients of a difference a - b (cells: a, b)."""
INTERACTION = (1.0, -1.0, -1.0, 1.0)
"""Coefficients of (a0 - a1 at w0) - (a0 - a1 at w1) (cells: a0w0, a1w0, a0w1, a1w1)."""
INTERACTION_LIMITS = "beta"
"""Limits of the cells of an interaction: Clopper-Pearson. With Wilson limits the inverted
four-cell interval called 6.1% of interactions present at war rates of 30% with 10 runs per
cell (1,500 simulated nulls), with Clopper-Pearson limits 3%."""
_ALPHA_MIN = 1e-15
"""Smallest one-sided level searched when inverting an interval (p-values below it are
reported as this)."""


@dataclass(frozen=True)
class Cells:
    """Event counts and run counts per stratum (rows) and cell (columns), with the cells'
    coefficients in the contrast. Every cell of every stratum holds at least one run."""

    counts: np.ndarray
    sizes: np.ndarray
    coefs: tuple[float, ...]
    limits_method: str = "wilson"
    """The cells' limits (statsmodels `proportion_confint` method): "wilson" (Newcombe), or
    "beta" (Clopper-Pearson), which holds the level of the four-cell interaction."""

    def __post_init__(self) -> None:
        if self.counts.shape != self.sizes.shape or self.counts.shape[1] != len(self.coefs):
            raise ValueError("counts, sizes and coefficients do not match")
        if self.sizes.size == 0 or (self.sizes < 1).any():
            raise ValueError("every cell of every stratum needs a run")

    def weights(self) -> FloatArray:
        """Mantel-Haenszel-type stratum weights, summing to 1."""
        w = 1.0 / (1.0 / self.sizes).sum(axis=1)
        out: FloatArray = w / w.sum()
        return out

    def gains(self) -> FloatArray:
        """Coefficient of every cell proportion in the contrast (strata x cells)."""
        out: FloatArray = self.weights()[:, None] * np.asarray(self.coefs)[None, :]
        return out

    def estimate(self) -> float:
        """The weighted contrast of proportions."""
        return float((self.gains() * self.counts / self.sizes).sum())

    def limits(self, alpha: float) -> tuple[float, float]:
        """One-sided MOVER lower and upper limits, each at level `alpha` (0 < alpha <= 0.5):
        together the 1 - 2 alpha interval."""
        g = self.gains().ravel()
        p = (self.counts / self.sizes).ravel()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lo, hi = proportion_confint(
                self.counts.ravel(),
                self.sizes.ravel(),
                alpha=min(2 * alpha, 1.0),
                method=self.limits_method,
            )
        lo, hi = np.asarray(lo, dtype="float64"), np.asarray(hi, dtype="float64")
        est = float((g * p).sum())
        down = np.where(g > 0, p - lo, hi - p) * g
        up = np.where(g > 0, hi - p, p - lo) * g
        return est - float(np.sqrt((down**2).sum())), est + float(np.sqrt((up**2).sum()))

    def interval(self, alpha: float = ALPHA) -> tuple[float, float]:
        """Two-sided 1 - alpha MOVER interval of the contrast."""
        return self.limits(alpha / 2)

    def above(self, theta: float) -> float:
        """p of H0: contrast <= theta against contrast > theta (inverted one-sided limits)."""
        est = self.estimate()
        if est > theta:
            return _root(lambda a: self.limits(a)[0] - theta)
        if est < theta:
            return 1.0 - _root(lambda a: theta - self.limits(a)[1])
        return 0.5

    def below(self, theta: float) -> float:
        """p of H0: contrast >= theta against contrast < theta."""
        est = self.estimate()
        if est < theta:
            return _root(lambda a: theta - self.limits(a)[1])
        if est > theta:
            return 1.0 - _root(lambda a: self.limits(a)[0] - theta)
        return 0.5

    def p_two_sided(self) -> float:
        """Two-sided p of H0: contrast = 0 by inverting the interval."""
        return min(1.0, 2 * min(self.above(0.0), self.below(0.0)))

    def p_equivalence(self, margin: float) -> float:
        """p of two one-sided tests that |contrast| < margin (NaN without a margin)."""
        if not math.isfinite(margin):
            return math.nan
        return max(self.above(-margin), self.below(margin))


def _root(gap: Callable[[float], float]) -> float:
    """The level alpha in [_ALPHA_MIN, 0.5] at which gap(alpha) = 0, where gap rises with
    alpha from below 0 (a limit short of theta at high confidence) to above 0 at alpha = 0.5
    (the limit is then the estimate); _ALPHA_MIN when gap is already positive there."""
    if gap(_ALPHA_MIN) >= 0:
        return _ALPHA_MIN
    if gap(0.5) <= 0:
        return 0.5
    return float(optimize.brentq(gap, _ALPHA_MIN, 0.5, xtol=1e-14, rtol=1e-10))


def _hypergeom_pmf(events: int, n_a: int, n_b: int) -> tuple[int, FloatArray]:
    """(smallest support value, pmf) of the events at level a given `events` in the stratum."""
    lo, hi = max(0, events - n_b), min(events, n_a)
    x = np.arange(lo, hi + 1)
    pmf: FloatArray = stats.hypergeom.pmf(x, n_a + n_b, events, n_a)
    return lo, pmf


def stratified_exact_p(counts: np.ndarray, sizes: np.ndarray) -> float:
    """Two-sided exact conditional p that levels a and b have the same event rate in every
    stratum; counts and sizes are strata x (a, b)."""
    offset, pmf = 0, np.ones(1)
    for (c_a, c_b), (n_a, n_b) in zip(counts.astype(int), sizes.astype(int), strict=True):
        lo, part = _hypergeom_pmf(int(c_a + c_b), int(n_a), int(n_b))
        offset += lo
        pmf = np.convolve(pmf, part)
    at = int(counts[:, 0].sum()) - offset
    low, high = float(pmf[: at + 1].sum()), float(pmf[at:].sum())
    return min(1.0, 2 * min(low, high))


def stratified_min_p(sizes: np.ndarray) -> float:
    """Smallest two-sided exact conditional p attainable with these strata x (a, b) runs:
    every stratum's events all at one level, as many as that level has runs."""
    log_p = -sum(math.log(math.comb(int(a + b), int(a))) for a, b in sizes.astype(int))
    return min(1.0, 2 * math.exp(log_p))


def cells_of(
    values: FloatArray, cells: Sequence[np.ndarray], keys: Sequence[Hashable]
) -> Cells | None:
    """The Cells of one measure: `values` per run (NaN: no value), `cells` the run indices of
    each cell, `keys` each run's stratum (indexed like `values`). Strata missing a cell are left
    out; None when no stratum holds every cell."""
    counts: dict[Hashable, list[list[int]]] = {}
    for c, idx in enumerate(cells):
        for i in idx:
            v = values[i]
            if math.isnan(v):
                continue
            slot = counts.setdefault(keys[i], [[0, 0] for _ in cells])
            slot[c][0] += int(v > 0.5)
            slot[c][1] += 1
    full = [s for s in counts.values() if all(n > 0 for _, n in s)]
    if not full:
        return None
    table = np.array(full, dtype=np.int64)  # strata x cells x (events, runs)
    if len(cells) == 2:
        return Cells(table[:, :, 0], table[:, :, 1], MAIN)
    return Cells(table[:, :, 0], table[:, :, 1], INTERACTION, INTERACTION_LIMITS)
