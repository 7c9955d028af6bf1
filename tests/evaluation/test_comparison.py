"""Comparison statistics on synthetic run tables with a known truth (no engine runs)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.comparison import CompareError, Resampling, compare, hedges_g
from dilemma.evaluation.inference import N_FIRST, N_PERMUTATIONS, mean_intervals
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from tests.helpers.run_tables import synthetic_runs

PRIMARY = ["escalation_index", "mean_threat", "mean_growth_pct", "war"]
FAST_BOOT = 199  # the verdict does not use intervals; keep the loops quick


def verdicts(tables: list[pd.DataFrame]) -> list[str]:
    """The verdict on each table (primary measures only), each with its own seed."""
    return [
        compare(
            t,
            "f",
            secondary=[],
            seed=i,
            resampling=Resampling(n_boot=FAST_BOOT),
        ).verdict
        for i, t in enumerate(tables)
    ]


@pytest.mark.slow  # 100-200 simulated null experiments: a statistical calibration
def test_calibration_under_the_null() -> None:
    # 200 experiments with no effect, 2 cells x 5 seeds per level, matched seeds
    rng = np.random.default_rng(20240601)
    tables = [synthetic_runs(rng, 5) for _ in range(200)]
    found = verdicts(tables)
    assert found.count("changes") <= 16  # at most 8% at alpha 0.05 (Holm over 4 measures)
    assert set(found) <= {"changes", "equivalent", "inconclusive"}


@pytest.mark.slow  # 100-200 simulated null experiments: a statistical calibration
def test_calibration_under_the_null_without_matching() -> None:
    # unmatched seeds across two cells: stratified least squares instead of pairing
    rng = np.random.default_rng(7)
    tables = [synthetic_runs(rng, 4, matched=False) for _ in range(100)]
    assert (
        compare(tables[0], "f", resampling=Resampling(n_boot=FAST_BOOT))
        .pairs["design"]
        .eq("stratified")
        .all()
    )
    found = verdicts(tables)
    assert found.count("changes") <= 8


def test_a_large_effect_at_five_seeds_is_never_equivalent() -> None:
    rng = np.random.default_rng(3)
    for i in range(20):
        result = compare(
            synthetic_runs(rng, 5, effect=2.0, cells=("g1",)),
            "f",
            seed=i,
            resampling=Resampling(n_boot=FAST_BOOT),
        )
        assert result.verdict in ("changes", "inconclusive")
        primary = result.pairs[result.pairs["family"] == "primary"]
        if result.verdict == "inconclusive":
            # 5 pairs: the smallest sign-flip p is 2/32 > 0.05 - nothing is detectable, and
            # the summary says so instead of claiming no change
            assert "minimum detectable effect" in result.summary
            assert primary["mde"].notna().all() and np.isinf(primary["mde"]).all()
            assert (primary["seeds_needed"] > 5).all()


def test_a_large_effect_at_twenty_seeds_changes() -> None:
    rng = np.random.default_rng(4)
    for i in range(5):
        result = compare(
            synthetic_runs(rng, 20, effect=2.0, cells=("g1",)),
            "f",
            seed=i,
            resampling=Resampling(n_boot=FAST_BOOT),
        )
        assert result.verdict == "changes", result.summary
        assert "changes behaviour" in result.summary


def test_a_moderate_effect_reports_a_finite_mde_and_seeds_needed() -> None:
    rng = np.random.default_rng(5)
    result = compare(
        synthetic_runs(rng, 6, effect=0.3),
        "f",
        resampling=Resampling(n_boot=FAST_BOOT),
    )
    primary = result.pairs[result.pairs["family"] == "primary"]
    assert (primary["design"] == "paired").all() and (primary["n_pairs"] == 12).all()
    if result.verdict == "inconclusive":
        assert np.isfinite(primary["mde"]).all() and (primary["mde"] > 0).all()
        assert (primary["seeds_needed"] >= 6).all()
        assert "seeds per cell" in result.summary


def test_identical_levels_are_equivalent() -> None:
    rng = np.random.default_rng(6)
    table = synthetic_runs(rng, 5)
    b = table[table["f"] == "b"]
    twin = pd.concat([b.assign(f="a"), b])  # level a is level b run for run
    # war is binary: its exact equivalence test needs far more than 10 runs per level (see
    # tests/evaluation/test_binary.py), so the continuous primary measures decide here
    continuous = ["escalation_index", "mean_threat", "mean_growth_pct"]
    result = compare(twin, "f", continuous, resampling=Resampling(n_boot=FAST_BOOT))
    assert result.verdict == "equivalent", result.summary
    pairs = result.pairs
    assert (pairs["diff"] == 0).all() and (pairs["p_value"] == 1).all()
    assert (pairs["ci_method"] == "t").all()  # constant differences: BCa is degenerate
    assert (pairs["ci_low"] == 0).all() and (pairs["ci_high"] == 0).all()
    assert "does not" not in result.summary


def _brute_p(null: np.ndarray, observed: float) -> float:
    eps = 1e-9 * max(1.0, abs(observed))
    less = float(np.mean(null <= observed + eps))
    greater = float(np.mean(null >= observed - eps))
    return min(1.0, 2 * min(less, greater))


def _paired_brute(d: np.ndarray) -> float:
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
    return _brute_p((signs * d).mean(axis=1), float(d.mean()))


def _independent_brute(a: np.ndarray, b: np.ndarray) -> float:
    pooled = np.concatenate([a, b])
    null = []
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), dtype=bool)
        mask[list(chosen)] = True
        null.append(pooled[mask].mean() - pooled[~mask].mean())
    return _brute_p(np.array(null), float(a.mean() - b.mean()))


def one_measure(a: np.ndarray, b: np.ndarray, *, matched: bool) -> pd.DataFrame:
    seeds_b = np.arange(len(b)) if matched else np.arange(len(b)) + 100
    return pd.DataFrame(
        {
            "f": ["a"] * len(a) + ["b"] * len(b),
            "seed": np.r_[np.arange(len(a)), seeds_b],
            "x": np.r_[a, b],
        }
    )


def test_exact_p_values_match_brute_force_on_a_small_table() -> None:
    a = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    b = np.array([2.0, 6.0, 5.0, 3.0, 5.0, 8.0])
    paired = compare(one_measure(a, b, matched=True), "f", ["x"], margins={"x": 1.0}).pairs
    assert paired.loc[0, "design"] == "paired" and bool(paired.loc[0, "p_exact"])
    assert paired.loc[0, "p_value"] == pytest.approx(_paired_brute(a - b), rel=1e-12)
    unpaired = compare(one_measure(a, b[:5], matched=False), "f", ["x"], margins={"x": 1.0})
    row = unpaired.pairs.iloc[0]
    assert row["design"] == "independent" and bool(row["p_exact"])
    assert row["p_value"] == pytest.approx(_independent_brute(a, b[:5]), rel=1e-12)


values = st.lists(st.integers(0, 6), min_size=3, max_size=6)


@settings(max_examples=25, deadline=None)
@given(a=values, b=values, matched=st.booleans())
def test_exact_p_values_match_brute_force_with_ties(
    a: list[int], b: list[int], matched: bool
) -> None:
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    if matched:
        y = np.resize(y, len(x))
    row = compare(one_measure(x, y, matched=matched), "f", ["x"], margins={"x": 1.0}).pairs
    expected = _paired_brute(x - y) if matched else _independent_brute(x, y)
    assert bool(row.loc[0, "p_exact"])
    assert row.loc[0, "p_value"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow  # ten Monte Carlo comparisons of one table: a statistical calibration
def test_monte_carlo_verdict_is_stable_across_seeds() -> None:
    # 2 cells x 25 seeds = 50 pairs: beyond the exact limit, so p-values are Monte Carlo; here
    # a Holm p lands near its step, where the decision is made
    table = synthetic_runs(np.random.default_rng(14), 25, effect=0.3)
    results = [
        compare(
            table,
            "f",
            secondary=[],
            seed=s,
            resampling=Resampling(n_boot=FAST_BOOT),
        )
        for s in range(10)
    ]
    assert {r.verdict for r in results} == {"changes"}
    first = results[0].pairs.set_index("measure")
    continuous = first.drop(index="war")  # war is binary: an exact McNemar test
    assert not continuous["p_exact"].any() and (continuous["p_mc_se"] > 0).all()
    # refined where a Holm step is near: more than the first batch, far below the cap
    assert (continuous["n_resamples"] > N_FIRST).any()
    assert (continuous["n_resamples"] < N_PERMUTATIONS).all()
    for r in results[1:]:
        p = r.pairs.set_index("measure")["p_value"]
        assert (abs(p - first["p_value"]) <= 5 * first["p_mc_se"] + 1e-3).all()


def test_holm_family_is_the_primary_measures_only() -> None:
    rng = np.random.default_rng(12)
    table = synthetic_runs(rng, 10, secondary_effect=3.0, quality_gap=0.2)
    result = compare(table, "f", resampling=Resampling(n_boot=FAST_BOOT))
    pairs = result.pairs
    primary = pairs[pairs["family"] == "primary"]
    expected = multipletests(primary["p_value"], method="holm")[1]
    assert np.allclose(primary["p_holm"], expected)
    secondary = pairs[pairs["family"] == "secondary"]
    assert len(secondary) == 6 and secondary["significant"].all()
    # a secondary or data-quality difference never makes the verdict
    assert result.verdict != "changes" or primary["significant"].any()
    assert any("fallback_rate" in w and "biased" in w for w in result.warnings)
    assert "fallback_rate" not in set(primary["measure"])


def test_unmatched_runs_are_stratified_not_pooled() -> None:
    # level a is mostly in cell g2, which adds 10 to the measure; the true effect is +1
    rows = []
    rng = np.random.default_rng(13)
    for cell, offset, n_a, n_b in (("g1", 0.0, 3, 12), ("g2", 10.0, 12, 3)):
        for level, n in (("a", n_a), ("b", n_b)):
            for i in range(n):
                value = offset + (1.0 if level == "a" else 0.0) + rng.normal(0, 0.3)
                rows.append({"f": level, "g": cell, "seed": 1000 * (level == "b") + i, "x": value})
    table = pd.DataFrame(rows)
    result = compare(
        table,
        "f",
        ["x"],
        margins={"x": 0.5},
        resampling=Resampling(n_boot=FAST_BOOT),
    )
    row = result.pairs.iloc[0]
    assert row["design"] == "stratified" and not row["p_exact"]
    assert row["diff"] == pytest.approx(1.0, abs=0.3)
    pooled = table[table.f == "a"]["x"].mean() - table[table.f == "b"]["x"].mean()
    assert pooled > 4  # what pooling would have reported
    # the other factor can be pinned with --where instead: then nothing else varies
    only_g2 = compare(
        table[table.g == "g2"],
        "f",
        ["x"],
        margins={"x": 0.5},
        resampling=Resampling(n_boot=FAST_BOOT),
    )
    assert only_g2.pairs.iloc[0]["design"] == "independent"


def test_matched_seeds_are_paired_within_the_other_factor() -> None:
    rng = np.random.default_rng(14)
    result = compare(synthetic_runs(rng, 4), "f", resampling=Resampling(n_boot=FAST_BOOT))
    assert (result.pairs["design"] == "paired").all()
    assert (result.pairs["n_pairs"] == 8).all()
    assert "paired by seed within g" in result.summary


def test_interaction_is_a_difference_of_differences() -> None:
    rng = np.random.default_rng(15)
    table = synthetic_runs(rng, 12, interaction=2.5)  # level a shifted in cell g1 only
    result = compare(table, "f", interaction="g", resampling=Resampling(n_boot=FAST_BOOT))
    assert result.interaction is not None
    inter = result.interaction.contrasts.set_index("measure")
    assert inter.loc["mean_threat", "design"] == "paired"
    assert inter.loc["mean_threat", "diff"] == pytest.approx(2.5, abs=1.0)
    assert (inter.loc[["mean_threat"], "ci_low"] > 0).all()
    assert result.interaction.verdict == "changes"
    # by hand: (a - b in g1) - (a - b in g2)
    means = table.groupby(["g", "f"])["escalation_index"].mean()
    by_hand = (means["g1", "a"] - means["g1", "b"]) - (means["g2", "a"] - means["g2", "b"])
    assert inter.loc["escalation_index", "diff"] == pytest.approx(by_hand)
    no_inter = compare(
        synthetic_runs(rng, 12, effect=1.0),
        "f",
        interaction="g",
        resampling=Resampling(n_boot=FAST_BOOT),
    )
    assert no_inter.interaction is not None and no_inter.interaction.verdict != "changes"


def test_intervals_cover_the_known_mean() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(5.0, 2.0, (40, 40))  # 40 samples of 40 runs, one row each
    found = mean_intervals(samples, rng, n_boot=999)
    assert {how for *_, how in found} == {"BCa"}
    covered = sum(lo <= 5.0 <= hi for _, lo, hi, _, _ in found)
    assert covered >= 34  # nominal 95%: 38 of 40 expected, allow sampling error


def test_hedges_g_matches_hand_computation() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0])
    pooled_sd = np.sqrt((3 * a.var(ddof=1) + 3 * b.var(ddof=1)) / 6)
    expected = (a.mean() - b.mean()) / pooled_sd * (1 - 3 / (4 * 8 - 9))
    assert hedges_g(a, b) == expected


def test_bad_requests_are_clear_errors() -> None:
    table = synthetic_runs(np.random.default_rng(1), 3)
    with pytest.raises(CompareError, match="'colour': not a factor of these runs; factors: f, g"):
        compare(table, "colour")
    with pytest.raises(CompareError, match="no equivalence margin for primary measure"):
        compare(table, "f", ["spiral_rounds"])
    with pytest.raises(CompareError, match="no measure nonsense"):
        compare(table, "f", ["nonsense"], margins={"nonsense": 1.0})
    with pytest.raises(CompareError, match="--interaction"):
        compare(table, "f", interaction="f")


def test_one_level_is_nothing_to_compare() -> None:
    table = synthetic_runs(np.random.default_rng(2), 3)
    result = compare(table[table.f == "a"], "f", resampling=Resampling(n_boot=FAST_BOOT))
    assert result.verdict == "inconclusive" and "fewer than two levels" in result.summary
    assert math.isnan(result.levels["mean"].iloc[0]) is False


@pytest.mark.parametrize("matched", [True, False])
def test_one_run_per_level_is_inconclusive_not_a_crash(matched: bool) -> None:
    # a sweep where every other run failed leaves one scored run per level: no test exists
    table = synthetic_runs(np.random.default_rng(4), 1, effect=3.0, cells=("g1",), matched=matched)
    result = compare(table, "f", resampling=Resampling(n_boot=FAST_BOOT))
    assert result.verdict == "inconclusive"
    assert result.pairs["p_value"].isna().all()


def test_an_interaction_never_changes_how_the_main_effect_is_tested() -> None:
    # one 2x2 data set, seeds matched within g: the main effect of f is paired within g whether
    # or not the f x g interaction is asked for, with the same p-values and verdict
    table = synthetic_runs(np.random.default_rng(16), 10, effect=0.4)
    alone = compare(table, "f", seed=3, resampling=Resampling(n_boot=FAST_BOOT))
    both = compare(
        table,
        "f",
        interaction="g",
        seed=3,
        resampling=Resampling(n_boot=FAST_BOOT),
    )
    assert both.interaction is not None
    assert alone.designs == both.designs
    assert "paired by seed within g" in alone.designs[0]
    assert alone.verdict == both.verdict and alone.summary == both.summary
    pd.testing.assert_frame_equal(alone.pairs, both.pairs)
    pd.testing.assert_frame_equal(alone.levels, both.levels)
