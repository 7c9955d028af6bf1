"""Evaluator measures with known answers: Richardson dynamics, spirals, mutual arming and
saturation, misperception's zero, the escalation index, rule compliance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from dilemma.evaluation import score
from dilemma.evaluation.index import ARMS_REFERENCE_PCT, DEFAULT_WEIGHTS, add_index
from dilemma.evaluation.richardson import (
    INSUFFICIENT,
    NOT_DETECTED,
    RUNAWAY,
    STABLE,
    VERDICTS,
    array_fits,
    dynamics,
    spectral_radius,
)
from dilemma.evaluation.spirals import MUTUAL_ARMING_MIN_ROUNDS
from scipy import stats

from dilemma.cli.score_format import score_json, score_text
from dilemma.core.decision import Intent
from tests.helpers.records import Move, RecordBuilder, richardson_builder

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1"


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for col, value in where.items():
        mask &= frame[col] == value
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


# --- Richardson ----------------------------------------------------------------------------


def test_spectral_radius_matches_numpy_eigenvalues() -> None:
    m = np.random.default_rng(0).normal(size=(2000, 2, 2))  # real and complex pairs alike
    want = np.abs(np.linalg.eigvals(m)).max(axis=1)
    got = spectral_radius(m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _simulate(
    coef: tuple[float, ...], rounds: int, noise: float, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """n trajectories of dx = a*y - m*x + g + e, dy = b*x - n*y + h + e (pure numpy)."""
    a, m, g, b, nn, h = coef
    rng = np.random.default_rng(seed)
    x, y = np.empty((n, rounds + 1)), np.empty((n, rounds + 1))
    x[:, 0], y[:, 0] = 100.0, 20.0
    e = rng.normal(0.0, noise, (2, n, rounds))
    for t in range(rounds):
        x[:, t + 1] = x[:, t] + a * y[:, t] - m * x[:, t] + g + e[0, :, t]
        y[:, t + 1] = y[:, t] + b * x[:, t] - nn * y[:, t] + h + e[1, :, t]
    return x, y


def _fits(x: np.ndarray, y: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    return array_fits(x, y)


@pytest.mark.parametrize(
    ("name", "coef"),
    [
        (STABLE, (0.10, 0.30, 5.0, 0.20, 0.25, 3.0)),  # rho = 0.869
        (RUNAWAY, (0.20, 0.05, 1.0, 0.15, 0.05, 1.0)),  # rho = 1.123
    ],
)
def test_richardson_intervals_cover_the_true_system(name: str, coef: tuple[float, ...]) -> None:
    a, m, g, b, n, h = coef
    x, y = _simulate(coef, rounds=30, noise=1.0, n=400, seed=11)
    fx, fy = _fits(x, y)
    dyn = dynamics(fx, fy)
    q = stats.t.ppf(0.975, fx["dof"])
    for fit, col, true in (
        (fx, "reaction", a),
        (fx, "fatigue", m),
        (fx, "grievance", g),
        (fy, "reaction", b),
        (fy, "fatigue", n),
        (fy, "grievance", h),
    ):
        covered = (fit[col] - true).abs() <= q * fit[f"se_{col}"]
        assert covered.mean() >= 0.90, (col, covered.mean())
    rho = float(spectral_radius(*(np.array(v) for v in (1 - m, a, b, 1 - n))))
    assert (rho < 1) == (name == STABLE)
    inside = (dyn["rho_lo"] <= rho) & (rho <= dyn["rho_hi"])
    assert inside.mean() >= 0.90, inside.mean()
    # the growth-rate reaction test has little power once a stable system has converged, so
    # many dyads are reaction_not_detected; a detected reaction gets the right verdict
    detected = dyn["verdict"] != NOT_DETECTED
    assert detected.any()
    assert (dyn.loc[detected, "verdict"] == name).mean() >= 0.90
    opposite = RUNAWAY if name == STABLE else STABLE
    assert not (dyn["verdict"] == opposite).any()


def _fixed_rates(noise: float, rounds: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two states growing +3% and +10% a round, never reacting; arms rounded like records."""
    rng = np.random.default_rng(seed)
    x, y = np.empty((n, rounds + 1)), np.empty((n, rounds + 1))
    x[:, 0], y[:, 0] = 100.0, 60.0
    for t in range(rounds):
        x[:, t + 1] = np.round(x[:, t] * (1.03 + rng.normal(0, noise, n)), 6)
        y[:, t + 1] = np.round(y[:, t] * (1.10 + rng.normal(0, noise, n)), 6)
    return x, y


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.03, 0.05])
def test_self_excited_growth_without_reaction_is_never_stable(noise: float) -> None:
    x, y = _fixed_rates(noise, rounds=20, n=300, seed=5)
    dyn = dynamics(*_fits(x, y))
    assert not (dyn["verdict"] == STABLE).any()
    if noise == 0.0:  # exact fixed rates: no reaction at all, rho = 1.10
        assert (dyn["verdict"] == INSUFFICIENT).all()  # constant growth: nothing to test
        assert dyn["rho"].to_numpy() == pytest.approx(1.10, abs=1e-6)


def test_fixed_percentage_policies_in_records_are_insufficient(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=12, secretive=frozenset({"A", "B"}))
    for _ in range(12):
        b.play({"A": Move(change=10), "B": Move(change=3)})  # a hawk at the cap, a slow armer
    d = score(b.write(tmp_path / "r.jsonl")).dyads.iloc[0]
    # constant growth on both sides: reaction and self-growth cannot be told apart
    assert d["rich_verdict"] == INSUFFICIENT
    assert math.isnan(d["rich_p_a"]) and math.isnan(d["rich_p_b"])
    assert d["rich_m"] == pytest.approx(-0.10, abs=1e-6)  # own growth, not a reaction
    assert d["rich_n"] == pytest.approx(-0.03, abs=1e-6)
    assert d["rich_rho"] == pytest.approx(1.10, abs=1e-6)


def test_richardson_fit_in_records_matches_statsmodels(tmp_path: Path) -> None:
    builder = richardson_builder((0.10, 0.30, 5.0, 0.20, 0.25, 3.0), rounds=25, noise=2.0, seed=3)
    s = score(builder.write(tmp_path / "r.jsonl"))
    d = s.dyads.iloc[0]
    sr = s.state_rounds
    x = sr[sr["state"] == "X"].sort_values("round")
    y = sr[sr["state"] == "Y"].sort_values("round")
    design = sm.add_constant(
        np.column_stack([y["arms_before"].to_numpy(), x["arms_before"].to_numpy()])
    )
    ref = sm.OLS((x["arms_after"] - x["arms_before"]).to_numpy(), design).fit()
    assert d["rich_g"] == pytest.approx(ref.params[0], rel=1e-8)
    assert d["rich_a"] == pytest.approx(ref.params[1], rel=1e-8)
    assert d["rich_m"] == pytest.approx(-ref.params[2], rel=1e-8)
    assert d["rich_se_a"] == pytest.approx(ref.bse[1], rel=1e-8)
    assert d["rich_se_m"] == pytest.approx(ref.bse[2], rel=1e-8)
    assert d["rich_se_g"] == pytest.approx(ref.bse[0], rel=1e-8)
    growth = sm.OLS(
        x["growth_pct"].to_numpy()[1:],
        sm.add_constant(
            np.column_stack([y["growth_pct"].to_numpy()[:-1], x["growth_pct"].to_numpy()[:-1]])
        ),
    ).fit()
    assert d["rich_react_a"] == pytest.approx(growth.params[1], rel=1e-8)
    assert d["rich_p_a"] == pytest.approx(growth.pvalues[1], rel=1e-6)
    assert d["rich_se_react_a"] == pytest.approx(growth.bse[1], rel=1e-8)
    q = stats.t.ppf(0.975, growth.df_resid) + stats.t.ppf(0.80, growth.df_resid)
    assert d["rich_mde_a"] == pytest.approx(q * growth.bse[1], rel=1e-8)
    assert d["rich_rho_lo"] < d["rich_rho"] < d["rich_rho_hi"] < 1


# --- spirals, mutual arming, saturation --------------------------------------------------


def test_hawk_holding_threat_at_ten_beside_a_reactive_state_is_no_spiral(tmp_path: Path) -> None:
    b = RecordBuilder(["H", "R"], rounds=10, secretive=frozenset({"H", "R"}))
    for rnd in range(1, 11):
        b.play(
            {
                "H": Move(change=10, threat=10),  # unconditional hawk: pinned
                "R": Move(change=5, threat=min(10, rnd)),  # reacts: arms and fears more
            }
        )
    s = score(b.write(tmp_path / "r.jsonl"))
    d, run = s.dyads.iloc[0], s.runs.iloc[0]
    assert d["spiral_rounds"] == 0 and run["spiral_rounds"] == 0
    assert not s.pair_rounds.loc[s.pair_rounds["i"] == "H", "threat_up"].any()
    assert d["saturated_rounds"] == run["saturated_rounds"] == 10  # the hawk is pinned throughout
    # both arm every round and no threat view falls: sustained mutual arming from round 1
    assert d["mutual_arming_rounds"] == run["mutual_arming_rounds"] == 10


def test_two_reactive_states_arming_for_ten_rounds_count_mutual_arming(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=12, secretive=frozenset({"A", "B"}))
    for _ in range(10):
        b.play({"A": Move(change=4, threat=6), "B": Move(change=5, threat=6)})
    b.play({"A": Move(change=4, threat=5), "B": Move(change=5, threat=6)})  # A's view falls
    b.play({"A": Move(change=4, threat=5), "B": Move(change=5, threat=6)})
    s = score(b.write(tmp_path / "r.jsonl"))
    d, run = s.dyads.iloc[0], s.runs.iloc[0]
    assert d["spiral_rounds"] == 0  # threat held, never raised
    assert d["mutual_arming_rounds"] == run["mutual_arming_rounds"] == 10
    flags = s.dyad_rounds.set_index("round")["mutual_arming"]
    assert flags[1:10].all() and not flags[11] and not flags[12]  # 12 alone is shorter than k
    assert d["saturated_rounds"] == 0


def test_short_mutual_arming_does_not_count(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=7, secretive=frozenset({"A", "B"}))
    for rnd in range(1, 8):
        arm = rnd != 3  # a pause in round 3 splits 1-2 from 4-7
        b.play({"A": Move(change=3 if arm else 0), "B": Move(change=3)})
    d = score(b.write(tmp_path / "r.jsonl")).dyads.iloc[0]
    assert MUTUAL_ARMING_MIN_ROUNDS == 3
    assert d["mutual_arming_rounds"] == 4


# --- misperception has a zero -----------------------------------------------------------


def _static_world(path: Path, threat: dict[str, int], arms: dict[str, float]) -> Path:
    b = RecordBuilder(list(arms), arms=arms, rounds=3)
    for _ in range(3):
        b.play({s: Move(threat=threat[s]) for s in arms})  # status quo, defensive, no arming
    return b.write(path)


def test_calibrated_observer_of_a_static_peaceful_world_scores_zero(tmp_path: Path) -> None:
    s = score(_static_world(tmp_path / "r.jsonl", {"A": 3, "B": 8}, {"A": 100.0, "B": 100.0}))
    p = s.pair_rounds
    assert (p["hostility"] == 0).all() and (p["capability"] == 3.0).all()
    assert (p.loc[p["i"] == "A", "misperception"] == 0.0).all()  # reports 3 at parity
    assert (p.loc[p["i"] == "B", "misperception"] == 5.0).all()  # reports 8: overestimates
    assert _row(s.states, state="A")["mean_misperception"] == 0.0


def test_capability_follows_the_arms_the_observer_saw(tmp_path: Path) -> None:
    s = score(_static_world(tmp_path / "r.jsonl", {"A": 4, "B": 2}, {"A": 100.0, "B": 200.0}))
    p = s.pair_rounds
    # A sees B with twice its arms: C = 6 * 200 / 300 = 4; B sees A with half: C = 2
    assert _row(p, round=1, i="A")["capability"] == pytest.approx(4.0)
    assert _row(p, round=1, i="B")["capability"] == pytest.approx(2.0)
    assert p["misperception"].abs().max() == pytest.approx(0.0, abs=1e-12)
    b = RecordBuilder(["A", "B"], rounds=1, cap=10, secretive=frozenset({"B"}))
    b.play({"A": Move(threat=9), "B": Move(change=10, intent={"A": Intent.COERCIVE})})
    p = score(b.write(tmp_path / "s.jsonl")).pair_rounds
    a = _row(p, i="A")
    assert a["source"] == "intelligence_estimate"
    seen = a["seen_arms"]
    assert a["capability"] == pytest.approx(6 * seen / (seen + 100.0))  # the estimate, not 100
    hostility = (20 / 3 + 0 + 10) / 3  # coercive, status quo, arming at the cap
    warranted = a["capability"] + (10 - a["capability"]) * hostility / 10
    assert a["misperception"] == pytest.approx(9 - warranted)


# --- escalation index -------------------------------------------------------------------


def test_static_peaceful_world_scores_zero_and_war_lifts_by_half(tmp_path: Path) -> None:
    run = score(_static_world(tmp_path / "r.jsonl", {"A": 3, "B": 3}, {"A": 1.0, "B": 1.0}))
    peaceful = run.runs.iloc[0]
    assert peaceful["escalation_index"] == 0.0
    assert [peaceful[c] for c in ("idx_ladder", "idx_arms", "idx_threat", "idx_spiral")] == [0] * 4
    parts = pd.DataFrame(
        {
            "ladder_mean": [12.0, 12.0, 60.0],
            "mean_growth_pct": [4.0, 4.0, 30.0],
            "mean_implied_hostility": [5.0, 5.0, 10.0],
            "spiral_share": [0.2, 0.2, 1.0],
            "war": [False, True, False],
        }
    )
    out = add_index(parts)
    assert out["escalation_index"][1] - out["escalation_index"][0] == pytest.approx(50.0)
    assert out["escalation_index"][2] == pytest.approx(50.0)  # the most a run without war gets
    assert out["index_weights"][0] == "ladder=0.125,arms=0.125,threat=0.125,spiral=0.125,war=0.5"
    equal = add_index(parts.copy(), dict.fromkeys(DEFAULT_WEIGHTS, 1.0))
    assert equal["escalation_index"][0] == pytest.approx(100 * (0.2 + 0.4 + 0.5 + 0.2) / 5)
    with pytest.raises(ValueError, match="unknown"):
        add_index(parts.copy(), {"fear": 1.0})


def test_arms_part_does_not_depend_on_the_cap(tmp_path: Path) -> None:
    scores = []
    for cap in (10, 25):
        b = RecordBuilder(["A", "B"], rounds=4, cap=cap, run_id=f"cap{cap}")
        for _ in range(4):
            b.play({"A": Move(change=5), "B": Move(change=5)})
        scores.append(score(b.write(tmp_path / f"{cap}.jsonl")).runs.iloc[0])
    assert scores[0]["idx_arms"] == scores[1]["idx_arms"] == 5 / ARMS_REFERENCE_PCT


# --- rule compliance --------------------------------------------------------------------


def test_arming_37_percent_under_a_10_percent_cap_is_flagged(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=2, cap=10, secretive=frozenset({"A"}))  # A autocracy
    b.play({"A": Move(change=37, requested=37), "B": Move(change=3)})
    b.play({"A": Move(change=10), "B": Move(change=-10)})
    path = b.write(tmp_path / "r.jsonl")
    s = score(path)
    assert s.runs.iloc[0]["rule_violations"] == 1
    bad = _row(s.state_rounds, round=1, state="A")
    assert bad["violations"] == "cap: +37 > 10"
    assert _row(s.states, state="A")["rule_violations"] == 1
    assert s.state_rounds["rule_violations"].sum() == 1
    [obj] = score_json(path)
    assert obj["rule_violations"] == 1
    assert obj["violations"] == [{"round": 1, "state": "A", "rules": "cap: +37 > 10"}]
    text = score_text(path)
    assert "1 VIOLATIONS" in text and "round 1 A: cap: +37 > 10" in text


def test_forewarning_economy_treaty_and_fallback_rules(tmp_path: Path) -> None:
    b = RecordBuilder(["D", "E", "F"], rounds=4, cap=10, secretive=frozenset({"E", "F"}))
    # D is a democracy; E and F are autocracies bound by an arms cap of 0 from round 2
    b.play({"D": Move(change=8, announce=6), "E": Move(change=2)}, formed=[("t1", ["E", "F"])])
    b.play({"D": Move(change=6), "E": Move(change=4)})  # D announced 6: fine; E breaks t1 quietly
    b.play({"D": Move(change=5), "E": Move(change=1)}, breaches=[("E", "t1")], ended=["t1"])
    b.play({"D": Move(change=2), "E": Move(change=3, fallback=True)})
    path = b.write(tmp_path / "r.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):  # E's economy after round 3 pays for 2% at most
        event = json.loads(line)
        if event.get("kind") == "resolution" and event["round"] == 3:
            for o in event["outcomes"]:
                if o["state"] == "E":
                    o["economy_after"] = 0.02 * o["arms_after"]
            lines[n] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = score(path)
    got = {
        (r["round"], r["state"]): r["violations"]
        for r in s.state_rounds.to_dict("records")
        if r["rule_violations"] > 0
    }
    assert got == {
        (1, "D"): "forewarning: +8 > 3",  # round 1: nothing announced yet
        (2, "E"): "treaty: t1 +4 > 0 unrecorded",
        (3, "D"): "forewarning: +5 > 3",  # announced nothing for round 3
        (4, "E"): "fallback: +3 != 0; economy: +3 > affordable 2",
    }
    assert s.runs.iloc[0]["rule_violations"] == 5


def test_engine_records_obey_their_rules() -> None:
    s = score(V1)
    assert len(s.runs) >= 6
    assert (s.runs["rule_violations"] == 0).all()
    assert s.dyads["rich_verdict"].isin(VERDICTS).all()
    assert (s.runs["mutual_arming_rounds"] >= 0).all()
    assert s.runs["escalation_index"].between(0, 100).all()


def test_insufficient_data_has_no_interval(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=3)
    for _ in range(3):
        b.play({"A": Move(change=1), "B": Move(change=2)})
    d = score(b.write(tmp_path / "r.jsonl")).dyads.iloc[0]
    assert d["rich_verdict"] == INSUFFICIENT
    assert all(math.isnan(d[c]) for c in ("rich_rho", "rich_rho_lo", "rich_rho_hi", "rich_se_a"))
