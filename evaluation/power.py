"""Power figures: the minimum detectable effect and the runs needed for 80% power.

Both come from statsmodels' power functions (`TTestPower` for paired designs, `TTestIndPower`
otherwise), evaluated at the per-test level of the strictest Holm step.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence

import numpy as np
from dilemma.evaluation.contrast import ALPHA, EXACT_MAX, N_FIRST, POWER, Contrast, FloatArray
from statsmodels.stats.power import TTestIndPower, TTestPower

_MAX_NEEDED = 1_000_000

_GRID = np.unique(np.round(np.geomspace(2, _MAX_NEEDED, 40)))


def _smallest_n(
    analysis: TTestPower | TTestIndPower,
    es: FloatArray,
    alpha: FloatArray,
    power: float,
    alternative: str,
) -> FloatArray:
    """Per effect size: the fewest observations (pairs, or runs per level) reaching `power`.

    statsmodels' power function evaluated on a geometric grid, then on narrower grids inside
    the bracket it finds until the bracket is one observation wide; infinite beyond
    _MAX_NEEDED. All effect sizes are evaluated together.
    """
    out = np.full(len(es), math.inf)
    active = np.arange(len(es))
    grid = np.tile(_GRID, (len(es), 1))
    while active.size:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pw = np.asarray(
                analysis.power(
                    es[active, None], grid, alpha[active, None], alternative=alternative
                ),
                dtype="float64",
            )
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


@functools.lru_cache(maxsize=1024)
def _detectable(paired_design: bool, n_a: int, ratio: float, alpha: float) -> float:
    """Standardised effect detected with POWER at `alpha` (statsmodels solve_power)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if paired_design:
                es = TTestPower().solve_power(nobs=n_a, alpha=alpha, power=POWER)
            else:
                es = TTestIndPower().solve_power(nobs1=n_a, ratio=ratio, alpha=alpha, power=POWER)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return math.inf
    value = float(es)
    return value if math.isfinite(value) and value > 0 else math.inf


def _min_n_attainable(design: str, alpha_test: float) -> int:
    """Fewest pairs (paired) or runs per level (otherwise) at which p can reach alpha_test."""
    n = 2
    while n < 200:
        relabellings = 2**n if design == "paired" else math.comb(2 * n, n)
        smallest = 2 / relabellings if relabellings <= EXACT_MAX else 2 / (N_FIRST + 1)
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
            mde = c.sd * _detectable(True, c.n_pairs, 1.0, alpha_test)
        else:
            mde = c.sd * _detectable(False, c.n_a, c.n_b / c.n_a, alpha_test)
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
        analysis: TTestPower | TTestIndPower = TTestPower() if paired_like else TTestIndPower()
        detect = _smallest_n(analysis, es, alpha, POWER, "two-sided")
        equiv = _smallest_n(analysis, es, np.full_like(alpha, ALPHA), 1 - (1 - POWER) / 2, "larger")
        needed = np.maximum(np.maximum(detect, equiv), floors)
        for i, mde, n in zip(index.astype(int), mdes, needed, strict=True):
            out[i] = (float(mde), float(n) if n <= _MAX_NEEDED else math.inf)
    return out
