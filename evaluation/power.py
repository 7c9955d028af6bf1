"""Power figures: the minimum detectable effect and the runs needed for 80% power.

Both come from statsmodels' power functions (`TTestPower` for paired designs, `TTestIndPower`
otherwise), evaluated at the per-test level of the strictest Holm step. Roots are found by
bracketing the power function (scipy's `brentq`) rather than with `solve_power`, whose root
finder sometimes returns a one-element array or a negative root.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from dilemma.evaluation.contrast import ALPHA, N_FIRST, POWER, Contrast, FloatArray
from dilemma.evaluation.exact import exact_possible
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower, TTestPower

_MAX_NEEDED = 1_000_000

_GRID = np.unique(np.round(np.geomspace(2, _MAX_NEEDED, 40)))


def _smallest_n(
    paired_design: bool,
    es: FloatArray,
    alpha: FloatArray,
    power: float,
    alternative: str,
) -> FloatArray:
    """Per effect size: the fewest observations (pairs, or runs per level) reaching `power`.

    The power function (`t_power`) evaluated on a geometric grid, then on narrower grids inside
    the bracket it finds until the bracket is one observation wide; infinite beyond
    _MAX_NEEDED. All effect sizes are evaluated together.
    """
    out = np.full(len(es), math.inf)
    active = np.arange(len(es))
    grid = np.tile(_GRID, (len(es), 1))
    while active.size:
        pw = t_power(paired_design, es[active, None], grid, alpha[active, None], alternative)
        hit = np.nan_to_num(pw, nan=0.0) >= power
        first = np.argmax(hit, axis=1)
        rows = np.arange(len(active))
        found = hit.any(axis=1)
        hi = grid[rows, first]
        lo = np.where(first > 0, grid[rows, np.maximum(first - 1, 0)], hi - 1)
        done = ~found | (hi - lo <= 1)
        out[active[found & done]] = hi[found & done]
        keep = ~done
        active = active[keep]
        grid = np.linspace(lo[keep] + 1, hi[keep], 40, axis=1).round()
    return out


_ES_MAX = 1e6
"""Largest standardised effect searched for a detectable effect; beyond it, not reachable."""


def t_power(
    paired_design: bool,
    es: FloatArray | float,
    n: FloatArray | float,
    alpha: FloatArray | float,
    alternative: str = "two-sided",
    ratio: float = 1.0,
) -> FloatArray:
    """Power of the t test (statsmodels' `TTestPower` for n pairs, `TTestIndPower` for samples
    of n and ratio * n), broadcast over the arguments; `alternative` two-sided or larger.

    Where statsmodels gives NaN, the power is computed from scipy's noncentral t with the same
    degrees of freedom and noncentrality: scipy's lower-tail probability fails (NaN) for large
    noncentrality (above about 6), where it is below 1e-15, and is then taken as 0.
    """
    es_a, n_a, alpha_a = np.broadcast_arrays(
        np.asarray(es, dtype="float64"),
        np.asarray(n, dtype="float64"),
        np.asarray(alpha, dtype="float64"),
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired_design:
            found = TTestPower().power(es_a, n_a, alpha_a, alternative=alternative)
        else:
            found = TTestIndPower().power(es_a, n_a, alpha_a, ratio=ratio, alternative=alternative)
        out: FloatArray = np.array(np.broadcast_to(found, es_a.shape), dtype="float64")
        bad = ~np.isfinite(out)
        if bad.any():
            e, k, a = es_a[bad], n_a[bad], alpha_a[bad]
            if paired_design:
                df, n_eff = k - 1, k
            else:
                df, n_eff = k * (1 + ratio) - 2, k * ratio / (1 + ratio)
            two = alternative == "two-sided"
            crit = stats.t.isf(a / 2 if two else a, df)
            nc = e * np.sqrt(n_eff)
            lower = np.nan_to_num(stats.nct.cdf(-crit, df, nc), nan=0.0) if two else 0.0
            out[bad] = stats.nct.sf(crit, df, nc) + lower
    return out


_STEP = 1.25
"""Ratio between successive effect sizes tried while bracketing the root."""


def _normal_guess(paired_design: bool, n_a: int, ratio: float, alpha: float) -> float:
    """The detectable effect of the two-sided z test: a start just below the t test's."""
    n_eff = n_a if paired_design else n_a * ratio / (1 + ratio)
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(POWER))
    return z / math.sqrt(n_eff)


def _bracket(gap: Callable[[float], float], start: float) -> tuple[float, float] | None:
    """(low, high) with gap(low) < 0 <= gap(high), stepping by _STEP from `start`; points
    where the power function gives no number are stepped over. None: no bracket below
    _ES_MAX (or none at all)."""
    low = start
    while (g := gap(low)) >= 0 or math.isnan(g):  # step down to a point below the root
        low /= _STEP
        if low < 1e-12:
            return None
    high = low * _STEP
    while not (gap(high) >= 0):  # NaN or below the root: keep stepping up
        if not math.isnan(gap(high)):
            low = high
        high *= _STEP
        if high > _ES_MAX:
            return None
    return low, high


@functools.lru_cache(maxsize=1024)
def detectable(paired_design: bool, n_a: int, ratio: float, alpha: float) -> float:
    """Standardised effect detected with POWER at `alpha` by the two-sided t test.

    The root of statsmodels' power function minus POWER, bracketed from the z test's answer
    and found with Brent's method (scipy); `solve_power` is not used because its root finder
    sometimes returns a one-element array or a negative root. Infinite when POWER is not
    reached below _ES_MAX; NaN when it cannot be computed (fewer than two runs, or a power
    function that gives no number around the root).
    """
    if n_a < 2 or not 0 < alpha < 1 or not ratio > 0:
        return math.nan

    def gap(es: float) -> float:
        return float(t_power(paired_design, es, n_a, alpha, ratio=ratio)[()]) - POWER

    found = _bracket(gap, _normal_guess(paired_design, n_a, ratio, alpha))
    if found is None:
        return math.inf if gap(_ES_MAX) < 0 else math.nan
    try:
        root = float(optimize.brentq(gap, *found, xtol=1e-12, rtol=1e-10))
    except (ValueError, RuntimeError):
        return math.nan
    return root if math.isfinite(root) and root > 0 else math.nan


def _min_n_attainable(design: str, alpha_test: float) -> int:
    """Fewest pairs (paired) or runs per level (otherwise) at which p can reach alpha_test."""
    n = 2
    while n < 200:
        relabellings = 2**n if design == "paired" else math.comb(2 * n, n)
        values = n if design == "paired" else 2 * n
        smallest = 2 / relabellings if exact_possible(values) else 2 / (N_FIRST + 1)
        if design == "stratified" or smallest <= alpha_test:
            return n
        n += 1
    return n


def power_figures(
    contrasts: Sequence[Contrast], margins: Sequence[float], alphas: Sequence[float]
) -> list[tuple[float, float]]:
    """Per contrast: (minimum detectable effect, runs per level needed) for 80% power.

    MDE: the smallest true difference the test detects with 80% power at its `alphas` entry
    (the per-test level of the strictest Holm step), given the observed spread; infinite when
    the design cannot reach that level at all (too few relabellings). Runs needed: enough both
    to detect a difference equal to the margin and, for TOST, to show equivalence within the
    margin when the true difference is zero (approximated as a one-sided test at ALPHA with
    power 1 - (1 - POWER) / 2), and never fewer than the design needs to reach its level.
    Pairs for a paired design, runs per level otherwise.
    """
    out: list[tuple[float, float]] = [(math.nan, math.nan)] * len(contrasts)
    pending: dict[bool, list[tuple[int, float, float, float, float]]] = {True: [], False: []}
    for i, (c, margin, alpha_test) in enumerate(zip(contrasts, margins, alphas, strict=True)):
        if not math.isfinite(c.sd) or c.n_a < 2:
            continue
        paired_like = c.design == "paired"
        floor = _min_n_attainable(c.design, alpha_test)
        if c.min_p > alpha_test:
            mde = math.inf
        elif c.sd == 0:
            mde = 0.0
        elif paired_like:
            mde = c.sd * detectable(True, c.n_pairs, 1.0, alpha_test)
        else:
            mde = c.sd * detectable(False, c.n_a, c.n_b / c.n_a, alpha_test)
        if not math.isfinite(margin):
            out[i] = (mde, math.nan)
        elif c.sd == 0:
            out[i] = (mde, float(floor))
        else:
            pending[paired_like].append((i, mde, margin / c.sd, alpha_test, float(floor)))
    for paired_like, items in pending.items():
        if not items:
            continue
        cols = zip(*items, strict=True)
        index, mdes, es, alpha, floors = (np.array(v, dtype="float64") for v in cols)
        detect = _smallest_n(paired_like, es, alpha, POWER, "two-sided")
        equiv = _smallest_n(
            paired_like, es, np.full_like(alpha, ALPHA), 1 - (1 - POWER) / 2, "larger"
        )
        needed = np.maximum(np.maximum(detect, equiv), floors)
        for i, mde, n in zip(index.astype(int), mdes, needed, strict=True):
            out[i] = (float(mde), float(n) if n <= _MAX_NEEDED else math.inf)
    return out
