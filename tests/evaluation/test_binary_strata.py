"""Binary outcomes across strata and in interactions: known answers by hand, the consistency
of tests with intervals, and their use in compare."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.binary import newcombe
from dilemma.evaluation.binary_strata import (
    INTERACTION,
    INTERACTION_LIMITS,
    MAIN,
    Cells,
    stratified_exact_p,
    stratified_min_p,
)
from dilemma.evaluation.comparison import Resampling, compare
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact, norm

from tests.helpers.binary_null import interaction_paired, interaction_unmatched, stratified_main
from tests.helpers.run_tables import synthetic_runs

Z = 1.959963984540054  # two-sided 95% normal quantile


def _wilson_upper_of_zero(n: int) -> float:
    return Z**2 / (n + Z**2)


def test_exact_stratified_test_known_answers() -> None:
    # two strata, each 2 of 2 at level a against 0 of 2 at b: per stratum the wars at a are
    # hypergeometric (0, 1, 2 with 1/6, 4/6, 1/6); their total over both strata is 4 with
    # probability 1/36, so the two-sided p is 2/36, the smallest attainable with these strata
    counts, sizes = np.array([[2, 0], [2, 0]]), np.array([[2, 2], [2, 2]])
    assert stratified_exact_p(counts, sizes) == pytest.approx(1 / 18)
    assert stratified_min_p(sizes) == pytest.approx(1 / 18)
    # one stratum: twice the one-sided Fisher exact test
    one_sided = fisher_exact([[7, 2], [13, 18]], alternative="greater").pvalue
    assert stratified_exact_p(np.array([[7, 2]]), np.array([[20, 20]])) == pytest.approx(
        2 * one_sided
    )
    # no war anywhere, or the same wars at both levels: no evidence
    assert stratified_exact_p(np.zeros((3, 2), int), np.full((3, 2), 10)) == 1.0
    assert stratified_exact_p(np.array([[3, 3], [1, 1]]), np.full((2, 2), 10)) == 1.0


def test_stratified_test_does_not_pool_over_strata() -> None:
    # within each stratum the rates are equal; pooled, level a looks far more warlike (Simpson):
    # stratum 1 has 18 of 20 at a and 9 of 10 at b, stratum 2 has 1 of 10 at a and 2 of 20 at b
    counts, sizes = np.array([[18, 9], [1, 2]]), np.array([[20, 10], [10, 20]])
    assert stratified_exact_p(counts, sizes) > 0.5
    pooled = fisher_exact([[19, 11], [11, 19]]).pvalue
    assert pooled < 0.07
    cells = Cells(counts, sizes, MAIN)
    assert cells.estimate() == pytest.approx(0.0)


def test_weights_are_mantel_haenszel() -> None:
    # n_a n_b / (n_a + n_b): 10 x 10 / 20 = 5 and 20 x 5 / 25 = 4
    cells = Cells(np.array([[1, 0], [2, 1]]), np.array([[10, 10], [20, 5]]), MAIN)
    assert cells.weights() == pytest.approx([5 / 9, 4 / 9])
    assert cells.estimate() == pytest.approx(5 / 9 * 0.1 + 4 / 9 * (0.1 - 0.2))


def test_mover_interval_known_answers() -> None:
    # one stratum: Newcombe's hybrid score interval (statsmodels)
    for c1, c2 in [(3, 7), (0, 0), (0, 5), (20, 19)]:
        got = Cells(np.array([[c1, c2]]), np.array([[20, 20]]), MAIN).interval()
        assert got == pytest.approx(newcombe(c1, 20, c2, 20))
    # two equal strata without a war: weights 1/2, limits +-sqrt(2 (u / 2)^2) = +-u / sqrt(2)
    u = _wilson_upper_of_zero(10)
    lo, hi = Cells(np.zeros((2, 2), int), np.full((2, 2), 10), MAIN).interval()
    assert hi == pytest.approx(u / math.sqrt(2)) and lo == pytest.approx(-hi)
    # interaction, four cells of 10 runs without a war, Clopper-Pearson limits: the upper
    # limit of 0 of 10 solves (1 - p)^10 = 0.025, and the interval is +-sqrt(2) times it
    lo, hi = _interaction_cells(np.zeros(4, int), 10).interval()
    assert hi == pytest.approx((1 - 0.025**0.1) * math.sqrt(2)) and lo == pytest.approx(-hi)


def _interaction_cells(counts: np.ndarray, n: int) -> Cells:
    return Cells(counts[None, :], np.full((1, 4), n), INTERACTION, INTERACTION_LIMITS)


def test_no_war_anywhere_is_neither_a_change_nor_equivalence_at_ten_runs() -> None:
    cells = _interaction_cells(np.zeros(4, int), 10)
    assert cells.p_two_sided() == 1.0
    # the one-sided level-a limits are +-sqrt(2) (1 - a^(1/10)) (Clopper-Pearson of 0 of 10);
    # they reach the margin 0.1 at a = (1 - 0.1 / sqrt(2))^10 = 0.48
    assert cells.p_equivalence(0.1) == pytest.approx((1 - 0.1 / math.sqrt(2)) ** 10)
    # Wilson limits: +-sqrt(2) z^2 / (10 + z^2), reaching 0.1 where z^2 = 10 r / (1 - r) with
    # r = 0.1 / sqrt(2): p is the normal tail beyond that z (0.19)
    wilson = Cells(np.zeros((1, 4), int), np.full((1, 4), 10), INTERACTION)
    r = 0.1 / math.sqrt(2)
    assert wilson.p_equivalence(0.1) == pytest.approx(norm.sf(math.sqrt(10 * r / (1 - r))))
    assert _interaction_cells(np.zeros(4, int), 2000).p_equivalence(0.1) < 0.01


counts_2x4 = st.lists(st.integers(0, 12), min_size=4, max_size=4)


@settings(max_examples=60, deadline=None)
@given(counts_2x4, counts_2x4, st.floats(0.02, 0.4))
def test_tests_agree_with_the_intervals(a: list[int], b: list[int], margin: float) -> None:
    """p < alpha exactly when the 1 - alpha interval excludes 0; equivalence at alpha exactly
    when the 1 - 2 alpha interval lies inside the margins."""
    sizes = np.array([[12, 12, 12, 12], [15, 15, 15, 15]])
    counts = np.minimum(np.array([a, b]), sizes)
    cells = Cells(counts, sizes, INTERACTION, INTERACTION_LIMITS)
    lo, hi = cells.interval(0.05)
    p = cells.p_two_sided()
    if abs(p - 0.05) > 1e-6:
        assert (p < 0.05) == (lo > 0 or hi < 0)
    lo90, hi90 = cells.interval(0.10)
    p_eq = cells.p_equivalence(margin)
    if abs(p_eq - 0.05) > 1e-6:
        assert (p_eq < 0.05) == (-margin < lo90 and hi90 < margin)
    assert 0.0 <= p <= 1.0 and 0.0 <= p_eq <= 1.0


def _row(frame: pd.DataFrame, measure: str) -> pd.Series:
    found = frame.set_index("measure").loc[measure]
    assert isinstance(found, pd.Series)
    return found


def _counts(table: pd.DataFrame, cells: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Wars and runs per stratum g (rows) and (f, h) cell (columns)."""
    groups = sorted(table["g"].unique())
    counts = np.array(
        [
            [int(table[(table["g"] == g) & (table["f"] == f)]["war"].sum()) for f, _ in cells]
            for g in groups
        ]
    )
    sizes = np.array(
        [[int(((table["g"] == g) & (table["f"] == f)).sum()) for f, _ in cells] for g in groups]
    )
    return counts, sizes


def test_compare_tests_war_exactly_when_stratified() -> None:
    # seeds not matched and g varies: a stratified design, formerly least squares
    table = synthetic_runs(np.random.default_rng(5), 10, effect=1.0, matched=False)
    result = compare(table, "f", ["escalation_index", "war"], resampling=Resampling(n_boot=199))
    war = _row(result.pairs, "war")
    counts, sizes = _counts(table, [("a", ""), ("b", "")])
    assert "exact stratified" in war["method"]
    assert war["p_value"] == pytest.approx(stratified_exact_p(counts, sizes))
    assert war["p_exact"]
    cells = Cells(counts, sizes, MAIN)
    assert (war["ci_low"], war["ci_high"]) == pytest.approx(cells.interval())
    assert war["p_equivalence"] == pytest.approx(cells.p_equivalence(0.1))
    assert war["diff"] == pytest.approx(cells.estimate())
    # the continuous measure keeps least squares
    assert "least squares" in _row(result.pairs, "escalation_index")["method"]


def _with_h(table: pd.DataFrame) -> pd.DataFrame:
    """The cells g1/g2 become levels of a second factor h, with one stratum g."""
    return table.assign(h=table["g"], g="all")


def test_compare_war_interaction_unmatched_inverts_the_mover_interval() -> None:
    table = _with_h(synthetic_runs(np.random.default_rng(6), 12, interaction=1.5, matched=False))
    result = compare(
        table, "f", ["escalation_index", "war"], interaction="h", resampling=Resampling(n_boot=199)
    )
    assert result.interaction is not None
    war = _row(result.interaction.contrasts, "war")
    order = [("a", "g1"), ("b", "g1"), ("a", "g2"), ("b", "g2")]
    counts = np.array(
        [[int(table[(table["f"] == f) & (table["h"] == h)]["war"].sum()) for f, h in order]]
    )
    cells = Cells(counts, np.full((1, 4), 12), INTERACTION, INTERACTION_LIMITS)
    assert "MOVER" in war["method"]
    assert war["p_value"] == pytest.approx(cells.p_two_sided())
    assert (war["ci_low"], war["ci_high"]) == pytest.approx(cells.interval())
    assert war["diff"] == pytest.approx(cells.estimate())


def test_no_war_interaction_at_twenty_paired_seeds_is_not_negligible() -> None:
    # the t-based TOST on differences of differences that are all 0 called this "negligible"
    table = _with_h(synthetic_runs(np.random.default_rng(7), 20)).assign(war=False)
    result = compare(
        table, "f", ["war"], secondary=[], interaction="h", resampling=Resampling(n_boot=199)
    )
    assert result.interaction is not None
    war = _row(result.interaction.contrasts, "war")
    assert war["p_equivalence"] > 0.05
    assert result.interaction.verdict == "inconclusive"
    assert "sign-flip" in war["method"]  # paired across both factors: the permutation test
    assert war["p_value"] == 1.0
    assert war["ci_method"] == "MOVER-Clopper-Pearson"


@pytest.mark.slow  # a few thousand simulated null comparisons: a statistical calibration
def test_stratified_and_interaction_methods_hold_their_level_for_war_rates_up_to_30_percent() -> (
    None
):
    rng = np.random.default_rng(11)
    reps = 400
    figures = [
        stratified_main(rng, (0.05, 0.3), 25, reps),
        stratified_main(rng, (0.2, 0.3), 10, reps),
        interaction_unmatched(rng, (0.3, 0.3, 0.3, 0.3), 10, reps),
        interaction_unmatched(rng, (0.05, 0.15, 0.1, 0.2), 25, reps),
        interaction_paired(rng, (0.1, 0.1, 0.3, 0.3), 40, reps),
    ]
    for fig in figures:
        # 5% plus about two standard errors of a share from 400 draws
        assert fig.false_changes <= 0.07, fig
        assert fig.coverage >= 0.93, fig
        assert fig.false_equivalence <= 0.07, fig
