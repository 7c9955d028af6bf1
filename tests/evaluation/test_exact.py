"""Exact permutation p-values by meet in the middle: an exact count in rational arithmetic (and
scipy's exact p-values up to its floating-point rounding) where every relabelling can be listed,
an independent exact count (dynamic programming over integer sums) beyond,
and compare's verdicts at the former Monte Carlo boundary cases independent of `--seed`."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from dilemma.evaluation.comparison import Resampling, compare
from dilemma.evaluation.contrast import EXACT_RUNS
from dilemma.evaluation.exact import exact_possible, sign_flip_p, two_sample_p
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from tests.helpers.boundary import MEASURE, independent_case, paired_case, verdict_counts


def _scipy_sign_flip(d: np.ndarray) -> float:
    res = stats.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(res.pvalue)


def _scipy_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    res = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(res.pvalue)


small_ints = st.lists(st.integers(-5, 5), min_size=2, max_size=11)


@settings(max_examples=60, deadline=None)
@given(d=small_ints)
def test_sign_flip_p_is_scipys_exact_p_with_ties(d: list[int]) -> None:
    x = np.array(d, dtype=float)
    assert sign_flip_p(x[None, :])[0] == _scipy_sign_flip(x)


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.integers(0, 6), min_size=2, max_size=7), b=small_ints.map(lambda v: v[:7]))
def test_two_sample_p_is_scipys_exact_p_with_ties(a: list[int], b: list[int]) -> None:
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    assert two_sample_p(x[None, :], y[None, :])[0] == _scipy_two_sample(x, y)


def _rational_two_sided(stats_: list[Fraction], observed: Fraction) -> float:
    """Twice the smaller tail of the listed statistics at the observed one, counted exactly."""
    greater = sum(s >= observed for s in stats_)
    less = sum(s <= observed for s in stats_)
    return min(1.0, 2 * min(greater, less) / len(stats_))


def _rational_sign_flip(d: np.ndarray) -> float:
    x = [Fraction(float(v)) for v in d]
    sums = [
        sum((v if keep else -v for v, keep in zip(x, signs, strict=True)), Fraction(0))
        for signs in itertools.product((True, False), repeat=len(x))
    ]
    return _rational_two_sided(sums, sum(x, Fraction(0)))


def _rational_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """The difference of means is increasing in the first group's sum (sizes fixed)."""
    x = [Fraction(float(v)) for v in np.concatenate([a, b])]
    sums = [
        sum((x[i] for i in idx), Fraction(0))
        for idx in itertools.combinations(range(len(x)), len(a))
    ]
    return _rational_two_sided(sums, sum(x[: len(a)], Fraction(0)))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 12),
    na=st.integers(2, 7),
    nb=st.integers(2, 7),
    shift=st.floats(-2, 2),
)
@example(seed=3, n=7, na=7, nb=3, shift=0.2578125)
def test_p_values_are_exact_on_continuous_data(
    seed: int, n: int, na: int, nb: int, shift: float
) -> None:
    rng = np.random.default_rng(seed)
    d = rng.normal(shift, 1.0, (2, n)) * 10.0 ** rng.integers(-3, 4)
    flips = sign_flip_p(d)
    assert list(flips) == [_rational_sign_flip(row) for row in d]
    a, b = rng.normal(shift, 1.0, (2, na)), rng.normal(0.0, 1.0, (2, nb))
    p = two_sample_p(a, b)
    assert list(p) == [_rational_two_sample(a[i], b[i]) for i in range(2)]
    # scipy lists the same relabellings in floating point: its count can differ by the
    # observed relabelling itself (seed 3, 7 + 3 values: 0.8667 against the exact 0.8833)
    for row, got in zip(d, flips, strict=True):
        assert abs(got - _scipy_sign_flip(row)) <= 2 / 2 ** len(row) + 1e-12
    for i in range(2):
        assert abs(p[i] - _scipy_two_sample(a[i], b[i])) <= 2 / math.comb(na + nb, na) + 1e-12
    # a common offset changes no split's difference of means, so no p-value (scipy's own
    # tolerance can lose the observed split to rounding at an offset of 100: sums are centred
    # here first)
    assert list(two_sample_p(a + 100.0, b + 100.0)) == list(p)


def _dp_sign_flip(d: np.ndarray) -> float:
    """Exact two-sided sign-flip p-value of integer d: the distribution of signed sums by
    convolution (counts per sum), independent of the meet-in-the-middle count."""
    offset = int(np.abs(d).sum())
    counts = np.zeros(2 * offset + 1, dtype=np.int64)
    counts[offset] = 1
    for v in d.astype(int):
        counts = np.roll(counts, v) + np.roll(counts, -v)
    sums = np.arange(-offset, offset + 1)
    obs = int(d.sum())
    tail = min(counts[sums >= obs].sum(), counts[sums <= obs].sum())
    return min(1.0, 2 * int(tail) / float(2 ** len(d)))


def _dp_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided label-permutation p-value of integer samples: counts of (size, sum) of
    every subset by dynamic programming."""
    pooled = np.concatenate([a, b]).astype(int)
    na, top = len(a), int(pooled.sum())
    counts = np.zeros((na + 1, top + 1), dtype=np.int64)
    counts[0, 0] = 1
    for v in pooled:
        counts[1:, v:] = counts[1:, v:] + counts[:-1, : top + 1 - v]
    obs = int(a.sum())
    row = counts[na]
    tail = min(row[obs:].sum(), row[: obs + 1].sum())
    return min(1.0, 2 * int(tail) / math.comb(len(pooled), na))


@pytest.mark.parametrize("n", [19, 26, 33])
def test_sign_flip_p_beyond_scipys_reach_matches_an_independent_count(n: int) -> None:
    rng = np.random.default_rng(n)
    d = rng.integers(-40, 60, (3, n)).astype(float)
    assert list(sign_flip_p(d)) == [_dp_sign_flip(row) for row in d]


@pytest.mark.parametrize(("na", "nb"), [(11, 11), (12, 12), (15, 13)])
def test_two_sample_p_beyond_scipys_reach_matches_an_independent_count(na: int, nb: int) -> None:
    rng = np.random.default_rng(na * nb)
    a, b = rng.integers(0, 60, (2, na)), rng.integers(0, 50, (2, nb))
    got = two_sample_p(a.astype(float), b.astype(float))
    assert list(got) == [_dp_two_sample(a[i], b[i]) for i in range(2)]


def test_known_answers_at_the_largest_exact_design() -> None:
    assert exact_possible(EXACT_RUNS) and not exact_possible(EXACT_RUNS + 1)
    d = np.linspace(0.5, 2.0, EXACT_RUNS)[None, :]  # every difference positive
    assert sign_flip_p(d)[0] == 2 / 2**EXACT_RUNS
    half = EXACT_RUNS // 2
    a, b = np.arange(half, 2 * half)[None, :] + 0.5, np.arange(half)[None, :] + 0.25
    assert two_sample_p(a.astype(float), b.astype(float))[0] == 2 / math.comb(EXACT_RUNS, half)


def test_sums_equal_in_exact_arithmetic_tie() -> None:
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, 0 in exact arithmetic: every signed sum
    # ties with or exceeds the observed 0 on one side, so p is 1
    assert sign_flip_p(np.array([[0.1, 0.2, -0.3]]))[0] == 1.0
    # a split whose sum equals the observed one in exact arithmetic counts as a tie
    a, b = np.array([[0.1, 0.2]]), np.array([[0.3, 0.0]])
    assert two_sample_p(a, b)[0] == 1.0


@pytest.mark.parametrize("offset", [-0.0002, 0.0002])
def test_paired_boundary_verdict_is_exact_and_independent_of_seed(offset: float) -> None:
    # 18 pairs, exact p within 0.0002 of alpha: formerly Monte Carlo, 6 of 30 seeds flipped
    table, p = paired_case(102 + (offset > 0), 18, 0.05 + offset)
    expected = "changes" if p <= 0.05 else "inconclusive"
    assert verdict_counts(table, range(5)) == {expected: 5}
    result = compare(table, "f", primary=[MEASURE], secondary=[], resampling=Resampling(n_boot=99))
    row = result.pairs.iloc[0]
    assert bool(row["p_exact"]) and row["p_value"] == pytest.approx(p, rel=1e-12)
    assert row["n_resamples"] == 2**18 and row["p_mc_se"] == 0
    assert not result.warnings


def test_two_sample_boundary_verdict_is_exact_and_independent_of_seed() -> None:
    # 12 + 12 runs (C(24, 12) = 2,704,156 splits), exact p just above alpha
    table, p = independent_case(7, 12, 0.0502)
    assert 0.05 < p < 0.0504
    assert verdict_counts(table, range(5)) == {"inconclusive": 5}
    result = compare(table, "f", primary=[MEASURE], secondary=[], resampling=Resampling(n_boot=99))
    row = result.pairs.iloc[0]
    assert row["design"] == "independent" and bool(row["p_exact"])
    assert row["p_value"] == pytest.approx(p, rel=1e-12)
    assert row["n_resamples"] == math.comb(24, 12)
