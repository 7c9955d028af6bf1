"""Sequential Monte Carlo permutation p-values: relabel until the verdict cannot move.

When a permutation test has too many relabellings to enumerate, its p-value is estimated from
random relabellings. Such an estimate near a decision threshold can land on either side of it
depending on the random draws (`--seed`), so here relabellings are added in batches that double
the total (N_FIRST, then 2 x, 4 x, ... up to a cap) while the Clopper-Pearson interval of a
row's p-value at confidence MC_CONFIDENCE still contains one of the thresholds that row is
judged against (the Holm steps alpha / j of its family). A row whose interval clears every
threshold is settled: its verdict is the one an exact test would give, except with probability
about 1 - MC_CONFIDENCE per batch. A row still straddling a threshold at the cap is reported as
unsettled (`settled` False), with the advice to raise the cap (`dilemma compare --permutations`).

The two statistics are the ones `dilemma.evaluation.inference` uses: the mean of paired
differences under random sign flips, and the difference of means under random relabellings of
two samples. The p-value follows scipy's `permutation_test` convention for Monte Carlo
(`(count + 1) / (n + 1)` per tail, two-sided = twice the smaller tail, at most 1; values within
a relative 1e-14 of the observed statistic count as at least as extreme).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.contrast import N_FIRST, FloatArray
from scipy import stats

MC_CONFIDENCE = 0.999
"""Confidence of the Clopper-Pearson interval that decides whether a row needs more relabellings."""
_BATCH_ELEMENTS = 4_000_000
"""Relabelled values drawn at once (memory bound of one batch)."""
_TIE = 1e-14
"""Relative tolerance under which a relabelled statistic ties the observed one (as scipy)."""


@dataclass(frozen=True)
class MonteCarlo:
    """Per row: the two-sided p-value, relabellings used, standard error, and whether settled."""

    p: FloatArray
    n_resamples: np.ndarray
    mc_se: FloatArray
    settled: np.ndarray
    min_p: float


def _sign_flip_stats(d: FloatArray, size: int, rng: np.random.Generator) -> FloatArray:
    """Means of `size` random sign flips of each row of d: shape (rows, size)."""
    signs = rng.integers(0, 2, size=(size, d.shape[1]), dtype=np.int8) * 2 - 1
    out: FloatArray = d @ signs.T.astype("float64") / d.shape[1]
    return out


def _relabel_stats(a: FloatArray, b: FloatArray, size: int, rng: np.random.Generator) -> FloatArray:
    """Differences of means under `size` random relabellings of the pooled rows: (rows, size)."""
    na, nb = a.shape[1], b.shape[1]
    pooled = np.concatenate([a, b], axis=1)
    chosen = np.argpartition(rng.random((size, na + nb)), na - 1, axis=1)[:, :na]
    weights = np.full((size, na + nb), -1.0 / nb)
    np.put_along_axis(weights, chosen, 1.0 / na, axis=1)
    out: FloatArray = pooled @ weights.T
    return out


def _counts(
    data: tuple[FloatArray, ...], observed: FloatArray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Relabelled statistics at least as large, and at least as small, as observed (per row)."""
    width = sum(x.shape[1] for x in data)
    step = max(1, _BATCH_ELEMENTS // max(1, width * max(1, data[0].shape[0])))
    greater = np.zeros(data[0].shape[0], dtype=np.int64)
    less = np.zeros_like(greater)
    gamma = np.abs(_TIE * observed)[:, None]
    done = 0
    while done < size:
        k = min(step, size - done)
        if len(data) == 1:
            s = _sign_flip_stats(data[0], k, rng)
        else:
            s = _relabel_stats(data[0], data[1], k, rng)
        greater += np.sum(s >= observed[:, None] - gamma, axis=1)
        less += np.sum(s <= observed[:, None] + gamma, axis=1)
        done += k
    return greater, less


def p_interval(tail: np.ndarray, n: np.ndarray, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Clopper-Pearson interval of the two-sided p-value 2 q from `tail` hits in `n` draws.

    The exact binomial interval of q (beta quantiles: Clopper and Pearson 1934), doubled and
    capped at 1: lower alpha/2 quantile of Beta(k, n - k + 1), upper 1 - alpha/2 quantile of
    Beta(k + 1, n - k).
    """
    a = 1 - confidence
    k = tail.astype("float64")
    m = n.astype("float64")
    with np.errstate(all="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a / 2, k, m - k + 1), 0.0)
        hi = np.where(k < m, stats.beta.ppf(1 - a / 2, k + 1, m - k), 1.0)
    return np.minimum(2 * lo, 1.0), np.minimum(2 * hi, 1.0)


def straddles(low: FloatArray, high: FloatArray, thresholds: FloatArray) -> np.ndarray:
    """Per row: does (low, high] contain one of the row's thresholds (NaN entries ignored)?"""
    t = np.nan_to_num(thresholds, nan=-1.0)
    inside = (low[:, None] < t) & (t <= high[:, None])
    return np.asarray(inside.any(axis=1), dtype=bool)


def sequential(
    data: tuple[FloatArray, ...],
    rng: np.random.Generator,
    cap: int,
    thresholds: FloatArray,
    confidence: float = MC_CONFIDENCE,
) -> MonteCarlo:
    """Monte Carlo two-sided permutation p-values per row, refined until settled or at `cap`.

    `data` is (differences,) for the sign-flip test or (a, b) for the two-sample test, one row
    per measure; `thresholds` has one row per data row (NaN-padded) of the levels its p-value is
    compared with. Every row gets min(cap, N_FIRST) relabellings; rows whose interval
    (`p_interval`) contains a threshold get more, doubling the total each time, up to `cap`.
    """
    rows = data[0].shape[0]
    if len(data) == 1:
        observed = data[0].mean(axis=1)
    else:
        observed = data[0].mean(axis=1) - data[1].mean(axis=1)
    first = max(1, min(cap, N_FIRST))
    greater, less = _counts(data, observed, first, rng)
    used = np.full(rows, first, dtype=np.int64)
    while True:
        tail = np.minimum(greater, less)
        low, high = p_interval(tail, used, confidence)
        open_rows = np.flatnonzero(straddles(low, high, thresholds) & (used < cap))
        if open_rows.size == 0:
            break
        size = int(min(used[open_rows[0]], cap - used[open_rows[0]]))
        g, lss = _counts(tuple(x[open_rows] for x in data), observed[open_rows], size, rng)
        greater[open_rows] += g
        less[open_rows] += lss
        used[open_rows] += size
    tail = np.minimum(greater, less)
    p = np.minimum(1.0, 2 * (tail + 1) / (used + 1))
    low, high = p_interval(tail, used, confidence)
    settled = ~straddles(low, high, thresholds)
    se = np.sqrt(np.clip(p * (2 - p), 0, None) / used)
    return MonteCarlo(p, used, se, settled, 2 / (first + 1))
