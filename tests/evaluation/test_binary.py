"""Exact methods for binary outcomes: known answers computed by hand, and their use in compare."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.binary import (
    boschloo_p,
    clopper_pearson,
    mcnemar_p,
    min_p_independent,
    min_p_paired,
    newcombe,
    tost,
)
from dilemma.evaluation.comparison import Resampling, compare
from scipy.stats import fisher_exact

from tests.helpers.run_tables import synthetic_runs

Z = 1.959963984540054  # two-sided 95% normal quantile


def test_exact_mcnemar_is_the_binomial_test_on_discordant_pairs() -> None:
    # 7 pairs with war only at level a, 1 only at b: 2 * P(X <= 1 | 8, 1/2) = 2 * 9 / 256
    assert mcnemar_p(7, 1) == pytest.approx(18 / 256)
    assert mcnemar_p(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_p(0, 0) == 1.0
    # all 5 pairs discordant one way: 2 / 2**5, the smallest p with 5 pairs
    assert mcnemar_p(5, 0) == pytest.approx(min_p_paired(5)) == pytest.approx(1 / 16)


def test_boschloo_known_answer_and_more_powerful_than_fisher() -> None:
    # 2 of 2 against 0 of 2: the tables at least this extreme are (2, 0) and (0, 2), with
    # probability 2 * pi^2 (1 - pi)^2 under a common rate pi, largest at pi = 1/2: 1/8
    assert boschloo_p(2, 2, 0, 2) == pytest.approx(0.125, abs=1e-9)
    assert min_p_independent(2, 2) == pytest.approx(0.125, abs=1e-9)
    for c1, c2 in [(7, 1), (5, 2), (10, 3), (3, 3)]:
        fisher = fisher_exact([[c1, c2], [20 - c1, 20 - c2]]).pvalue
        assert boschloo_p(c1, 20, c2, 20) <= fisher + 1e-12
    assert boschloo_p(0, 20, 0, 20) == 1.0


def test_exact_intervals_known_answers() -> None:
    # Clopper-Pearson for 0 of 20: upper bound solves (1 - p)^20 = 0.025
    lo, hi = clopper_pearson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 20))
    # Newcombe for 0/20 - 0/20: the Wilson upper bound of 0/n is z^2 / (n + z^2)
    lo, hi = newcombe(0, 20, 0, 20)
    assert hi == pytest.approx(Z**2 / (20 + Z**2), rel=1e-6) and lo == pytest.approx(-hi)


def test_equivalence_of_proportions_needs_enough_runs() -> None:
    # no war in 20 runs per level does not show the war rates within 0.1 of each other
    assert tost(0, 20, 0, 20, 0.1) > 0.05
    assert tost(0, 200, 0, 200, 0.1) < 0.001
    assert tost(10, 20, 2, 20, 0.1) > 0.5
    assert math.isnan(tost(0, 20, 0, 20, math.nan))


def _no_war(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(war=False)


def test_compare_tests_war_exactly_when_paired() -> None:
    table = synthetic_runs(np.random.default_rng(1), 10, effect=1.0, cells=("g1",))
    result = compare(table, "f", resampling=Resampling(n_boot=199))
    war = result.pairs.set_index("measure").loc["war"]
    a = table[table["f"] == "a"].sort_values("seed")["war"].to_numpy()
    b = table[table["f"] == "b"].sort_values("seed")["war"].to_numpy()
    n10, n01 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert "McNemar" in war["method"]
    assert war["p_value"] == pytest.approx(mcnemar_p(n10, n01))
    assert war["diff"] == pytest.approx((n10 - n01) / 10)
    assert war["p_exact"]
    levels = result.levels[result.levels["measure"] == "war"]
    assert (levels["ci_method"] == "Clopper-Pearson").all()


def test_compare_tests_war_with_boschloo_when_independent() -> None:
    table = synthetic_runs(np.random.default_rng(2), 12, effect=1.0, cells=("g1",), matched=False)
    result = compare(table, "f", resampling=Resampling(n_boot=199))
    war = result.pairs.set_index("measure").loc["war"]
    c1 = int(table[table["f"] == "a"]["war"].sum())
    c2 = int(table[table["f"] == "b"]["war"].sum())
    assert "Boschloo" in war["method"]
    assert war["p_value"] == pytest.approx(boschloo_p(c1, 12, c2, 12))
    assert (war["ci_low"], war["ci_high"]) == pytest.approx(newcombe(c1, 12, c2, 12))
    assert war["p_equivalence"] == pytest.approx(tost(c1, 12, c2, 12, 0.1))


def test_no_war_at_twenty_seeds_is_not_equivalence() -> None:
    # the t-based TOST on constant zeros gave p_equivalence 0 ("equivalent") for any n
    table = _no_war(synthetic_runs(np.random.default_rng(3), 20, cells=("g1",)))
    result = compare(table, "f", ["war"], resampling=Resampling(n_boot=199))
    war = result.pairs.set_index("measure").loc["war"]
    assert war["p_value"] == 1.0
    assert war["p_equivalence"] > 0.05
    assert result.verdict == "inconclusive"
    many = _no_war(synthetic_runs(np.random.default_rng(3), 60, cells=("g1",)))
    assert (
        compare(many, "f", ["war"], secondary=[], resampling=Resampling(n_boot=199)).verdict
        == "equivalent"
    )


@pytest.mark.slow  # 1,000 simulated null designs: a statistical calibration
def test_exact_tests_hold_their_level_under_the_null() -> None:
    rng = np.random.default_rng(0)
    rejections = covered = 0
    for _ in range(1000):
        # 20 pairs sharing a latent seed effect (common random numbers), no level effect
        z = rng.normal(size=20)
        a, b = (z + rng.normal(size=20)) > 0.8, (z + rng.normal(size=20)) > 0.8
        rejections += mcnemar_p(int(np.sum(a & ~b)), int(np.sum(~a & b))) < 0.05
        lo, hi = newcombe(int(a.sum()), 20, int(b.sum()), 20)
        covered += lo <= 0 <= hi
    assert rejections <= 60  # at most 6% (exact McNemar is conservative: about 1.5%)
    assert covered >= 930  # marginal interval on correlated pairs: conservative
    # equivalence at a true difference equal to the margin: at most 5% claim equivalence
    claims = sum(
        tost(int(rng.binomial(60, 0.2)), 60, int(rng.binomial(60, 0.1)), 60, 0.1) < 0.05
        for _ in range(1000)
    )
    assert claims <= 60
