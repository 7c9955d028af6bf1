"""Exact permutation p-values for designs too large to list every relabelling: meet in the middle.

A sign-flip test of n paired differences has 2^n relabellings, a two-sample test of n runs
C(n, n_a); listing them all (as `scipy.stats.permutation_test` does when asked for at least that
many resamples) stops being practical near a million. Both statistics are sums, though: the mean
of flipped differences is (sum of signed differences) / n, and the difference of means of a
split is monotone in the sum of the runs labelled a. So the values are split into two halves,
every signed sum (or every subset sum, with its size) of each half is listed (2^(n/2) values),
one half is sorted, and for each value of the other the relabellings at least as extreme as the
observed one are counted with a binary search: the count over all 2^n (or C(n, n_a))
relabellings is exact, in time and memory of order 2^(n/2).

The p-value is scipy's for an exact test: per tail, the share of relabellings whose statistic is
at least as extreme as the observed one; two-sided, twice the smaller tail, at most 1. Sums
within TIE_RELATIVE x (sum of |values|) of the observed one count as ties (at least as extreme):
a bound on rounding in sums of at most EXACT_RUNS values, and never smaller than scipy's tie
tolerance, so values that are equal in exact arithmetic tie here as they do in scipy.
"""

from __future__ import annotations

import math

import numpy as np
from dilemma.evaluation.contrast import EXACT_RUNS, FloatArray

TIE_RELATIVE = 1e-12
"""Sums this close to the observed one, relative to the sum of |values|, count as ties."""
_CHUNK = 1 << 18
"""Values of one half searched at once (memory bound: a few arrays of this length)."""


def exact_possible(n_values: int) -> bool:
    """Are the relabellings of n_values values (pairs, or runs of both levels) counted exactly?"""
    return n_values <= EXACT_RUNS


def _signed_sums(x: FloatArray) -> FloatArray:
    """Sums of x under every one of the 2^len(x) sign patterns."""
    out = np.zeros(1 << len(x))
    size = 1
    for v in x:
        out[size : 2 * size] = out[:size] + v
        out[:size] -= v
        size *= 2
    return out


def _subset_sums(x: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Sums and sizes of every one of the 2^len(x) subsets of x."""
    sums = np.zeros(1 << len(x))
    sizes = np.zeros(1 << len(x), dtype=np.int64)
    size = 1
    for v in x:
        sums[size : 2 * size] = sums[:size] + v
        sizes[size : 2 * size] = sizes[:size] + 1
        size *= 2
    return sums, sizes


def _at_least(left: FloatArray, right: FloatArray, low: float) -> int:
    """Pairs (l, r) of the two lists with l + r >= low.

    Both lists are sorted, so each chunk of searches runs through `right` in order (several
    times faster than searching in random order)."""
    ordered = np.sort(right)
    needles = np.sort(left)[::-1]  # low - needles then rises
    count = 0
    for start in range(0, len(needles), _CHUNK):
        part = needles[start : start + _CHUNK]
        count += int(len(ordered) * len(part) - np.searchsorted(ordered, low - part).sum())
    return count


def sign_flip_p(d: FloatArray) -> FloatArray:
    """Per row of d (one column per pair): the exact two-sided sign-flip p-value of the mean.

    Flipping every sign negates a sum, so the signed sums are symmetric about 0 and the smaller
    tail is the one beyond |observed|: p = 2 x (share of sums >= |observed| - tolerance)."""
    out = np.empty(d.shape[0])
    n = d.shape[1]
    half = n // 2
    for r, row in enumerate(np.asarray(d, dtype="float64")):
        tol = TIE_RELATIVE * float(np.abs(row).sum())
        observed = abs(float(row.sum()))
        left, right = _signed_sums(row[:half]), _signed_sums(row[half:])
        out[r] = min(1.0, 2 * _at_least(left, right, observed - tol) / (1 << n))
    return out


def two_sample_p(a: FloatArray, b: FloatArray) -> FloatArray:
    """Per row: the exact two-sided label-permutation p-value of mean(a) - mean(b).

    The difference of means of a split rises with the sum of the runs labelled a, so splits are
    counted by that sum: subsets of n_a of the pooled runs, made of k runs from the first half
    and n_a - k from the second, for every k.
    """
    na, n = a.shape[1], a.shape[1] + b.shape[1]
    half = n // 2
    out = np.empty(a.shape[0])
    for r in range(a.shape[0]):
        pooled = np.concatenate([a[r], b[r]]).astype("float64")
        pooled = pooled - pooled.mean()  # same ordering of splits, smaller rounding
        tol = TIE_RELATIVE * float(np.abs(pooled).sum())
        observed = float(pooled[:na].sum())
        left, left_k = _subset_sums(pooled[:half])
        right, right_k = _subset_sums(pooled[half:])
        at_least = at_most = 0
        for k in range(max(0, na - (n - half)), min(na, half) + 1):
            x, y = left[left_k == k], right[right_k == na - k]
            at_least += _at_least(x, y, observed - tol)
            at_most += _at_least(-x, -y, -observed - tol)  # l + r <= observed + tol
        out[r] = min(1.0, 2 * min(at_least, at_most) / math.comb(n, na))
    return out
