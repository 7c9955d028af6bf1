"""Sequential Monte Carlo permutation p-values: relabel until the verdict cannot move.

When a permutation test has too many relabellings to enumerate, its p-value is estimated from
random relabellings. Such an estimate near a decision threshold can land on either side of it
depending on the random draws (`--seed`). Two things keep that rare:

**Conditional ("hybrid") Monte Carlo.** Both statistics are sums (`dilemma.evaluation.exact`):
the signed sum of the paired differences, and the sum of the pooled runs labelled a. So the
ENUMERATED values of largest magnitude are relabelled exhaustively (every signed sum, or every
subset sum with its size, listed and sorted once) and only the other values are relabelled at
random. For each random draw the share of its exhaustive completions whose statistic is at least
as extreme as the observed one is counted exactly (binary search); the p-value estimate is the
mean of these shares. A share has the expectation of the plain Monte Carlo hit (the estimate is
unbiased) but much less variance, since most of the statistic's spread comes from the enumerated
values. Sign flips: the signs of the random part are fair coins, and each draw t also counts its
mirror -t (the null distribution is symmetric), so the share estimates the two-sided p directly.
Two samples: the number of a-labels among the random part is hypergeometric (as in a uniformly
random split), the random part's a-runs a uniform subset of that size, and the completions are
the subsets of the enumerated values of the remaining size; both tails are estimated.

**Sequential stopping.** Relabellings are added in batches that double the total (N_FIRST, then
2 x, 4 x, ... up to a cap) while the interval of a row's p-value at confidence MC_CONFIDENCE
still contains one of the thresholds that row is judged against (the Holm steps alpha / j of
its family). The shares lie in [0, 1] but are not Bernoulli, so the interval is the empirical
Bernstein bound for the mean of bounded variables (`p_interval`). A row whose interval clears
every threshold is settled: its verdict is the one an exact test would give, except with
probability about 1 - MC_CONFIDENCE per batch. A row still straddling a threshold at the cap is
reported as unsettled (`settled` False), with the advice to raise the cap
(`dilemma compare --permutations`).

The reported p-value extends scipy's `permutation_test` convention for Monte Carlo
(`(count + 1) / (n + 1)` per tail: the observed relabelling counts as one more draw): per tail
`(sum of shares + observed share) / (n + 1)`, where the observed share is the one of the draw
that relabels the random part as observed; two-sided, twice the smaller tail, at most 1. With no
enumerated values this is scipy's convention; with every value enumerated it is the exact p of
`dilemma.evaluation.exact`. Sums within TIE_RELATIVE x (sum of |values|) of the observed one count
as at least as extreme, as in `dilemma.evaluation.exact`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.contrast import N_FIRST, FloatArray
from dilemma.evaluation.exact import TIE_RELATIVE, _signed_sums, _subset_sums

MC_CONFIDENCE = 0.999
"""Confidence of the interval that decides whether a row needs more relabellings."""
ENUMERATED = 20
"""Values whose relabellings are listed exhaustively (2^20 sums: 8 MB, about 0.1 s to sort)."""
_CHUNK_VALUES = 12
"""Most values of one chunk of the random part of a two-sample row (its 2^12 subset sums listed,
so that a random subset of a given size is one random index)."""
_BATCH_ELEMENTS = 4_000_000
"""Relabelled values drawn at once (memory bound of one batch)."""


@dataclass(frozen=True)
class MonteCarlo:
    """Per row: the two-sided p-value, relabellings used, standard error, and whether settled."""

    p: FloatArray
    n_resamples: np.ndarray
    mc_se: FloatArray
    settled: np.ndarray
    min_p: float


def _at_least(ordered: FloatArray, low: FloatArray) -> np.ndarray:
    """Per entry of `low`: how many of the sorted `ordered` are >= it."""
    out: np.ndarray = len(ordered) - np.searchsorted(ordered, low, side="left")
    return out


def _at_most(ordered: FloatArray, high: FloatArray) -> np.ndarray:
    """Per entry of `high`: how many of the sorted `ordered` are <= it."""
    out: np.ndarray = np.searchsorted(ordered, high, side="right")
    return out


class _SignFlips:
    """Conditional sign-flip shares of one row of paired differences."""

    def __init__(self, d: FloatArray, enumerated: int) -> None:
        order = np.argsort(-np.abs(d), kind="stable")
        m = min(enumerated, len(d))
        self.listed = np.sort(_signed_sums(d[order[:m]]))
        self.rest = d[order[m:]]
        self.bound = abs(float(d.sum())) - TIE_RELATIVE * float(np.abs(d).sum())
        self.relabellings = 2 ** len(d)
        self.observed = (self._shares(np.array([float(self.rest.sum())])),)

    def _shares(self, t: FloatArray) -> FloatArray:
        """Per random partial sum t: share of completions beyond |observed|, t and -t averaged."""
        t = np.sort(t)
        hits = _at_least(self.listed, self.bound - t) + _at_least(self.listed, self.bound + t)
        out: FloatArray = hits / (2.0 * len(self.listed))
        return out

    def draw(self, size: int, rng: np.random.Generator) -> tuple[FloatArray, ...]:
        """Shares of `size` random sign patterns of the random part (one tail, p / 2)."""
        signs = rng.integers(0, 2, size=(size, len(self.rest)), dtype=np.int8) * 2 - 1
        return (self._shares(signs @ self.rest),)


class _Splits:
    """Conditional label-permutation shares (both tails) of one row of two samples."""

    def __init__(self, a: FloatArray, b: FloatArray, enumerated: int) -> None:
        pooled = np.concatenate([a, b])
        pooled = pooled - pooled.mean()  # same ordering of splits, smaller rounding
        tol = TIE_RELATIVE * float(np.abs(pooled).sum())
        observed = float(pooled[: len(a)].sum())
        self.low, self.high = observed - tol, observed + tol
        self.na, n = len(a), len(pooled)
        order = np.argsort(-np.abs(pooled), kind="stable")
        m = min(enumerated, n)
        sums, sizes = _subset_sums(pooled[order[:m]])
        self.listed = [np.sort(sums[sizes == k]) for k in range(m + 1)]
        self.rest = pooled[order[m:]]
        parts = np.array_split(self.rest, -(-len(self.rest) // _CHUNK_VALUES)) if m < n else []
        self.chunks: list[tuple[FloatArray, np.ndarray]] = []
        for part in parts:
            part_sums, part_sizes = _subset_sums(part)
            start = np.concatenate([[0], np.cumsum(np.bincount(part_sizes))])
            self.chunks.append((part_sums[np.argsort(part_sizes, kind="stable")], start))
        self.blocks = [len(part) for part in parts] + [m]
        self.relabellings = math.comb(n, len(a))
        in_a = order[m:] < len(a)
        self.observed = self._shares(
            np.array([float(self.rest[in_a].sum())]), np.array([int(in_a.sum())])
        )

    def _shares(self, t: FloatArray, j: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """Per draw (sum t of the j random-part runs labelled a): shares of the completions by
        na - j enumerated runs whose a-sum is at least, and at most, the observed one."""
        order = np.argsort(t, kind="stable")
        t, need = t[order], self.na - j[order]
        upper, lower = np.empty(len(t)), np.empty(len(t))
        for k in np.unique(need):
            sel = need == k
            listed = self.listed[k]
            upper[sel] = _at_least(listed, self.low - t[sel]) / len(listed)
            lower[sel] = _at_most(listed, self.high - t[sel]) / len(listed)
        return upper, lower

    def draw(self, size: int, rng: np.random.Generator) -> tuple[FloatArray, ...]:
        """Shares of `size` uniformly random splits: (upper tail, lower tail).

        The a-labels per block (the random part's chunks, then the enumerated values) of a
        uniformly random split are multivariate hypergeometric; within a chunk, the a-runs are
        a uniformly random subset of that size (an index into its listed subset sums)."""
        counts = rng.multivariate_hypergeometric(self.blocks, self.na, size=size)
        t = np.zeros(size)
        for c, (sums, start) in enumerate(self.chunks):
            j = counts[:, c]
            t += sums[start[j] + rng.integers(0, start[j + 1] - start[j])]
        return self._shares(t, counts[:, :-1].sum(axis=1))


def p_interval(
    total: FloatArray, squares: FloatArray, n: np.ndarray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Interval of the two-sided p-value 2 mu from n shares in [0, 1] (their sum and sum of
    squares), doubled and clipped to [0, 1].

    Empirical Bernstein bound (Maurer and Pontil 2009, theorem 4), each side at (1 - confidence)
    / 2: |mean - mu| <= sqrt(2 V log(4 / a) / n) + 7 log(4 / a) / (3 (n - 1)), V the unbiased
    sample variance, a = 1 - confidence. It holds for any distribution on [0, 1], so it needs no
    normal approximation of the shares' mean.
    """
    m = n.astype("float64")
    mean = total / m
    with np.errstate(all="ignore"):
        var = np.clip((squares - m * mean**2) / (m - 1), 0.0, None)
        log = math.log(4 / (1 - confidence))
        half = np.sqrt(2 * var * log / m) + 7 * log / (3 * (m - 1))
    half = np.where(m > 1, half, np.inf)
    return np.clip(2 * (mean - half), 0.0, 1.0), np.clip(2 * (mean + half), 0.0, 1.0)


def straddles(low: FloatArray, high: FloatArray, thresholds: FloatArray) -> np.ndarray:
    """Per row: does (low, high] contain one of the row's thresholds (NaN entries ignored)?"""
    t = np.nan_to_num(thresholds, nan=-1.0)
    inside = (low[:, None] < t) & (t <= high[:, None])
    return np.asarray(inside.any(axis=1), dtype=bool)


@dataclass(frozen=True)
class _RowResult:
    """One row's p-value, relabellings, standard error, and whether settled."""

    p: float
    used: int
    se: float
    settled: bool


def _row(
    sampler: _SignFlips | _Splits,
    rng: np.random.Generator,
    cap: int,
    thresholds: FloatArray,
    confidence: float,
) -> _RowResult:
    """Sequential conditional Monte Carlo of one row (see the module docstring)."""
    if not len(sampler.rest):  # every value enumerated: the shares are the exact tails
        p = min(1.0, 2 * min(float(x[0]) for x in sampler.observed))
        return _RowResult(p, sampler.relabellings, 0.0, True)
    tails = len(sampler.observed)
    total, squares = np.zeros(tails), np.zeros(tails)
    used = 0
    step = max(1, _BATCH_ELEMENTS // len(sampler.rest))
    size = max(1, min(cap, N_FIRST))
    while True:
        done = 0
        while done < size:
            k = min(step, size - done)
            shares = sampler.draw(k, rng)
            total += [float(s.sum()) for s in shares]
            squares += [float(np.dot(s, s)) for s in shares]
            done += k
        used += size
        tail = int(np.argmin(total))
        low, high = p_interval(total[[tail]], squares[[tail]], np.array([used]), confidence)
        open_ = bool(straddles(low, high, thresholds[None, :])[0])
        if not open_ or used >= cap:
            break
        size = min(used, cap - used)
    observed = float(sampler.observed[tail][0])
    p = min(1.0, 2 * (total[tail] + observed) / (used + 1))
    var = max(0.0, (squares[tail] - total[tail] ** 2 / used) / max(1, used - 1))
    return _RowResult(p, used, 2 * math.sqrt(var / used), not open_)


def sequential(
    data: tuple[FloatArray, ...],
    rng: np.random.Generator,
    cap: int,
    thresholds: FloatArray,
    confidence: float = MC_CONFIDENCE,
    enumerated: int = ENUMERATED,
) -> MonteCarlo:
    """Monte Carlo two-sided permutation p-values per row, refined until settled or at `cap`.

    `data` is (differences,) for the sign-flip test or (a, b) for the two-sample test, one row
    per measure; `thresholds` has one row per data row (NaN-padded) of the levels its p-value is
    compared with. `enumerated` values per row are relabelled exhaustively (module docstring).
    Every row gets min(cap, N_FIRST) random relabellings of the rest; rows whose interval
    (`p_interval`) contains a threshold get more, doubling the total each time, up to `cap`.
    """
    results = []
    relabellings = 1
    for i in range(data[0].shape[0]):
        row = [np.asarray(x[i], dtype="float64") for x in data]
        sampler: _SignFlips | _Splits
        if len(row) == 1:
            sampler = _SignFlips(row[0], enumerated)
        else:
            sampler = _Splits(row[0], row[1], enumerated)
        relabellings = sampler.relabellings
        results.append(_row(sampler, rng, cap, thresholds[i], confidence))
        del sampler
    return MonteCarlo(
        np.array([r.p for r in results]),
        np.array([r.used for r in results], dtype=np.int64),
        np.array([r.se for r in results]),
        np.array([r.settled for r in results], dtype=bool),
        min(1.0, 2 / relabellings),
    )
