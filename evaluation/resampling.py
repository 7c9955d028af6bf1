"""Resampling machinery behind the tests: permutation p-values and BCa bootstrap.

`permutation` counts every relabelling of many measures at once when the design is small enough
(`dilemma.evaluation.exact`, validated against scipy's exact permutation test), and runs
sequential Monte Carlo otherwise (`dilemma.evaluation.montecarlo`);
`bca` gives bootstrap intervals, `interval_fallback` a t interval (statsmodels) where BCa is
degenerate. `blocks` groups the measures by their pattern of missing values so each group is
tested in one vectorised call.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.contrast import ALPHA, FloatArray
from dilemma.evaluation.exact import exact_possible, sign_flip_p, two_sample_p
from dilemma.evaluation.montecarlo import sequential
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW


def mean(x: FloatArray, axis: int = -1) -> FloatArray:
    """Mean along `axis` (the statistic of one sample, vectorised for scipy)."""
    out: FloatArray = np.mean(x, axis=axis)
    return out


def mean_diff(x: FloatArray, y: FloatArray, axis: int = -1) -> FloatArray:
    """Difference of means along `axis` (the statistic of two samples)."""
    out: FloatArray = np.mean(x, axis=axis) - np.mean(y, axis=axis)
    return out


def blocks(*mats: FloatArray) -> Iterator[tuple[np.ndarray, list[FloatArray]]]:
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
class Perm:
    """Permutation p-values per row, whether exact, relabellings used, Monte Carlo error, and
    whether each Monte Carlo p-value is settled (its interval clears every threshold)."""

    p: FloatArray
    exact: bool
    n_resamples: np.ndarray
    mc_se: FloatArray
    min_p: float
    settled: np.ndarray


def permutation(
    data: tuple[FloatArray, ...],
    rng: np.random.Generator,
    n_perm: int,
    thresholds: FloatArray,
) -> Perm:
    """Permutation test on rows of `data`: sign flips of (differences,), or relabellings of
    (a, b). Exact (every relabelling counted, `dilemma.evaluation.exact`) up to EXACT_RUNS
    pairs or runs; otherwise sequential Monte Carlo (`dilemma.evaluation.montecarlo`):
    relabellings are added until each row's p-value is settled against its `thresholds` (one
    NaN-padded row of levels per data row), at most `n_perm` of them.
    """
    rows = data[0].shape[0]
    if len(data) == 1:
        n_values = data[0].shape[1]
        relabellings = 2**n_values
    else:
        n_values = data[0].shape[1] + data[1].shape[1]
        relabellings = math.comb(n_values, data[0].shape[1])
    if exact_possible(n_values):
        p = sign_flip_p(data[0]) if len(data) == 1 else two_sample_p(data[0], data[1])
        return Perm(
            p,
            True,
            np.full(rows, relabellings),
            np.zeros_like(p),
            min(1.0, 2 / relabellings),
            np.ones(rows, dtype=bool),
        )
    mc = sequential(data, rng, n_perm, thresholds)
    return Perm(mc.p, False, mc.n_resamples, mc.mc_se, mc.min_p, mc.settled)


def interval_fallback(
    low: float, high: float, fallback: Callable[[], tuple[float, float]]
) -> tuple[float, float, str]:
    """(low, high, "BCa") when the BCa interval is usable, else the fallback t interval."""
    if math.isfinite(low) and math.isfinite(high) and low <= high:
        return low, high, "BCa"
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = fallback()
    return float(lo), float(hi), "t"


def bca(
    data: tuple[FloatArray, ...],
    statistic: Callable[..., FloatArray],
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[FloatArray, FloatArray]:
    """95% BCa bootstrap interval per row (scipy); NaN where BCa is degenerate."""
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


def t_mean(x: FloatArray) -> tuple[float, float]:
    """95% t interval of a mean (a point for constant data)."""
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    lo, hi = DescrStatsW(x).tconfint_mean(alpha=ALPHA)
    return float(lo), float(hi)


def t_diff(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """95% Welch t interval of a difference of means (a point when both are constant)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        d = float(a[0] - b[0])
        return d, d
    lo, hi = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(
        alpha=ALPHA, usevar="unequal"
    )
    return float(lo), float(hi)
