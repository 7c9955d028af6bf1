"""Known answers of the signal, accident and survival measures, and what older records give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.accidents import retaliations
from dilemma.evaluation.signals import rung_toward, signal_rows
from dilemma.evaluation.survival import restricted_mean, survival_contrasts
from dilemma.evaluation.tables import score

V3 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v3"

V4_ONLY = (
    "signal_divergence",
    "signal_above_share",
    "signal_divergence_seen",
    "perceived_shift_after_breach",
    "perceived_shift_after_kept",
    "accident_share",
    "retaliation",
)


def test_version_3_records_score_the_new_measures_as_missing_not_zero() -> None:
    s = score(V3)
    runs = s.runs
    assert len(runs) > 0
    for col in V4_ONLY:
        assert runs[col].isna().all(), col
    for col in ("signal_n", "accidents", "accident_eligible"):
        assert runs[col].isna().all(), col
    assert s.states["signal_divergence"].isna().all() and s.states["signal_n"].isna().all()
    assert s.dyads["signal_divergence_ab"].isna().all()
    # survival is computable from what v3 records hold: every run has a time and an event flag
    assert (runs["time_to_war"] >= 1).all() and (runs["time_to_force"] >= 1).all()
    assert (runs.loc[~runs["war"], "time_to_war"] == runs.loc[~runs["war"], "rounds"]).all()


def test_rung_toward_counts_the_action_only_toward_its_target() -> None:
    action = pd.Series(["sanctions", "sanctions", "status_quo", None], dtype="string")
    target = pd.Series(["B", "B", None, "B"], dtype="string")
    other = pd.Series(["B", "C", "C", "B"], dtype="string")
    got = rung_toward(action, target, other).tolist()
    assert got[:3] == [3.0, 1.0, 1.0] and np.isnan(got[3])


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    decisions = pd.DataFrame(
        {
            "run_id": ["r"] * 4,
            "round": [1, 1, 2, 2],
            "state": ["A", "B", "A", "B"],
            "fallback": [False, False, False, True],
            "action": ["blockade", "status_quo", "public_warning", None],
            "target": ["B", "A", "B", None],
        }
    )
    outcomes = pd.DataFrame(
        {
            "run_id": ["r"] * 4,
            "round": [1, 1, 2, 2],
            "state": ["A", "B", "A", "B"],
            "action": ["limited_strike", "status_quo", "public_warning", "status_quo"],
            "target": ["B", "A", "B", None],
        }
    )
    signals = pd.DataFrame(
        {
            "run_id": ["r"] * 3,
            "round": [1, 1, 2],
            "i": ["A", "B", "A"],
            "j": ["B", "A", "B"],
            "signal": [1, 1, 4],
        }
    )
    return decisions, outcomes, signals


def test_signal_rows_hand_worked() -> None:
    s = signal_rows(*_frames()).set_index(["round", "i"])
    # A round 1: blockade (3) against signal 1 -> 2 above; executed limited_strike (4) -> seen 3
    assert s.loc[(1, "A"), "divergence"] == 2 and s.loc[(1, "A"), "above"] == 1
    assert s.loc[(1, "A"), "seen_divergence"] == 3
    # B kept its status quo signal; A in round 2 acted below its signal (2 < 4): not above
    assert s.loc[(1, "B"), "divergence"] == 0 and s.loc[(1, "B"), "above"] == 0
    assert s.loc[(2, "A"), "divergence"] == 2 and s.loc[(2, "A"), "above"] == 0


def test_retaliation_is_the_victims_next_rung_minus_its_rung_in_the_accident_round() -> None:
    accidents = pd.DataFrame(
        {"run_id": ["r", "r"], "round": [1, 3], "actor": ["A", "A"], "target": ["B", "B"]}
    )
    outcomes = pd.DataFrame(
        {
            "run_id": ["r"] * 3,
            "round": [1, 2, 3],
            "state": ["B", "B", "B"],
            "action": ["status_quo", "blockade", "limited_strike"],
            "target": ["A", "A", "C"],
        }
    )
    r = retaliations(accidents, outcomes)
    assert r.loc[0, "retaliation"] == 2  # status quo (1) -> blockade (3) toward A
    assert pd.isna(r["retaliation"].iloc[1])  # no round after round 3


def _survival_runs(
    times_a: list[int], events_a: list[bool], times_b: list[int], events_b: list[bool]
) -> pd.DataFrame:
    n_a, n_b = len(times_a), len(times_b)
    return pd.DataFrame(
        {
            "cond": ["a"] * n_a + ["b"] * n_b,
            "time_to_war": times_a + times_b,
            "war": events_a + events_b,
            "time_to_force": times_a + times_b,
            "force": events_a + events_b,
        }
    )


def test_survival_changes_when_one_level_fights_early() -> None:
    runs = _survival_runs([1, 2, 1, 2, 3, 1, 2, 1, 2, 3] * 2, [True] * 20, [10] * 20, [False] * 20)
    result = survival_contrasts(runs, "cond")
    war = result.tests.set_index("outcome").loc["war"]
    assert war["verdict"] == "changes" and war["logrank_p_holm"] < 0.001
    assert (war["events_a"], war["events_b"]) == (20, 0)
    assert np.isnan(war["hazard_ratio"])  # no event at level b: the ratio is not identified
    assert war["rmst_b"] == 10 and war["rmst_a"] == pytest.approx(1.8)


def test_survival_is_equivalent_for_identical_levels_with_many_events() -> None:
    times = [t for t in range(1, 11) for _ in range(40)]
    runs = _survival_runs(times, [True] * 400, times, [True] * 400)
    tests = survival_contrasts(runs, "cond").tests
    assert (tests["verdict"] == "equivalent").all()
    assert tests["hazard_ratio"].to_numpy() == pytest.approx(1.0)


def test_survival_is_inconclusive_with_few_runs() -> None:
    runs = _survival_runs([3, 5], [True, False], [4, 5], [True, False])
    tests = survival_contrasts(runs, "cond").tests
    assert (tests["verdict"] == "inconclusive").all()


def test_km_curves_step_down_at_events() -> None:
    runs = _survival_runs([1, 2, 4, 4], [True, True, False, False], [4], [False])
    curves = survival_contrasts(runs, "cond").curves
    a = curves[(curves["level"] == "a") & (curves["outcome"] == "war")]
    assert a["survival"].tolist() == pytest.approx([1.0, 0.75, 0.5, 0.5])
    assert a["time"].tolist() == [0.0, 1.0, 2.0, 4.0]


def test_restricted_mean_is_the_area_under_the_curve() -> None:
    # S = 1 on [0, 1), 0.5 on [1, 4): area 1 + 1.5 = 2.5
    assert restricted_mean(np.array([1.0, 4.0]), np.array([1.0, 0.0]), 4.0) == 2.5
