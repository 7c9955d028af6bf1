"""Contrasts between two conditions, with the tests owned by scipy and statsmodels.

Three designs, chosen from how the runs were made, never from the data's outcome:

- `paired`: every run at one level has a partner at the other level with the same seed and the
  same other conditions (common random numbers). The contrast is the mean of the per-partner
  differences; the test is a sign-flip permutation test on the differences
  (`scipy.stats.permutation_test`, permutation_type="samples").
- `independent`: no matching, and no other condition varies. The contrast is the difference of
  means; the test permutes the level labels (`scipy.stats.permutation_test`,
  permutation_type="independent").
- `stratified`: no matching, but other conditions vary. Least squares with one fixed effect per
  stratum (statsmodels OLS); the contrast is the within-stratum difference, tested with its t
  statistic. Not a permutation test: `p_exact` is False.

Permutation p-values are two-sided (twice the smaller one-sided p). They are exact (every
distinct relabelling enumerated) when there are at most EXACT_MAX relabellings, which covers 17
pairs or 10 runs per level; otherwise they come from N_PERMUTATIONS random relabellings and carry
a Monte Carlo standard error. Intervals are bias-corrected and accelerated bootstrap (BCa,
`scipy.stats.bootstrap`); where BCa is degenerate (constant data, for instance) they fall back
to a t interval (statsmodels). Equivalence is two one-sided t tests (statsmodels `ttost_paired`
/ `ttost_ind`). Power figures come from `statsmodels.stats.power`.

All functions take one row per measure: matrices of shape (measures, runs), NaN where a run has
no value for a measure (such a run, or pair, is left out of that measure only).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind, ttost_paired

ALPHA = 0.05
POWER = 0.80
EXACT_MAX = 200_000
"""Largest number of distinct relabellings enumerated exactly."""
N_PERMUTATIONS = 100_000
"""Random relabellings for a p-value near a decision when there are more than EXACT_MAX."""
N_FIRST = 10_000
"""Random relabellings for the first Monte Carlo stage (see `_permutation`)."""
BAND = (ALPHA / 200, 1.5 * ALPHA)
"""First-stage p-values in this band are recomputed with N_PERMUTATIONS relabellings."""
N_BOOT = 9_999
_BATCH_ELEMENTS = 4_000_000
_MAX_NEEDED = 1_000_000

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Contrast:
    """One measure's contrast between two conditions (a - b)."""

    design: str
    method: str
    n_a: int
    n_b: int
    n_pairs: int
    estimate: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    p_exact: bool
    p_mc_se: float
    n_resamples: int
    min_p: float
    p_equivalence: float
    sd: float
    df: float

    def row(self) -> dict[str, Any]:
        """The fields as a flat dict (one row of a results table)."""
        return dict(self.__dict__)


def _mean(x: FloatArray, axis: int = -1) -> FloatArray:
    out: FloatArray = np.mean(x, axis=axis)
    return out


def _mean_diff(x: FloatArray, y: FloatArray, axis: int = -1) -> FloatArray:
    out: FloatArray = np.mean(x, axis=axis) - np.mean(y, axis=axis)
    return out


def _blocks(*mats: FloatArray) -> Iterator[tuple[np.ndarray, list[FloatArray]]]:
    """Rows grouped by their pattern of present values: (row indices, matrices cut to it)."""
    present = np.concatenate([~np.isnan(m) for m in mats], axis=1)
    patterns: dict[bytes, list[int]] = {}
    for i, row in enumerate(present):
        patterns.setdefault(row.tobytes(), []).append(i)
    for rows_list in patterns.values():
        rows = np.array(rows_list)
        cut = []
        for m in mats:
            keep = ~np.isnan(m[rows[0]])
            cut.append(m[np.ix_(rows, keep)])
        yield rows, cut


@dataclass(frozen=True)
class _Perm:
    p: FloatArray
    exact: bool
    n_resamples: np.ndarray
    mc_se: FloatArray
    min_p: float


def _scipy_permutation(
    data: tuple[FloatArray, ...],
    statistic: Callable[..., FloatArray],
    kind: str,
    n_resamples: int,
    rng: np.random.Generator,
) -> FloatArray:
    width = sum(d.shape[-1] for d in data) * data[0].shape[0]
    res = stats.permutation_test(
        data,
        statistic,
        permutation_type=kind,
        vectorized=True,
        n_resamples=n_resamples,
        batch=max(1, _BATCH_ELEMENTS // max(1, width)),
        alternative="two-sided",
        axis=-1,
        rng=rng,
    )
    p: FloatArray = np.atleast_1d(np.asarray(res.pvalue, dtype="float64"))
    return p


def _permutation(
    data: tuple[FloatArray, ...],
    statistic: Callable[..., FloatArray],
    kind: str,
    n_relabellings: int,
    rng: np.random.Generator,
    n_perm: int,
    band: tuple[float, float],
) -> _Perm:
    """scipy's permutation test on rows of `data`: exact when the relabellings are few.

    Otherwise Monte Carlo in two stages: N_FIRST relabellings for every row, then `n_perm` fresh
    ones for the rows whose first p-value falls in `band` (where the decision is made); the
    reported p-value and its standard error come from the last stage alone.
    """
    rows = data[0].shape[0]
    if n_relabellings <= EXACT_MAX:
        p = _scipy_permutation(data, statistic, kind, n_relabellings, rng)
        return _Perm(
            p, True, np.full(rows, n_relabellings), np.zeros_like(p), min(1.0, 2 / n_relabellings)
        )
    first = min(n_perm, N_FIRST)
    p = _scipy_permutation(data, statistic, kind, first, rng)
    used = np.full(rows, first)
    refine = np.flatnonzero((p >= band[0]) & (p <= band[1]))
    if n_perm > first and refine.size:
        p[refine] = _scipy_permutation(tuple(d[refine] for d in data), statistic, kind, n_perm, rng)
        used[refine] = n_perm
    se = np.sqrt(np.clip(p * (2 - p), 0, None) / used)
    return _Perm(p, False, used, se, 2 / (first + 1))


def _interval_fallback(
    low: float, high: float, fallback: Callable[[], tuple[float, float]]
) -> tuple[float, float, str]:
    if math.isfinite(low) and math.isfinite(high) and low <= high:
        return low, high, "BCa"
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = fallback()
    return float(lo), float(hi), "t"


def _bca(
    data: tuple[FloatArray, ...],
    statistic: Callable[..., FloatArray],
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[FloatArray, FloatArray]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            data,
            statistic,
            method="BCa",
            n_resamples=n_boot,
            vectorized=True,
            axis=-1,
            rng=rng,
        )
    low = np.atleast_1d(np.asarray(res.confidence_interval.low, dtype="float64"))
    high = np.atleast_1d(np.asarray(res.confidence_interval.high, dtype="float64"))
    return low, high


def _t_mean(x: FloatArray) -> tuple[float, float]:
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    lo, hi = DescrStatsW(x).tconfint_mean(alpha=ALPHA)
    return float(lo), float(hi)


def _t_diff(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        d = float(a[0] - b[0])
        return d, d
    lo, hi = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
        alpha=ALPHA, usevar="unequal"
    )
    return float(lo), float(hi)


def mean_intervals(
    x: FloatArray, rng: np.random.Generator, n_boot: int = N_BOOT
) -> list[tuple[float, float, float, int, str]]:
    """Per row: (mean, ci_low, ci_high, n, ci_method) with a 95% BCa (else t) interval."""
    out: list[tuple[float, float, float, int, str]] = [
        (math.nan, math.nan, math.nan, 0, "none")
    ] * x.shape[0]
    for rows, (v,) in _blocks(x):
        n = v.shape[1]
        if n == 0:
            continue
        means = v.mean(axis=1)
        if n < 2:
            for i, r in enumerate(rows):
                out[r] = (float(means[i]), math.nan, math.nan, n, "none")
            continue
        low, high = _bca((v,), _mean, rng, n_boot)
        for i, r in enumerate(rows):
            row = v[i]
            lo, hi, how = _interval_fallback(
                float(low[i]), float(high[i]), functools.partial(_t_mean, row)
            )
            out[r] = (float(means[i]), lo, hi, n, how)
    return out


def _tost_paired(d: FloatArray, margin: float) -> float:
    if not math.isfinite(margin) or len(d) < 2:
        return math.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(ttost_paired(d, np.zeros_like(d), -margin, margin)[0])
    return p


def _tost_ind(a: FloatArray, b: FloatArray, margin: float) -> float:
    if not math.isfinite(margin) or len(a) < 2 or len(b) < 2:
        return math.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(ttost_ind(a, b, -margin, margin, usevar="unequal")[0])
        if math.isnan(p):  # both samples constant: Welch's df is undefined
            p = float(ttost_ind(a, b, -margin, margin, usevar="pooled")[0])
    return p


def _empty(design: str, method: str, n_a: int, n_b: int, n_pairs: int) -> Contrast:
    nan = math.nan
    return Contrast(
        design,
        method,
        n_a,
        n_b,
        n_pairs,
        nan,
        nan,
        nan,
        "none",
        nan,
        False,
        nan,
        0,
        nan,
        nan,
        nan,
        nan,
    )


def paired(
    d: FloatArray,
    margins: FloatArray,
    rng: np.random.Generator,
    *,
    n_perm: int = N_PERMUTATIONS,
    n_boot: int = N_BOOT,
    band: tuple[float, float] = BAND,
) -> list[Contrast]:
    """Per row of differences (a - b, one column per matched pair): sign-flip permutation test."""
    method = "paired sign-flip permutation test"
    out = [_empty("paired", method, 0, 0, 0)] * d.shape[0]
    for rows, (v,) in _blocks(d):
        n = v.shape[1]
        if n < 2:  # no permutation test (nor interval) exists for a single pair
            for r in rows:
                out[r] = _empty("paired", method, n, n, n)
            continue
        perm = _permutation((v,), _mean, "samples", 2**n, rng, n_perm, band)
        if n >= 2:
            low, high = _bca((v,), _mean, rng, n_boot)
        else:
            low = high = np.full(len(rows), math.nan)
        for i, r in enumerate(rows):
            x = v[i]
            if n >= 2:
                lo, hi, how = _interval_fallback(
                    float(low[i]), float(high[i]), functools.partial(_t_mean, x)
                )
            else:
                lo, hi, how = math.nan, math.nan, "none"
            out[r] = Contrast(
                design="paired",
                method=method,
                n_a=n,
                n_b=n,
                n_pairs=n,
                estimate=float(x.mean()),
                ci_low=lo,
                ci_high=hi,
                ci_method=how,
                p_value=float(perm.p[i]),
                p_exact=perm.exact,
                p_mc_se=float(perm.mc_se[i]),
                n_resamples=int(perm.n_resamples[i]),
                min_p=perm.min_p,
                p_equivalence=_tost_paired(x, float(margins[r])),
                sd=float(x.std(ddof=1)) if n >= 2 else math.nan,
                df=float(n - 1),
            )
    return out


def independent(
    a: FloatArray,
    b: FloatArray,
    margins: FloatArray,
    rng: np.random.Generator,
    *,
    n_perm: int = N_PERMUTATIONS,
    n_boot: int = N_BOOT,
    band: tuple[float, float] = BAND,
) -> list[Contrast]:
    """Per row: difference of means a - b, label-permutation test."""
    method = "two-sample permutation test"
    out = [_empty("independent", method, 0, 0, 0)] * a.shape[0]
    for rows, (va, vb) in _blocks(a, b):
        na, nb = va.shape[1], vb.shape[1]
        if na < 2 or nb < 2:  # scipy's permutation test needs two runs in each sample
            for r in rows:
                out[r] = _empty("independent", method, na, nb, 0)
            continue
        perm = _permutation(
            (va, vb), _mean_diff, "independent", math.comb(na + nb, na), rng, n_perm, band
        )
        if na >= 2 and nb >= 2:
            low, high = _bca((va, vb), _mean_diff, rng, n_boot)
        else:
            low = high = np.full(len(rows), math.nan)
        for i, r in enumerate(rows):
            x, y = va[i], vb[i]
            if na >= 2 and nb >= 2:
                lo, hi, how = _interval_fallback(
                    float(low[i]), float(high[i]), functools.partial(_t_diff, x, y)
                )
                pooled = ((na - 1) * x.var(ddof=1) + (nb - 1) * y.var(ddof=1)) / (na + nb - 2)
                sd = float(np.sqrt(pooled))
            else:
                lo, hi, how, sd = math.nan, math.nan, "none", math.nan
            out[r] = Contrast(
                design="independent",
                method=method,
                n_a=na,
                n_b=nb,
                n_pairs=0,
                estimate=float(x.mean() - y.mean()),
                ci_low=lo,
                ci_high=hi,
                ci_method=how,
                p_value=float(perm.p[i]),
                p_exact=perm.exact,
                p_mc_se=float(perm.mc_se[i]),
                n_resamples=int(perm.n_resamples[i]),
                min_p=perm.min_p,
                p_equivalence=_tost_ind(x, y, float(margins[r])),
                sd=sd,
                df=float(na + nb - 2),
            )
    return out


def least_squares(
    y: FloatArray,
    design: FloatArray,
    col: int,
    margins: FloatArray,
    n_a: int,
    n_b: int,
) -> list[Contrast]:
    """Per row of y: the OLS coefficient of design column `col` (column 0 is the intercept;
    the others are effects and stratum fixed effects).

    The interval is the 95% t interval of the coefficient, the p-value its two-sided t test,
    equivalence two one-sided t tests on the coefficient, all from the same fit.
    """
    method = "least squares with stratum fixed effects, t test"
    out: list[Contrast] = []
    x_all = design
    for r in range(y.shape[0]):
        keep = ~np.isnan(y[r])
        yy = y[r, keep]
        # fixed effects of strata with no run left for this measure are dropped
        cols = [k for k in range(x_all.shape[1]) if k in (0, col) or np.any(x_all[keep, k] != 0)]
        xx = x_all[np.ix_(keep, cols)]
        if len(yy) <= len(cols) or np.ptp(x_all[keep, col]) == 0:
            out.append(_empty("stratified", method, n_a, n_b, 0))
            continue
        j = cols.index(col)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.OLS(yy, xx).fit()
            est, se, dfr = float(fit.params[j]), float(fit.bse[j]), float(fit.df_resid)
            margin = float(margins[r])
            if se > 0 and math.isfinite(se):
                lo, hi = (float(v) for v in fit.conf_int(alpha=ALPHA)[j])
                p = float(fit.pvalues[j])
                p_eq = (
                    max(
                        float(stats.t.sf((est + margin) / se, dfr)),
                        float(stats.t.cdf((est - margin) / se, dfr)),
                    )
                    if math.isfinite(margin)
                    else math.nan
                )
            else:  # an exact fit: no residual variation
                lo = hi = est
                p = 1.0 if est == 0 else 0.0
                p_eq = float(abs(est) >= margin) if math.isfinite(margin) else math.nan
        out.append(
            Contrast(
                design="stratified",
                method=method,
                n_a=n_a,
                n_b=n_b,
                n_pairs=0,
                estimate=est,
                ci_low=lo,
                ci_high=hi,
                ci_method="t (OLS)",
                p_value=p,
                p_exact=False,
                p_mc_se=0.0,
                n_resamples=0,
                min_p=0.0,
                p_equivalence=p_eq,
                sd=float(np.sqrt(fit.scale)) if dfr > 0 else math.nan,
                df=dfr,
            )
        )
    return out


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
