"""Pooled reaction estimation across the runs of one condition: known answers, identification,
war losses as shocks, the contrast between conditions, and (slow) calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation import score
from dilemma.evaluation.reaction_pooled import (
    REACTION,
    compare_reaction,
    pooled_reaction,
    reaction_contrasts,
    reaction_rows,
)
from dilemma.evaluation.reaction_sim import TRUE_K, pair_rows, simulate, simulated_rows
from dilemma.evaluation.richardson import INSUFFICIENT, NOT_DETECTED
from dilemma.scenarios.library import load_builtin
from scipy import stats

from dilemma.api.analysis import pooled_reactions
from dilemma.simulation.runner import RunConfig, run_scenario


@pytest.mark.parametrize("kind", ["stable", "explosive"])
def test_known_reaction_is_recovered_within_its_interval(kind: str) -> None:
    levels = simulate(kind, runs=20, rounds=8, rng=np.random.default_rng(5))
    fit = pooled_reaction(simulated_rows(levels))
    assert fit["identified"] and fit["verdict"] == REACTION
    assert fit["ci_low"] <= TRUE_K[kind] <= fit["ci_high"], fit
    assert fit["n_runs"] == 20 and fit["n_equations"] == 40 and fit["n_obs"] == 320


def test_interval_and_test_use_the_wild_bootstrap() -> None:
    """20 runs of unequal leverage: the Bell-McCaffrey dof lie well below G - 1 = 19 (p_k_bm,
    the analytic test, uses them); p_k and k_mde use the bootstrap's critical |t| under k = 0,
    the interval inverts the bootstrap test (the k0 it does not reject), so it excludes 0
    when p_k < 0.05."""
    levels = simulate("random", runs=20, rounds=8, rng=np.random.default_rng(8))
    fit = pooled_reaction(simulated_rows(levels))
    assert 2 < fit["dof_k"] < 19 and 2 < fit["dof_fatigue"] < 19
    t = fit["k"] / fit["se_k"]
    assert fit["p_k_bm"] == pytest.approx(2 * stats.t.sf(abs(t), fit["dof_k"]))
    assert 1.5 < fit["crit_k"] < 3.5
    assert fit["ci_low"] < fit["k"] < fit["ci_high"]
    half = (fit["ci_high"] - fit["ci_low"]) / 2
    assert 0.5 < half / (fit["crit_k"] * fit["se_k"]) < 2.0
    assert (fit["ci_low"] > 0 or fit["ci_high"] < 0) == (fit["p_k"] < 0.05)
    assert (fit["p_k"] < 0.05) == (abs(t) > fit["crit_k"])
    power = stats.t.ppf(0.8, fit["dof_k"])
    assert fit["k_mde"] == pytest.approx((fit["crit_k"] + power) * fit["se_k"])


def test_same_generator_seed_gives_the_same_p() -> None:
    rows = simulated_rows(simulate("random", 20, 8, np.random.default_rng(9)))
    fits = [pooled_reaction(rows, rng=np.random.default_rng(s)) for s in (1, 1, 2)]
    assert fits[0]["p_k"] == fits[1]["p_k"] and fits[0]["ci_low"] == fits[1]["ci_low"]
    assert fits[0]["k"] == fits[2]["k"]
    assert pooled_reaction(rows)["p_k"] == pooled_reaction(rows)["p_k"]


def test_independent_random_arming_shows_no_reaction() -> None:
    levels = simulate("random", runs=20, rounds=8, rng=np.random.default_rng(3))
    fit = pooled_reaction(simulated_rows(levels))
    assert fit["identified"]
    assert fit["verdict"] == NOT_DETECTED
    assert fit["ci_low"] < 0.0 < fit["ci_high"]
    assert fit["k_mde"] > 0


def test_runs_in_lockstep_are_not_identified() -> None:
    """Both sides at one fixed rate in every run: nothing varies once run effects are removed."""
    rounds, runs = 8, 10
    levels = np.empty((2, runs, rounds + 1))
    levels[:, :, 0] = [[100.0], [80.0]]
    for t in range(rounds):
        levels[:, :, t + 1] = levels[:, :, t] * 1.10
    fit = pooled_reaction(simulated_rows(levels))
    assert fit["verdict"] == INSUFFICIENT and not fit["identified"]
    assert np.isnan(fit["k"])


def test_too_few_runs_are_insufficient() -> None:
    levels = simulate("stable", runs=2, rounds=8, rng=np.random.default_rng(1))
    assert pooled_reaction(simulated_rows(levels))["verdict"] == INSUFFICIENT


def test_war_losses_are_shocks_in_the_pooled_rows() -> None:
    """A war destroys 30 of x's arms in round 4 of run r0: its change there is the decided one."""
    levels = simulate("random", runs=4, rounds=8, rng=np.random.default_rng(2))
    p = pair_rows(levels)
    hit = (p["run_id"] == "r0") & (p["i"] == "x") & (p["round"] == 4)
    p.loc[hit, "arms_after_i"] -= 30.0
    wars = pd.DataFrame({"run_id": ["r0"], "round": [4], "initiator": ["y"], "target": ["x"]})
    rows = reaction_rows(p, wars).set_index(["run_id", "i", "round"])
    clean = reaction_rows(pair_rows(levels)).set_index(["run_id", "i", "round"])
    assert rows.loc[("r0", "x", 4), "d_own"] == pytest.approx(clean.loc[("r0", "x", 4), "d_own"])
    ignored = reaction_rows(p).set_index(["run_id", "i", "round"])
    assert ignored.loc[("r0", "x", 4), "d_own"] != pytest.approx(clean.loc[("r0", "x", 4), "d_own"])


def _two_conditions(k_b: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    a = simulated_rows(simulate("stable", 20, 8, rng), prefix="a")
    b = simulated_rows(simulate(k_b, 20, 8, rng), prefix="b")
    runs = pd.DataFrame(
        {
            "run_id": [f"a{n}" for n in range(20)] + [f"b{n}" for n in range(20)],
            "policy": ["low"] * 20 + ["high"] * 20,
        }
    )
    return pd.concat([a, b], ignore_index=True), runs


def test_contrast_of_k_between_conditions() -> None:
    rows, runs = _two_conditions("explosive", seed=11)
    pair = reaction_contrasts(rows, runs, "policy").iloc[0]
    assert (pair["level_a"], pair["level_b"]) == ("high", "low")
    true_diff = TRUE_K["explosive"] - TRUE_K["stable"]
    assert pair["ci_low"] <= true_diff <= pair["ci_high"]
    assert pair["p_value"] < 0.05
    prefix = {"high": "b", "low": "a"}
    fits = {lv: pooled_reaction(rows[rows["run_id"].str.startswith(p)]) for lv, p in prefix.items()}
    assert pair["diff"] == pytest.approx(fits["high"]["k"] - fits["low"]["k"])
    # clusters nested in cells: independent estimates, variances add; Welch-Satterthwaite dof
    var = [f["se_k"] ** 2 for f in fits.values()]
    assert pair["se"] == pytest.approx(np.sqrt(sum(var)))
    dof = sum(var) ** 2 / sum(v**2 / f["dof_k"] for v, f in zip(var, fits.values(), strict=True))
    assert pair["dof"] == pytest.approx(dof)
    assert min(f["dof_k"] for f in fits.values()) <= pair["dof"] <= 38
    welch = 2 * stats.t.sf(abs(pair["diff"]) / pair["se"], dof)
    assert pair["p_welch"] == pytest.approx(welch)
    # the bootstrap p: the smallest the 999 draws allow when no draw reaches the data's |t|
    assert pair["p_value"] < 0.01


def _small_design(kind_a: str, kind_b: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """4 runs of system `kind_a` at level "a", 4 of `kind_b` at level "b"."""
    rng = np.random.default_rng(seed)
    rows = pd.concat(
        [
            simulated_rows(simulate(kind, 4, 8, rng), prefix=lv)
            for lv, kind in (("a", kind_a), ("b", kind_b))
        ],
        ignore_index=True,
    )
    runs = pd.DataFrame(
        {"run_id": [f"{lv}{n}" for lv in "ab" for n in range(4)], "c": [*"aaaabbbb"]}
    )
    return rows, runs


@pytest.mark.parametrize("seed", [3, 4])
def test_contrast_counts_every_relabelling_when_there_are_few(seed: int) -> None:
    """4 runs a level: 70 ways to deal the labels, all counted. Level b's runs answer their
    rival 0.5 less than a's (d_own - 0.5 * rival): the data's own split is the most extreme
    of the 70, and with levels of equal size its mirror (every label swapped) has the same
    |t|, so p is exactly 2/70, not a random draw."""
    rows, runs = _small_design("stable", "stable", seed=seed)
    in_b = rows["run_id"].str.startswith("b")
    rows.loc[in_b, "d_own"] -= 0.5 * rows.loc[in_b, "rival"]
    pair = reaction_contrasts(rows, runs, "c").iloc[0]
    assert pair["p_exact"] and pair["p_relabel"] == pytest.approx(2 / 70)
    # a difference is called only when the wild bootstrap rejects too
    assert pair["p_value"] == max(pair["p_relabel"], pair["p_boot"]) == pytest.approx(2 / 70)
    assert pair["diff"] > 0.3 and pair["ci_low"] > 0.0
    # the same data with the levels named the other way round: the same test
    renamed = reaction_contrasts(rows, runs.assign(c=runs["c"].map({"a": "z", "b": "b"})), "c")
    assert renamed["p_value"].iloc[0] == pytest.approx(pair["p_value"])
    assert renamed["diff"].iloc[0] == pytest.approx(-pair["diff"])


def test_contrast_p_is_a_share_of_relabellings() -> None:
    """Two never-reacting levels: p is some count of the 70 relabellings over 70 (at least
    the data's own and its mirror), whatever the seed of the draws."""
    rows, runs = _small_design("random", "fixed", seed=8)
    ps = {
        reaction_contrasts(rows, runs, "c", rng=np.random.default_rng(s))["p_relabel"].iloc[0]
        for s in (1, 2)
    }
    (p,) = ps
    assert 2 / 70 <= p <= 1.0 and round(p * 70) == pytest.approx(p * 70)


def test_contrast_refuses_a_run_in_both_cells() -> None:
    rows, runs = _small_design("random", "random", seed=2)
    rows = pd.concat([rows, rows[rows["run_id"] == "a0"].assign(run_id="b0")], ignore_index=True)
    rows = rows.drop_duplicates(["run_id", "i", "j", "round"], keep="last")
    runs = pd.concat([runs, pd.DataFrame({"run_id": ["a0"], "c": ["b"]})], ignore_index=True)
    with pytest.raises(ValueError, match="both cells"):
        reaction_contrasts(rows, runs, "c")


def test_contrast_with_the_same_seed_gives_the_same_p() -> None:
    rows, runs = _two_conditions("stable", seed=13)
    cells = [compare_reaction(rows, runs, "policy", seed=s) for s in (5, 5, 6)]
    assert cells[0][1].equals(cells[1][1]) and cells[0][0].equals(cells[1][0])
    assert cells[0][1]["diff"].iloc[0] == cells[2][1]["diff"].iloc[0]


def test_contrast_of_equal_systems_is_not_significant() -> None:
    rows, runs = _two_conditions("stable", seed=12)
    pair = reaction_contrasts(rows, runs, "policy").iloc[0]
    assert pair["ci_low"] < 0.0 < pair["ci_high"] and pair["p_value"] > 0.05


def test_contrast_never_pools_over_strata() -> None:
    """Levels compared within each stratum: a stratum effect on k does not enter the contrast."""
    rng = np.random.default_rng(4)
    parts, labels = [], []
    for stratum, kind in (("s1", "stable"), ("s2", "explosive")):
        for level in ("a", "b"):
            prefix = f"{stratum}{level}"
            parts.append(simulated_rows(simulate(kind, 12, 8, rng), prefix=prefix))
            labels += [(f"{prefix}{n}", level, stratum) for n in range(12)]
    rows = pd.concat(parts, ignore_index=True)
    runs = pd.DataFrame(labels, columns=["run_id", "policy", "scenario"])
    pair = reaction_contrasts(rows, runs, "policy", ["scenario"]).iloc[0]
    assert pair["strata"] == 2
    assert pair["ci_low"] < 0.0 < pair["ci_high"]


@pytest.mark.parametrize("name", ["two-rivals", "triad"])
async def test_hawk_against_hawk_pooled_is_insufficient(tmp_path: Path, name: str) -> None:
    base = load_builtin(name)
    scenario = base.model_copy(update={"rules": base.rules.model_copy(update={"rounds": 8})})
    for seed in (1, 2, 3, 4):
        await run_scenario(
            scenario,
            RunConfig(seed=seed, out_dir=tmp_path / str(seed)),
            default_model="scripted:hawk",
        )
    table = pooled_reactions(score(tmp_path), "scenario")
    assert len(table) == 1
    assert table["n_runs"].iloc[0] == 4
    assert table["verdict"].tolist() == [INSUFFICIENT]


@pytest.mark.slow  # 400 simulated conditions per system: a statistical calibration
@pytest.mark.parametrize("kind", ["stable", "explosive", "random", "fixed", "fixed_sides"])
def test_pooled_coverage_and_null_rate(kind: str) -> None:
    """20 runs x 8 rounds per condition: 95% intervals cover the true k 93-97% of the time and,
    under no reaction (independent random arming, fixed rates with noise), a significant k is
    called in at most 5% of conditions, both up to Monte Carlo error (binomial interval; for the
    null rate a one-sided binomial test at 5% that it exceeds 5%); the reactive systems are
    detected in over 99%."""
    sims = 400
    seeds = {"stable": 1, "explosive": 2, "random": 3, "fixed": 4, "fixed_sides": 5}
    rng = np.random.default_rng(seeds[kind])
    true_k = TRUE_K.get(kind, 0.0)
    covered = rejected = 0
    for _ in range(sims):
        fit = pooled_reaction(simulated_rows(simulate(kind, 20, 8, rng)))
        assert fit["identified"]
        covered += fit["ci_low"] <= true_k <= fit["ci_high"]
        rejected += fit["p_k"] < 0.05
    print(f"{kind}: coverage {covered / sims:.3f}, significant k {rejected / sims:.3f}")
    # 93-97% up to Monte Carlo error: the Clopper-Pearson 95% interval of the coverage meets
    # [0.93, 0.97] (the bootstrap's inverted interval covers the explosive system's k in about
    # 96.4%, near the upper limit: 97.8% of these 400 conditions, 96.4% of the benchmark's 1,000)
    ci = stats.binomtest(covered, sims).proportion_ci()
    assert ci.low <= 0.97 and ci.high >= 0.93, (covered / sims, ci)
    if kind in TRUE_K:
        assert rejected / sims > 0.99
    else:
        assert stats.binomtest(rejected, sims, 0.05, alternative="greater").pvalue > 0.05


@pytest.mark.slow  # 1,000 simulated conditions: a statistical calibration
def test_random_arming_null_rate_at_most_five_percent() -> None:
    """Independent random arming, 1,000 pools of 20 runs x 8 rounds: the bootstrap test calls
    a significant k in at most 5% (the point estimate, not just up to Monte Carlo error), where
    the analytic CR2 test with Bell-McCaffrey df it replaced (p_k_bm, on the same pools) called
    6-7% in the benchmark and fails this test."""
    rng = np.random.default_rng(20)
    sims = 1000
    rejected = rejected_bm = 0
    for _ in range(sims):
        fit = pooled_reaction(simulated_rows(simulate("random", 20, 8, rng)), rng=rng)
        rejected += fit["p_k"] < 0.05
        rejected_bm += fit["p_k_bm"] < 0.05
    print(f"random arming: bootstrap {rejected / sims:.3f}, CR2 BM df {rejected_bm / sims:.3f}")
    assert rejected / sims <= 0.05
    assert rejected < rejected_bm


@pytest.mark.slow  # 800 simulated conditions and 400 relabelling tests: a calibration
@pytest.mark.parametrize("kinds", [("fixed", "fixed"), ("random", "random"), ("random", "fixed")])
def test_contrast_null_rate(kinds: tuple[str, str]) -> None:
    """compare --reaction's test of the difference of k between two conditions with the same
    k (0), over 200 comparisons: p < 0.05 in at most 5% up to Monte Carlo error (one-sided
    binomial test at 5%): two conditions of fixed rates with noise, two of independent random
    arming (where the wild bootstrap alone called 5.7% of 1,000 and the Welch t 7.0% of 500),
    and random arming against fixed rates (same k, other dynamics: the relabelling test alone
    called 7.5% of 400)."""
    rng = np.random.default_rng({"fixed": 6, "random": 7}[kinds[0]] + 10 * (kinds[0] != kinds[1]))
    runs = pd.DataFrame(
        {"run_id": [f"{c}{n}" for c in "ab" for n in range(20)], "c": ["a"] * 20 + ["b"] * 20}
    )
    rejected = 0
    for _ in range(200):
        rows = pd.concat(
            [
                simulated_rows(simulate(kind, 20, 8, rng), prefix=c)
                for c, kind in zip("ab", kinds, strict=True)
            ],
            ignore_index=True,
        )
        rejected += reaction_contrasts(rows, runs, "c", rng=rng)["p_value"].iloc[0] < 0.05
    print(f"contrast under the null ({' vs '.join(kinds)}): p < 0.05 in {rejected / 200:.3f}")
    assert stats.binomtest(rejected, 200, 0.05, alternative="greater").pvalue > 0.05
