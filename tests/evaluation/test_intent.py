"""Misperception of intentions (evaluation.intent): known answers on hand-built records, missing
(not zero) on version-1 records."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation import score
from dilemma.evaluation.intent import MEASURES, intent_confusion
from dilemma.scenarios.library import load_builtin
from dilemma.scenarios.schema import Scenario

from dilemma.cli.score_format import score_json
from dilemma.core.decision import Intent
from dilemma.report.build import render_report
from dilemma.simulation.runner import RunConfig, run_scenario
from tests.helpers.records import Move, RecordBuilder

D, T, C, A = Intent.DEFENSIVE, Intent.DETERRENT, Intent.COERCIVE, Intent.AGGRESSIVE
V1 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1"


def _hand_worked(path: Path) -> Path:
    """Three states, two rounds; B falls back in round 2 (judgements involving B are unscored).

    Round 1 judgements e = perceived(i->j) - actual(j->i), in levels:
        A->B aggressive vs B's deterrent    +2     A->C defensive vs C's aggressive  -3
        B->A coercive   vs A's coercive      0     B->C coercive  vs C's defensive   +2
        C->A defensive  vs A's defensive     0     C->B defensive vs B's defensive    0
    Round 2: A->C and C->A, all defensive: 0 and 0.
    """
    b = RecordBuilder(["A", "B", "C"], rounds=2)
    b.play(
        {
            "A": Move(intent={"B": C, "C": D}, perceived={"B": A, "C": D}),
            "B": Move(intent={"A": T, "C": D}, perceived={"A": C, "C": C}),
            "C": Move(intent={"A": A, "B": D}, perceived={"A": D, "B": D}),
        }
    )
    b.play({"B": Move(fallback=True)})
    return b.write(path)


def test_hand_worked_intent_measures(tmp_path: Path) -> None:
    s = score(_hand_worked(tmp_path / "r.jsonl"))
    run = s.runs.iloc[0]
    assert run["intent_n"] == 8
    assert run["intent_accuracy"] == pytest.approx(5 / 8)
    assert run["intent_overestimation"] == pytest.approx(2 / 8)
    assert run["intent_underestimation"] == pytest.approx(1 / 8)
    assert run["intent_error"] == pytest.approx((2 - 3 + 0 + 2) / 8)

    dyads = s.dyads.set_index(["a", "b"])
    expected = {
        # kappa: NaN where every judgement and actual intent share one level (chance = 1)
        ("A", "B", "ab"): (1, 0.0, 1.0, 0.0, 2.0, 0.0),
        ("A", "B", "ba"): (1, 1.0, 0.0, 0.0, 0.0, math.nan),
        ("A", "C", "ab"): (2, 0.5, 0.0, 0.5, -1.5, 0.0),
        ("A", "C", "ba"): (2, 1.0, 0.0, 0.0, 0.0, math.nan),
        ("B", "C", "ab"): (1, 0.0, 1.0, 0.0, 2.0, 0.0),
        ("B", "C", "ba"): (1, 1.0, 0.0, 0.0, 0.0, math.nan),
    }
    for (a, b, side), values in expected.items():
        got = tuple(float(dyads[f"{m}_{side}"].loc[(a, b)]) for m in MEASURES)
        assert got == pytest.approx(values, nan_ok=True), (a, b, side, got)

    pr = s.pair_rounds.set_index(["round", "i", "j"])
    assert (pr.loc[(1, "A", "B"), "perceived_intent"], pr.loc[(1, "A", "B"), "actual_intent"]) == (
        3.0,
        1.0,
    )
    second = s.pair_rounds[s.pair_rounds["round"] == 2].set_index(["i", "j"])
    assert second["intent_error"].isna().loc[("A", "B")]  # B's decision was a fallback
    assert second["perceived_intent"].isna().loc[("B", "A")]

    confusion = intent_confusion(s.pair_rounds)
    expected_counts = pd.DataFrame(0, index=confusion.index, columns=confusion.columns)
    for actual, perceived, n in (
        ("defensive", "defensive", 4),
        ("defensive", "coercive", 1),
        ("deterrent", "aggressive", 1),
        ("coercive", "coercive", 1),
        ("aggressive", "defensive", 1),
    ):
        expected_counts.loc[actual, perceived] = n
    pd.testing.assert_frame_equal(confusion, expected_counts)


def test_intent_measures_in_score_json(tmp_path: Path) -> None:
    (run,) = score_json(_hand_worked(tmp_path / "r.jsonl"))
    assert run["intent_n"] == 8 and run["intent_accuracy"] == pytest.approx(0.625)
    ac = next(d for d in run["intent_dyads"] if d["dyad"] == ["A", "C"])
    assert ac["ab"]["intent_error"] == pytest.approx(-1.5)
    assert ac["ba"]["intent_accuracy"] == 1.0


def _row(label: str, *numbers: object) -> str:
    """A report table row: a text cell, then right-aligned number cells as displayed."""
    return f"<tr><td>{label}</td>" + "".join(f'<td class="num">{n}</td>' for n in numbers) + "</tr>"


def test_report_shows_the_confusion_matrix(tmp_path: Path) -> None:
    html = render_report(_hand_worked(tmp_path / "r.jsonl"))
    section = html.split('<h2 id="intent">', 1)[1].split("<h2", 1)[0]
    assert '<a href="#intent">' in html
    # summary: 8 judgements, 5 right, 2 over, 1 under, mean error +1/8
    assert _row("all runs", 8, "0.625", "0.250", "0.125", "0.125") in section
    # rows actual, columns perceived (defensive, deterrent, coercive, aggressive), then the total
    assert _row("defensive", 4, 0, 1, 0, 5) in section
    assert _row("deterrent", 0, 0, 0, 1, 1) in section
    assert _row("coercive", 0, 0, 1, 0, 1) in section
    assert _row("aggressive", 1, 0, 0, 0, 1) in section


def test_report_of_version_1_records_says_intent_was_not_asked() -> None:
    section = render_report(V1 / "scripted").split('<h2 id="intent">', 1)[1].split("<h2", 1)[0]
    assert "do not state a perceived intent" in section and "<table>" not in section


def test_records_that_never_asked_have_missing_intent_measures(tmp_path: Path) -> None:
    b = RecordBuilder(["A", "B"], rounds=2)
    b.play({"A": Move(perceived=None), "B": Move(perceived=None)})
    b.play({"A": Move(perceived=None), "B": Move(perceived=None)})
    s = score(b.write(tmp_path / "r.jsonl"))
    run = s.runs.iloc[0]
    assert run["intent_n"] is pd.NA
    for m in MEASURES[1:]:
        assert math.isnan(run[m]), m
    (obj,) = score_json(tmp_path / "r.jsonl")
    assert all(obj[m] is None for m in MEASURES)
    assert obj["intent_dyads"][0]["ab"]["intent_n"] is None


def test_version_1_records_have_missing_intent_measures() -> None:
    s = score([V1 / "scripted", V1 / "sweep"])
    assert len(s.runs) == 6 and (s.runs["decisions"] > 0).all()
    assert s.runs["intent_n"].isna().all()
    for m in MEASURES[1:]:
        assert s.runs[m].isna().all(), m
        assert s.dyads[f"{m}_ab"].isna().all() and s.dyads[f"{m}_ba"].isna().all()
    assert int(intent_confusion(s.pair_rounds).to_numpy().sum()) == 0


# --- calibration through the engine with scripted controls -------------------------------------


async def _dyads(scenario: Scenario, policies: dict[str, str], out: Path, seed: int) -> pd.Series:
    models = {sid: f"scripted:{policies[sid]}" for sid in scenario.ids}
    path = await run_scenario(scenario, RunConfig(seed=seed, out_dir=out), overrides=models)
    dyads: pd.DataFrame = score(path).dyads
    assert len(dyads) == 1
    return dyads.iloc[0]


def _pair(neighbour: str, **rules: object) -> Scenario:
    """two-rivals with two autocracies: Aria transparent, Borea `neighbour`."""
    base = load_builtin("two-rivals").model_dump(mode="json")
    for state in base["states"]:
        state["regime"] = "autocracy"
        state["transparency"] = "transparent" if state["id"] == "Aria" else neighbour
    base["rules"].update(rules)
    return Scenario.model_validate(base)


async def test_hawk_reads_a_dove_as_aggressive_and_the_dove_reads_it_as_defensive(
    tmp_path: Path,
) -> None:
    scenario = load_builtin("two-rivals")
    hawk, dove = scenario.ids
    d = await _dyads(scenario, {hawk: "hawk", dove: "dove"}, tmp_path, seed=1)
    # the hawk believes "aggressive" (3) of a dove whose intent is defensive (0): +3 every round;
    # the dove believes "defensive" (0) of a hawk whose intent is coercive (2): -2 every round
    assert d["intent_n_ab"] == d["intent_n_ba"] == scenario.rules.rounds
    assert (d["intent_overestimation_ab"], d["intent_error_ab"]) == (1.0, 3.0)
    assert (d["intent_underestimation_ba"], d["intent_error_ba"]) == (1.0, -2.0)


async def test_reactive_observer_misreads_a_secretive_rival_more_than_a_transparent_one(
    tmp_path: Path,
) -> None:
    misread: dict[str, list[float]] = {"secretive": [], "transparent": []}
    for neighbour, values in misread.items():
        for seed in range(3):
            d = await _dyads(
                _pair(neighbour),
                dict.fromkeys(("Aria", "Borea"), "reactive"),
                tmp_path / f"{neighbour}{seed}",
                seed,
            )
            values.append(1 - d["intent_accuracy_ab"])  # Aria's judgements of Borea
    # seeing exact arms, the reactive observer reads a transparent rival right every round
    assert misread["transparent"] == [0.0, 0.0, 0.0]
    assert min(misread["secretive"]) > 0.5, misread


async def test_summits_lower_misperception_of_a_secretive_rival(tmp_path: Path) -> None:
    scores: dict[int, list[pd.Series]] = {0: [], 2: []}
    for every, rows in scores.items():
        for seed in range(3):
            rows.append(
                await _dyads(
                    _pair("secretive", summit_every=every),
                    dict.fromkeys(("Aria", "Borea"), "reactive"),
                    tmp_path / f"s{every}-{seed}",
                    seed,
                )
            )
    frames = {every: pd.DataFrame(rows) for every, rows in scores.items()}
    without, with_summits = frames[0], frames[2]
    assert with_summits["intent_accuracy_ab"].mean() > without["intent_accuracy_ab"].mean()
    assert with_summits["intent_error_ab"].mean() < without["intent_error_ab"].mean()
    assert (
        with_summits["mean_misperception_ab"].abs().mean()
        < without["mean_misperception_ab"].abs().mean()
    )
