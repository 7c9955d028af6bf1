"""Contrasts between two conditions, with the tests owned by scipy and statsmodels.

Three designs, chosen from how the runs were made, never from the data's outcome:

- `paired`: every run at one level has a partner at the other level with the same seed and the
  same other conditions (common random numbers). The contrast is the mean of the per-partner
  differences; the test is a sign-flip permutation test on the differences (as
  `scipy.stats.permutation_test`, permutation_type="samples").
- `independent`: no matching, and no other condition varies. The contrast is the difference of
  means; the test permutes the level labels (as `scipy.stats.permutation_test`,
  permutation_type="independent").
- `stratified`: no matching, but other conditions vary. Least squares with one fixed effect per
  stratum (statsmodels OLS); the contrast is the within-stratum difference, tested with its t
  statistic. Not a permutation test: `p_exact` is False.

Permutation p-values are two-sided (twice the smaller one-sided p). They are exact (every
relabelling counted, `dilemma.evaluation.exact`) up to EXACT_RUNS pairs, or EXACT_RUNS runs of
both levels together; otherwise they are sequential Monte Carlo, refined until their error
cannot move the verdict or N_PERMUTATIONS relabellings are drawn, with a Monte Carlo standard
error (`dilemma.evaluation.montecarlo`). Intervals are bias-corrected and
accelerated bootstrap (BCa, `scipy.stats.bootstrap`); where BCa is degenerate (constant data,
for instance) they fall back to a t interval (statsmodels). Equivalence is two one-sided t tests
(statsmodels `ttost_paired` / `ttost_ind`). Power figures come from `statsmodels.stats.power`
(`dilemma.evaluation.power`); the shared settings and `Contrast` live in
`dilemma.evaluation.contrast`.

All functions take one row per measure: matrices of shape (measures, runs), NaN where a run has
no value for a measure (such a run, or pair, is left out of that measure only).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import statsmodels.api as sm
from dilemma.evaluation.contrast import (
    ALPHA,
    EXACT_RUNS,
    N_BOOT,
    N_FIRST,
    N_PERMUTATIONS,
    POWER,
    Contrast,
    FloatArray,
    empty_contrast,
)
from dilemma.evaluation.power import power_figures
from dilemma.evaluation.resampling import (
    bca,
    blocks,
    interval_fallback,
    mean,
    mean_diff,
    permutation,
    t_diff,
    t_mean,
)
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

__all__ = [
    "ALPHA",
    "EXACT_RUNS",
    "N_BOOT",
    "N_FIRST",
    "N_PERMUTATIONS",
    "POWER",
    "Contrast",
    "independent",
    "least_squares",
    "mean_intervals",
    "paired",
    "power_figures",
]


def mean_intervals(
    x: FloatArray, rng: np.random.Generator, n_boot: int = N_BOOT
) -> list[tuple[float, float, float, int, str]]:
    """Per row: (mean, ci_low, ci_high, n, ci_method) with a 95% BCa (else t) interval."""
    out: list[tuple[float, float, float, int, str]] = [
        (math.nan, math.nan, math.nan, 0, "none")
    ] * x.shape[0]
    for rows, (v,) in blocks(x):
        n = v.shape[1]
        if n == 0:
            continue
        means = v.mean(axis=1)
        if n < 2:
            for i, r in enumerate(rows):
                out[r] = (float(means[i]), math.nan, math.nan, n, "none")
            continue
        low, high = bca((v,), mean, rng, n_boot)
        for i, r in enumerate(rows):
            row = v[i]
            lo, hi, how = interval_fallback(
                float(low[i]), float(high[i]), functools.partial(t_mean, row)
            )
            out[r] = (float(means[i]), lo, hi, n, how)
    return out


def _thresholds(thresholds: FloatArray | None, rows: int) -> FloatArray:
    """The thresholds per row: as given, or alpha for every row."""
    if thresholds is None:
        return np.full((rows, 1), ALPHA)
    return np.asarray(thresholds, dtype="float64").reshape(rows, -1)


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


def paired(
    d: FloatArray,
    margins: FloatArray,
    rng: np.random.Generator,
    *,
    n_perm: int = N_PERMUTATIONS,
    n_boot: int = N_BOOT,
    thresholds: FloatArray | None = None,
) -> list[Contrast]:
    """Per row of differences (a - b, one column per matched pair): sign-flip permutation test.

    `thresholds` (one NaN-padded row per measure, default alpha) are the levels each Monte
    Carlo p-value is refined against (`dilemma.evaluation.montecarlo`)."""
    limits = _thresholds(thresholds, d.shape[0])
    method = "paired sign-flip permutation test"
    out = [empty_contrast("paired", method, 0, 0, 0)] * d.shape[0]
    for rows, (v,) in blocks(d):
        n = v.shape[1]
        if n < 2:  # no permutation test (nor interval) exists for a single pair
            for r in rows:
                out[r] = empty_contrast("paired", method, n, n, n)
            continue
        perm = permutation((v,), rng, n_perm, limits[rows])
        if n >= 2:
            low, high = bca((v,), mean, rng, n_boot)
        else:
            low = high = np.full(len(rows), math.nan)
        for i, r in enumerate(rows):
            x = v[i]
            if n >= 2:
                lo, hi, how = interval_fallback(
                    float(low[i]), float(high[i]), functools.partial(t_mean, x)
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
                p_mc_settled=bool(perm.settled[i]),
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
    thresholds: FloatArray | None = None,
) -> list[Contrast]:
    """Per row: difference of means a - b, label-permutation test (`thresholds` as `paired`)."""
    limits = _thresholds(thresholds, a.shape[0])
    method = "two-sample permutation test"
    out = [empty_contrast("independent", method, 0, 0, 0)] * a.shape[0]
    for rows, (va, vb) in blocks(a, b):
        na, nb = va.shape[1], vb.shape[1]
        if na < 2 or nb < 2:  # scipy's permutation test needs two runs in each sample
            for r in rows:
                out[r] = empty_contrast("independent", method, na, nb, 0)
            continue
        perm = permutation((va, vb), rng, n_perm, limits[rows])
        if na >= 2 and nb >= 2:
            low, high = bca((va, vb), mean_diff, rng, n_boot)
        else:
            low = high = np.full(len(rows), math.nan)
        for i, r in enumerate(rows):
            x, y = va[i], vb[i]
            if na >= 2 and nb >= 2:
                lo, hi, how = interval_fallback(
                    float(low[i]), float(high[i]), functools.partial(t_diff, x, y)
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
                p_mc_settled=bool(perm.settled[i]),
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
            out.append(empty_contrast("stratified", method, n_a, n_b, 0))
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
