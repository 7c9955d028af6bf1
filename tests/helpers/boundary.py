"""Run tables whose exact permutation p-value lies a chosen distance from alpha: the cases where a
verdict could flip with `--seed` if its p-value were Monte Carlo (tests and the Monte Carlo
stability benchmark). Up to _BRUTE values the exact p-values here are computed independently of
`compare` (every relabelling listed); beyond, where listing is too slow, they come from
`dilemma.evaluation.exact`, which tests/evaluation/test_exact.py checks against scipy and an
independent count."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd

MEASURE = "mean_threat"
_BRUTE = 22
"""Most values (pairs, or runs of both levels) whose exact p is computed here by listing."""


def exact_sign_flip_p(d: np.ndarray) -> float:
    """Two-sided exact sign-flip p-value of mean(d) (every one of 2^n flips), as scipy."""
    n = len(d)
    if n > _BRUTE:
        from dilemma.evaluation.exact import sign_flip_p

        return float(sign_flip_p(d[None, :])[0])
    obs = d.mean()
    greater = less = 0
    half = n // 2
    # enumerate flips of the first half and of the second half, and combine the sums
    left = np.array(list(itertools.product((-1.0, 1.0), repeat=half))) @ d[:half]
    right = np.array(list(itertools.product((-1.0, 1.0), repeat=n - half))) @ d[half:]
    gamma = abs(1e-14 * obs) * n
    for s in left:
        total = s + right
        greater += int(np.sum(total >= n * obs - gamma))
        less += int(np.sum(total <= n * obs + gamma))
    return float(min(1.0, 2 * min(greater, less) / 2**n))


@functools.lru_cache(maxsize=4)
def _splits(n: int, na: int) -> np.ndarray:
    """Indicator rows (int8) of every way to choose na of n runs as level a."""
    combos = np.array(list(itertools.combinations(range(n), na)), dtype=np.intp)
    out = np.zeros((len(combos), n), dtype=np.int8)
    np.put_along_axis(out, combos, 1, axis=1)
    return out


def exact_two_sample_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact label-permutation p-value of mean(a) - mean(b) (every split), as scipy."""
    pooled = np.concatenate([a, b])
    na, n = len(a), len(a) + len(b)
    if n > _BRUTE:
        from dilemma.evaluation.exact import two_sample_p

        return float(two_sample_p(a[None, :], b[None, :])[0])
    obs = a.mean() - b.mean()
    sums = _splits(n, na) @ pooled
    stat = sums / na - (pooled.sum() - sums) / (n - na)
    gamma = abs(1e-14 * obs)
    greater = int(np.sum(stat >= obs - gamma))
    less = int(np.sum(stat <= obs + gamma))
    return min(1.0, 2 * min(greater, less) / len(stat))


def _solve(f: Callable[[float], float], target: float, tol: float, centre: float) -> float:
    """Shift whose exact p is within tol of target (bisection; p falls as the shift grows from
    0, or from `centre`, the shift giving a mean difference of 0, when p at 0 is below target)."""
    lo, hi = (0.0, 3.0) if f(0.0) >= target else (centre, 3.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        p = f(mid)
        if abs(p - target) <= tol:
            return mid
        if p > target:
            lo = mid
        else:
            hi = mid
    raise ValueError(f"no shift gives p within {tol} of {target}")


def paired_case(seed: int, n: int, target: float, tol: float = 5e-5) -> tuple[pd.DataFrame, float]:
    """A paired table (levels a, b sharing seeds 0..n-1) and its exact p (close to target)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, n)
    shift = _solve(lambda s: exact_sign_flip_p(noise + s), target, tol, -float(noise.mean()))
    d = noise + shift
    base = rng.normal(4.0, 1.0, n)
    rows = [{"f": "a", "seed": i, MEASURE: base[i] + d[i]} for i in range(n)]
    rows += [{"f": "b", "seed": i, MEASURE: base[i]} for i in range(n)]
    return pd.DataFrame(rows), exact_sign_flip_p(d)


def independent_case(
    seed: int, n: int, target: float, tol: float = 5e-5
) -> tuple[pd.DataFrame, float]:
    """A two-sample table (n runs per level, no shared seeds) and its exact p (close to target)."""
    rng = np.random.default_rng(seed)
    a0, b = rng.normal(0.0, 1.0, n), rng.normal(0.0, 1.0, n)
    centre = float(b.mean() - a0.mean())
    shift = _solve(lambda s: exact_two_sample_p(a0 + s, b), target, tol, centre)
    a = a0 + shift
    rows = [{"f": "a", "seed": i, MEASURE: a[i]} for i in range(n)]
    rows += [{"f": "b", "seed": 1000 + i, MEASURE: b[i]} for i in range(n)]
    return pd.DataFrame(rows), exact_two_sample_p(a, b)


def verdict_counts(table: pd.DataFrame, seeds: range, n_perm: int | None = None) -> dict[str, int]:
    """How often each verdict comes out of `compare` on `table` (one primary measure) over
    `seeds`; `n_perm` caps the Monte Carlo relabellings (default: compare's)."""
    from dilemma.evaluation.comparison import Resampling, compare

    settings = Resampling(n_boot=99) if n_perm is None else Resampling(n_boot=99, n_perm=n_perm)
    counts: dict[str, int] = {}
    for s in seeds:
        v = compare(table, "f", primary=[MEASURE], secondary=[], seed=s, resampling=settings)
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
    return counts


def flips(counts: dict[str, int]) -> int:
    """Seeds whose verdict differs from the most common one."""
    return sum(counts.values()) - max(counts.values())
