"""Comparison statistics on constructed samples with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.comparison import compare, hedges_g, holm, permutation_p


def groups(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"f": ["a"] * len(a) + ["b"] * len(b), "x": np.r_[a, b]})


def test_interval_covers_the_known_mean() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(40):
        sample = rng.normal(5.0, 2.0, 40)
        result = compare(
            groups(sample, sample + 1), "f", ["x"], n_boot=1000, n_perm=200, seed=trial
        )
        row = result.levels.query("level == 'a'").iloc[0]
        covered += row.ci_low <= 5.0 <= row.ci_high
    assert covered >= 34  # nominal 95%: 38 of 40 expected, allow sampling error


def test_identical_groups_give_a_high_p_and_no_effect() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 30)
    result = compare(groups(a, a.copy()), "f", ["x"], seed=0)
    pair = result.pairs.iloc[0]
    assert pair.p_value > 0.9 and pair["diff"] == 0 and pair.hedges_g == 0
    assert not result.changes_behaviour and "does not detectably" in result.verdict


def test_clearly_different_groups_give_a_low_p() -> None:
    rng = np.random.default_rng(2)
    result = compare(groups(rng.normal(0, 1, 30), rng.normal(2, 1, 30)), "f", ["x"], seed=0)
    pair = result.pairs.iloc[0]
    assert pair.p_value < 0.001 and pair.ci_high < 0 and pair.hedges_g < -1.2
    assert result.changes_behaviour


def test_hedges_g_matches_hand_computation() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0])
    pooled_sd = np.sqrt((3 * a.var(ddof=1) + 3 * b.var(ddof=1)) / 6)
    expected = (a.mean() - b.mean()) / pooled_sd * (1 - 3 / (4 * 8 - 9))
    assert hedges_g(a, b) == expected


def test_permutation_p_is_exact_for_a_tiny_case() -> None:
    # {0,0} vs {1,1}: of the 6 equally likely splits, 2 are as extreme -> p = 1/3
    rng = np.random.default_rng(0)
    p = permutation_p(np.array([0.0, 0.0]), np.array([1.0, 1.0]), 20000, rng)
    assert abs(p - 1 / 3) < 0.02


def test_holm_adjustment() -> None:
    adjusted = holm(np.array([0.01, 0.04, 0.03]))
    assert list(np.round(adjusted, 4)) == [0.03, 0.06, 0.06]
