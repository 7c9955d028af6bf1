"""Evaluator: known answers, edge cases and interfaces, on synthetic records."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation import Scores, by_model, columns, score, threat_matrix
from dilemma.evaluation.load import load_tables
from dilemma.evaluation.record_lines import DecisionObservation, SeenArms
from dilemma.evaluation.richardson import INSUFFICIENT, VERDICTS

from dilemma.cli.score_format import score_json, score_text
from dilemma.core.decision import Intent
from dilemma.core.ladder import Action
from dilemma.core.observation import OtherView
from dilemma.records.reader import NoRecordsError, read_record
from dilemma.records.schema import DecisionEvent, ObservationEvent
from tests.helpers.records import Move, RecordBuilder, random_builder, richardson_builder


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for col, value in where.items():
        mask &= frame[col] == value
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


# --- known answers -----------------------------------------------------------------------------


def test_hand_worked_ladder(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B", "C"], rounds=2)
    b.play(
        {
            "A": Move(action=Action.SANCTIONS, target="B"),  # non-violent escalation, 12
            "B": Move(action=Action.MILITARY_EXERCISE),  # posturing, 4
            "C": Move(action=Action.PROPOSE_TALKS, target="A"),  # de-escalation, -2
        }
    )
    b.play(
        {
            "A": Move(action=Action.LIMITED_STRIKE, target="B"),  # violent escalation, 28
            "B": Move(fallback=True, attempts=3),  # excluded
            "C": Move(action=Action.STATUS_QUO),  # 0
        }
    )
    s = score(b.write(tmp_path / "r.jsonl"))
    r1 = _row(s.rounds, round=1)
    r2 = _row(s.rounds, round=2)
    assert (r1["ladder_sum"], round(r1["ladder_mean"], 4), r1["max_rung"]) == (
        14.0,
        4.6667,
        "non_violent_escalation",
    )
    assert (r2["ladder_sum"], r2["ladder_mean"], r2["n_answered"], r2["n_fallback"]) == (
        28.0,
        14.0,
        2,
        1,
    )
    run = s.runs.iloc[0]
    assert run["ladder_score_total"] == 42.0
    assert run["ladder_mean"] == pytest.approx(8.4)
    assert run["max_rung"] == "violent_escalation"
    assert run["idx_ladder"] == pytest.approx(8.4 / 60)
    assert math.isnan(_row(s.state_rounds, round=2, state="B")["ladder_weight"])


def test_hand_worked_misperception(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B", "C"], rounds=1, cap=10)
    b.play(
        {
            # A: defensive (0), untargeted exercise toward everyone (2.5), cuts arms (0)
            "A": Move(
                change=-2,
                action=Action.MILITARY_EXERCISE,
                threat={"B": 8, "C": 1},
                intent=Intent.DEFENSIVE,
            ),
            # B: coercive toward A (20/3), sanctions on A (5), +6% of a 10% cap (6)
            "B": Move(
                change=6,
                action=Action.SANCTIONS,
                target="A",
                threat={"A": 3, "C": 0},
                intent={"A": Intent.COERCIVE, "C": Intent.DEFENSIVE},
            ),
            "C": Move(change=0, threat={"A": 0, "B": 5}),
        }
    )
    p = score(b.write(tmp_path / "r.jsonl")).pair_rounds
    # equal arms (100 each, seen exactly): capability C = 6 * 100 / 200 = 3 for every pair
    assert (p["capability"] == 3.0).all()
    # H(B->A) = (6.6667 + 5 + 6) / 3 = 5.8889; W(A<-B) = 3 + 7 * 0.58889; M(A->B) = 8 - 7.1222
    assert round(_row(p, i="B", j="A")["hostility"], 4) == 5.8889
    assert round(_row(p, i="A", j="B")["warranted_threat"], 4) == 7.1222
    assert round(_row(p, i="A", j="B")["misperception"], 4) == 0.8778
    # H(A->B) = (0 + 2.5 + 0) / 3; W(B<-A) = 3 + 7 * 0.08333; M(B->A) = 3 - 3.5833
    assert round(_row(p, i="A", j="B")["hostility"], 4) == 0.8333
    assert round(_row(p, i="B", j="A")["misperception"], 4) == -0.5833
    # B's sanctions target A, so toward C only its arming counts: H(B->C) = 6 / 3, W = 4.4
    assert _row(p, i="B", j="C")["action_toward"] == 0.0
    assert round(_row(p, i="C", j="B")["misperception"], 4) == 0.6


@pytest.mark.parametrize(
    ("name", "coef"),
    [
        ("stable", (0.10, 0.30, 5.0, 0.20, 0.25, 3.0)),  # spectral radius 0.869
        ("runaway", (0.20, 0.05, 1.0, 0.15, 0.05, 1.0)),  # spectral radius 1.123
    ],
)
def test_richardson_recovers_coefficients(tmp_path: Path, name: str, coef: tuple[float, ...]):
    a, m, g, b, n, h = coef
    builder = richardson_builder(
        (a, m, g, b, n, h), start=(100.0, 20.0), rounds=30, noise=0.2, seed=7, run_id=name
    )
    d = score(builder.write(tmp_path / f"{name}.jsonl")).dyads.iloc[0]
    # stated tolerance: +-0.015 on reactions and fatigues, 20% on grievances
    for got, want in ((d["rich_a"], a), (d["rich_m"], m), (d["rich_b"], b), (d["rich_n"], n)):
        assert got == pytest.approx(want, abs=0.015)
    assert d["rich_g"] == pytest.approx(g, rel=0.2)
    assert d["rich_h"] == pytest.approx(h, rel=0.2)
    # a converged stable system leaves the growth-rate reaction test little to see: the
    # verdict says so instead of calling it stable or no race (the interval still says < 1)
    assert d["rich_verdict"] == ("reaction_not_detected" if name == "stable" else name)
    assert d["rich_rho_lo"] < d["rich_rho"] < d["rich_rho_hi"]
    assert (d["rich_rho_hi"] < 1) == (name == "stable") == (d["rich_rho_lo"] < 1)
    if name == "runaway":
        assert d["rich_p_a"] < 0.05 or d["rich_p_b"] < 0.05
        assert d["rich_runaway_source"] == "mutual_reaction"  # own coefficients 0.95 < 1
    else:
        assert d["rich_mde_a"] > abs(d["rich_react_a"]) or d["rich_p_a"] >= 0.05
    assert all(d[f"rich_se_{k}"] > 0 for k in ("a", "m", "g", "b", "n", "h"))
    assert d["rich_r2_x"] > 0.99 and d["rich_r2_y"] > 0.99
    assert d["rich_nobs_x"] == d["rich_nobs_y"] == 30


def test_richardson_lockstep_and_short_series_are_insufficient(tmp_path: Path) -> None:
    lockstep = RecordBuilder(["A", "B"], rounds=10, run_id="lockstep")
    for _ in range(10):
        lockstep.play({"A": Move(change=5), "B": Move(change=5)})
    short = richardson_builder((0.1, 0.3, 5, 0.2, 0.25, 3), rounds=4, run_id="short")
    s = score([lockstep.write(tmp_path / "l.jsonl"), short.write(tmp_path / "s.jsonl")])
    for run_id in ("lockstep", "short"):
        d = _row(s.dyads, run_id=run_id)
        assert d["rich_verdict"] == INSUFFICIENT
        assert all(math.isnan(d[c]) for c in ("rich_a", "rich_m", "rich_g", "rich_b", "rich_n"))
        assert math.isnan(d["rich_rho"]) and math.isnan(d["rich_se_a"])
    assert _row(s.dyads, run_id="short")["rich_nobs_x"] == 4


def _spiral_record(path: Path, secretive: frozenset[str] = frozenset()) -> Path:
    """Both arm and fear more in rounds 1-4 and 6-7; round 5 is calm."""
    b = RecordBuilder(["A", "B"], rounds=7, secretive=secretive)
    threat = 1
    for rnd in range(1, 8):
        calm = rnd == 5
        threat = threat if calm else threat + 1
        b.play(
            {
                s: Move(
                    change=0 if calm else 5,
                    threat=threat,
                    action=Action.PUBLIC_WARNING,
                    target="B" if s == "A" else "A",
                )
                for s in ("A", "B")
            }
        )
    return b.write(path)


def test_spiral_onset_count_and_longest_run(tmp_path: Path) -> None:
    s = score(_spiral_record(tmp_path / "r.jsonl"))
    # round 1: nothing observable yet; 2-4 spiral; 5 calm; 6 reacts to nothing (5 was calm);
    # 7 reacts to the rise of round 6
    flags = s.dyad_rounds.set_index("round")["spiral"].astype(bool).to_dict()
    assert [r for r, on in flags.items() if on] == [2, 3, 4, 7]
    d = s.dyads.iloc[0]
    assert (d["spiral_onset"], d["spiral_rounds"], d["spiral_longest"]) == (2, 4, 3)
    run = s.runs.iloc[0]
    assert (run["spiral_onset"], run["spiral_rounds"], run["spiral_longest"]) == (2, 4, 3)
    assert run["spiral_share"] == pytest.approx(4 / 7)


def test_spiral_waits_for_lagged_intelligence(tmp_path: Path) -> None:
    s = score(_spiral_record(tmp_path / "r.jsonl", secretive=frozenset({"B"})))
    pairs = s.pair_rounds
    # A sees secretive B two rounds late: in round 2 it only knows B's initial arms
    assert _row(pairs, round=2, i="A", j="B")["as_of"] == 0
    assert not _row(pairs, round=2, i="A", j="B")["observed_rise"]
    flags = s.dyad_rounds.set_index("round")["spiral"].astype(bool)
    assert not flags[2] and flags[3]


def test_said_vs_did_forecasts_and_treaties(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=4)
    b.play(
        {"A": Move(change=2, announce=5, forecast=4), "B": Move(change=0)},
        formed=[("t1", ["A", "B"])],
    )
    b.play({"A": Move(change=8, announce=3), "B": Move(change=10)})
    b.play({"A": Move(change=3)}, breaches=[("A", "t1")])
    b.play({"A": Move(change=0)})
    s = score(b.write(tmp_path / "r.jsonl"))
    a = _row(s.states, state="A")
    assert (a["said_did_n"], a["said_did_mae"], a["said_did_bias"], a["said_did_exceeded"]) == (
        2,
        1.5,
        1.5,
        1,
    )
    # A forecast +4 for B in round 1; B applied +10 in round 2
    assert _row(s.pair_rounds, round=1, i="A", j="B")["forecast_error"] == -6
    assert (a["treaty_rounds"], a["breach_rounds"]) == (3, 1)
    assert a["compliance_rate"] == pytest.approx(2 / 3)
    assert _row(s.states, state="B")["compliance_rate"] == 1.0
    assert s.runs.iloc[0]["treaties_formed"] == 1 and s.runs.iloc[0]["breaches"] == 1


def test_scenario_treaty_binds_from_round_one_until_broken(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B", "C"], rounds=4, treaties=[["A", "B"]])
    b.play({}, formed=[("t2", ["A", "B"])])  # a second treaty, binding from round 2
    b.play({"B": Move(change=4)}, breaches=[("B", "T0-1")], ended=["T0-1"])
    b.play({"B": Move(change=4)})
    b.play({})
    s = score(b.write(tmp_path / "r.jsonl"))
    a, bb, c = (_row(s.states, state=x) for x in ("A", "B", "C"))
    # bound rounds are distinct rounds: T0-1 covers 1-2, t2 covers 2-4
    assert (a["treaty_rounds"], a["breach_rounds"], a["compliance_rate"]) == (4, 0, 1.0)
    assert (bb["treaty_rounds"], bb["breach_rounds"], bb["compliance_rate"]) == (4, 1, 0.75)
    assert c["treaty_rounds"] == 0 and math.isnan(c["compliance_rate"])
    assert s.runs.iloc[0]["treaties_formed"] == 1  # T0-1 was in force from the start


def test_arms_growth_ratio_and_cumulative_change(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], arms={"A": 100.0, "B": 50.0}, rounds=2)
    b.play({"A": Move(change=10), "B": Move(change=-10)})
    b.play({"A": Move(change=10), "B": Move(fallback=True)})
    s = score(b.write(tmp_path / "r.jsonl"))
    assert _row(s.dyad_rounds, round=2)["arms_ratio"] == pytest.approx(121 / 45)
    a, bb = _row(s.states, state="A"), _row(s.states, state="B")
    assert a["cum_arms_change_pct"] == pytest.approx(21.0)
    assert bb["cum_arms_change_pct"] == pytest.approx(-10.0)
    assert bb["mean_growth_pct"] == -10.0  # the fallback round is not B's behaviour
    assert math.isnan(_row(s.state_rounds, round=2, state="B")["growth_pct"])
    assert _row(s.state_rounds, round=2, state="A")["cum_change_pct"] == pytest.approx(21.0)


def test_threat_matrix_and_quality_by_model(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=2, models={"A": "m:one", "B": "m:two"})
    b.play({"A": Move(threat=3), "B": Move(threat=5)})
    b.play({"A": Move(threat=4), "B": Move(fallback=True, attempts=2)})
    s = score(b.write(tmp_path / "r.jsonl"))
    m = threat_matrix(s.pair_rounds, "run-1")
    assert m[("A", "B")].tolist() == [3.0, 4.0]
    assert m[("B", "A")].iloc[0] == 5.0 and math.isnan(m[("B", "A")].iloc[1])
    q = by_model(s.states).set_index("model")
    assert (q.loc["m:two", "fallback_rate"], q.loc["m:two", "parse_failure_rate"]) == (0.5, 2 / 3)
    assert q.loc["m:one", "fallbacks"] == 0


# --- data quality and hard records ---------------------------------------------------------


def test_fallbacks_are_counted_not_scored_as_peace(tmp_path: Path) -> None:
    def run(path: Path, fail: bool) -> Path:
        b = RecordBuilder(
            ["A", "B"], rounds=3, run_id=path.stem, models={"A": "m:good", "B": "m:flaky"}
        )
        for _ in range(3):
            b.play(
                {
                    "A": Move(change=10, action=Action.SANCTIONS, target="B", threat=8),
                    "B": Move(fallback=True, attempts=3) if fail else Move(threat=0),
                }
            )
        return b.write(path)

    s = score([run(tmp_path / "failing.jsonl", True), run(tmp_path / "peaceful.jsonl", False)])
    failing, peaceful = _row(s.runs, run_id="failing"), _row(s.runs, run_id="peaceful")
    b_state = _row(s.states, run_id="failing", state="B")
    assert (b_state["fallbacks"], b_state["fallback_rate"], b_state["parse_failure_rate"]) == (
        3,
        1.0,
        1.0,
    )
    assert b_state["model"] == "m:flaky"
    assert math.isnan(b_state["ladder_total"]) and math.isnan(b_state["mean_threat_out"])
    assert failing["fallback_rate"] == 0.5
    # the failing model's silence does not pull the run's scores down
    assert failing["ladder_mean"] == 12.0 > peaceful["ladder_mean"] == 6.0
    assert failing["mean_threat"] == 8.0 > peaceful["mean_threat"] == 4.0
    assert failing["escalation_index"] > peaceful["escalation_index"]


def test_all_fallback_run_reports_insufficient_data(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=2)
    for _ in range(2):
        b.play({"A": Move(fallback=True), "B": Move(fallback=True)})
    [obj] = score_json(b.write(tmp_path / "r.jsonl"))
    assert obj["escalation_index"] is None and obj["ladder_score_total"] is None
    assert obj["fallback_rate"] == 1.0
    assert {"escalation_index", "mean_threat", "ladder_score_total"} <= set(
        obj["insufficient_data"]
    )


def test_truncated_last_line(tmp_path: Path) -> None:
    b = random_builder(3, n_states=3, rounds=5, chatter=True)
    path = b.write(tmp_path / "r.jsonl", truncate=True)
    run = score(path).runs.iloc[0]
    assert run["truncated"] and not run["complete"] and run["outcome"] == "incomplete"
    assert run["rounds"] == 5


def test_record_cut_mid_round_scores_resolved_rounds(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=3)
    for _ in range(3):
        b.play({"A": Move(change=5), "B": Move(change=5)})
    path = b.write(tmp_path / "r.jsonl", run_end=False)
    lines = path.read_text().splitlines()
    last_resolution = max(i for i, line in enumerate(lines) if '"kind":"resolution"' in line)
    path.write_text("\n".join(lines[:last_resolution]) + "\n" + lines[last_resolution][:50])
    s = score(path)
    assert s.runs.iloc[0]["rounds"] == 2 and s.runs.iloc[0]["truncated"]
    assert sorted(s.rounds["round"]) == [1, 2]


def test_war_in_round_one(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=5)
    b.play(
        {
            "A": Move(change=10, action=Action.FULL_SCALE_WAR, target="B", threat=10),
            "B": Move(threat=2),
        }
    )
    b.play({"A": Move(), "B": Move()})  # never played: the war ends the run
    [obj] = score_json(b.write(tmp_path / "r.jsonl"))
    assert (obj["war"], obj["war_round"], obj["war_initiator"], obj["war_target"]) == (
        True,
        1,
        "A",
        "B",
    )
    assert obj["rounds"] == 1 and obj["outcome"] == "war" and obj["max_rung"] == "all_out_war"
    assert obj["index_components"]["war"] == 1.0 and obj["escalation_index"] is not None
    assert obj["richardson"][0]["verdict"] == INSUFFICIENT
    assert obj["richardson"][0]["a"] is None
    assert obj["spiral_rounds"] == 0
    assert {"threat_trend", "forecast_mae"} <= set(obj["insufficient_data"])


def test_single_round_run(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B", "C"], rounds=1)
    b.play({"A": Move(change=3, threat=4), "B": Move(change=-1, threat=2), "C": Move()})
    s = score(b.write(tmp_path / "r.jsonl"))
    run = s.runs.iloc[0]
    assert run["rounds"] == 1 and run["complete"]
    assert math.isnan(run["threat_trend"]) and math.isnan(run["forecast_mae"])
    assert (s.dyads["rich_verdict"] == INSUFFICIENT).all()
    assert run["mean_threat"] == pytest.approx(2.0)


def test_record_without_observations_has_no_spiral_verdict(tmp_path: Path) -> None:
    path = _spiral_record(tmp_path / "r.jsonl")
    kept = [line for line in path.read_text().splitlines() if '"kind":"observation"' not in line]
    path.write_text("\n".join(kept) + "\n")
    s = score(path)
    assert pd.isna(s.runs.iloc[0]["spiral_rounds"]) and pd.isna(s.dyads.iloc[0]["spiral_rounds"])
    assert math.isnan(s.runs.iloc[0]["escalation_index"])


def test_unreadable_records_are_skipped_in_a_folder(tmp_path: Path) -> None:
    good = RecordBuilder(["A", "B"], rounds=1)
    good.play({})
    good.write(tmp_path / "good.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "garbage.jsonl").write_text("not json\n")
    s = score(tmp_path)
    assert list(s.runs["run_id"]) == ["run-1"]
    assert sorted(p.name for p, _ in s.skipped) == ["empty.jsonl", "garbage.jsonl"]
    assert "skipped" in score_text(tmp_path)
    with pytest.raises(NoRecordsError):
        score(tmp_path / "empty.jsonl")
    with pytest.raises(NoRecordsError):
        score(tmp_path / "missing")


# --- the loader agrees with the record schema ----------------------------------------------


def test_fast_loader_matches_read_record(tmp_path: Path) -> None:
    path = random_builder(11, n_states=4, rounds=6, chatter=True).write(tmp_path / "r.jsonl")
    record = read_record(path)
    t = load_tables([path])
    decisions = record.of_kind(DecisionEvent)
    assert len(t.decisions) == len(decisions)
    assert int(t.decisions["fallback"].sum()) == sum(d.flagged for d in decisions)
    seen = [
        (o.round, o.state, v.id, v.arms_as_of_round)
        for o in record.of_kind(ObservationEvent)
        if o.phase.value == "decision"
        for v in o.observation.others
    ]
    assert sorted(
        zip(t.views["round"], t.views["i"], t.views["j"], t.views["as_of"], strict=True)
    ) == sorted(seen)


def test_unicode_line_separators_inside_text_do_not_split_lines(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=2)
    b.play({"A": Move(change=5)})
    b.play({"A": Move(change=5)})
    path = b.write(tmp_path / "r.jsonl")
    text = path.read_text(encoding="utf-8").replace(
        "We seek peace and security.", "We seek peace\u2028and security\u0085."
    )
    path.write_text(text, encoding="utf-8")
    assert "\u2028" in text
    run = score(path).runs.iloc[0]
    assert run["rounds"] == 2 and not run["truncated"]


def test_lite_observation_fields_exist_in_the_full_schema() -> None:
    full = OtherView.model_fields
    for name, info in SeenArms.model_fields.items():
        assert name in full and full[name].annotation == info.annotation
    assert set(DecisionObservation.model_fields) <= set(ObservationEvent.model_fields)


# --- interfaces ----------------------------------------------------------------------------


def test_frames_match_their_documented_columns(tmp_path: Path) -> None:
    paths = [random_builder(k, rounds=4).write(tmp_path / f"r{k}.jsonl") for k in range(2)]
    s = score(paths)
    for name, spec in columns.FRAMES.items():
        frame = getattr(s, name)
        assert list(frame.columns) == [c.name for c in spec], name
        for c in spec:
            assert str(frame[c.name].dtype) == str(pd.api.types.pandas_dtype(c.dtype)), (
                name,
                c.name,
            )
            assert c.doc
    assert len(s.runs) == 2 and len(s.rounds) == 8 and len(s.dyad_rounds) == 2 * 4 * 6


def test_scoring_many_records_equals_scoring_each(tmp_path: Path) -> None:
    paths = [
        random_builder(k, n_states=3, rounds=6).write(tmp_path / f"r{k}.jsonl") for k in range(3)
    ]
    together = score(paths)
    for path in paths:
        alone = score(path)
        rid = alone.runs.iloc[0]["run_id"]
        for name in ("runs", "dyads", "states"):
            a = getattr(alone, name).reset_index(drop=True)
            b = getattr(together, name)
            b = b[b["run_id"] == rid].reset_index(drop=True)
            pd.testing.assert_frame_equal(a, b)


def test_json_output(tmp_path: Path) -> None:
    paths = [
        random_builder(k, n_states=3, rounds=6).write(tmp_path / f"r{k}.jsonl") for k in range(2)
    ]
    out = score_json(tmp_path)
    text = json.dumps(out, allow_nan=False)  # NaN never leaks into JSON
    assert len(out) == len(paths) and text
    required = {
        "run_id",
        "scenario",
        "rounds",
        "escalation_index",
        "ladder_score_total",
        "max_rung",
        "mean_threat",
        "mean_misperception",
        "spiral_rounds",
        "war",
        "fallback_rate",
        "richardson",
    }
    for obj in out:
        assert required <= set(obj)
        assert len(obj["richardson"]) == 3
        for fit in obj["richardson"]:
            assert {"dyad", "a", "m", "g", "b", "n", "h", "r2_x", "r2_y", "verdict"} <= set(fit)
            assert {"se_a", "se_b", "p_a", "p_b", "spectral_radius", "spectral_radius_ci"} <= set(
                fit
            )
            assert fit["verdict"] in VERDICTS
        assert {"spiral_rounds", "mutual_arming_rounds", "saturated_rounds"} <= set(obj)
        assert {"rule_violations", "violations", "index_weights"} <= set(obj)
    text_out = score_text(tmp_path)
    assert all(o["run_id"] in text_out for o in out) and "Richardson" in text_out


def test_index_is_documented_composite(tmp_path: Path) -> None:
    s = score(random_builder(5, rounds=6).write(tmp_path / "r.jsonl"))
    run = s.runs.iloc[0]
    parts = [run[c] for c in ("idx_ladder", "idx_arms", "idx_threat", "idx_spiral", "idx_war")]
    assert all(0.0 <= p <= 1.0 for p in parts)
    weights = [1, 1, 1, 1, 4]  # dilemma.evaluation.index.DEFAULT_WEIGHTS
    total = sum(w * p for w, p in zip(weights, parts, strict=True))
    assert run["escalation_index"] == pytest.approx(100 * total / sum(weights))
    assert run["idx_threat"] == pytest.approx(run["mean_implied_hostility"] / 10)
    assert run["idx_arms"] == pytest.approx(min(max(run["mean_growth_pct"], 0) / 10, 1))


def test_columns_module_documents_every_frame() -> None:
    frames = {f.name for f in dataclasses.fields(Scores)} - {"skipped"}
    assert frames == set(columns.FRAMES)
    assert "escalation_index" in columns.describe("runs")


async def test_folder_with_header_only_record_scores(tmp_path: Path) -> None:
    """A crashed run that wrote only its header must not break scoring of the folder."""
    from dilemma.scenarios.library import load_builtin

    from dilemma.simulation.runner import RunConfig, run_scenario

    path = await run_scenario(
        load_builtin("two-rivals"),
        RunConfig(seed=0, out_dir=tmp_path),
        default_model="scripted:hawk",
    )
    header = path.read_text(encoding="utf-8").split("\n", 1)[0]
    (tmp_path / "crashed.jsonl").write_text(header + "\n", encoding="utf-8")
    scores = score(tmp_path)
    assert len(scores.runs) == 2
    crashed = scores.runs[scores.runs["path"].str.endswith("crashed.jsonl")].iloc[0]
    assert not crashed["complete"] and pd.isna(crashed["spiral_rounds"])
    finished = scores.runs[~scores.runs["path"].str.endswith("crashed.jsonl")].iloc[0]
    assert pd.notna(finished["spiral_rounds"]) and finished["mutual_arming_rounds"] >= 1
