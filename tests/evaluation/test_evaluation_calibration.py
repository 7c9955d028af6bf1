"""Evaluator calibration: scripted policies played through the real engine, then scored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation import Scores, score
from dilemma.evaluation.spirals import MUTUAL_ARMING_MIN_ROUNDS
from dilemma.scenarios.library import load_builtin
from dilemma.scenarios.schema import Scenario

from dilemma.core.ladder import RUNG_ORDER, Rung
from dilemma.simulation.runner import RunConfig, run_scenario
from tests.helpers.engine import make_scenario

ESCALATION_MEASURES = (
    "escalation_index",
    "ladder_score_total",
    "ladder_mean",
    "mean_growth_pct",
    "cum_arms_change_pct",
    "mean_threat",
    "threat_trend",
    "mutual_arming_rounds",
    "idx_ladder",
    "idx_arms",
    "idx_threat",
)


async def _play(scenario: Scenario, policies: dict[str, str], out: Path, seed: int = 1) -> Scores:
    models = {sid: f"scripted:{policies[sid]}" for sid in scenario.ids}
    path = await run_scenario(scenario, RunConfig(seed=seed, out_dir=out), overrides=models)
    return score(path)


def _rung(name: str) -> int:
    return RUNG_ORDER[Rung(name)]


@pytest.mark.parametrize("name", ["two-rivals", "secret-autocracies", "concert", "triad"])
async def test_hawks_escalate_more_than_doves_and_spiral(tmp_path: Path, name: str) -> None:
    scenario = load_builtin(name)
    hawks = (await _play(scenario, dict.fromkeys(scenario.ids, "hawk"), tmp_path / "h")).runs
    doves = (await _play(scenario, dict.fromkeys(scenario.ids, "dove"), tmp_path / "d")).runs
    hawk, dove = hawks.iloc[0], doves.iloc[0]
    for measure in ESCALATION_MEASURES:
        assert hawk[measure] > dove[measure], (measure, hawk[measure], dove[measure])
    assert _rung(hawk["max_rung"]) > _rung(dove["max_rung"])
    # hawks arm at the cap every round and soon hold threat at 10: sustained mutual arming and
    # saturation; a spiral needs rises in threat, which a pinned scale cannot show
    assert hawk["mutual_arming_rounds"] >= MUTUAL_ARMING_MIN_ROUNDS
    assert hawk["saturated_rounds"] >= 1
    assert hawk["spiral_rounds"] >= dove["spiral_rounds"] == 0
    assert dove["mutual_arming_rounds"] == dove["saturated_rounds"] == 0
    assert dove["escalation_index"] == 0.0  # talks, cuts, no fear beyond capability
    assert hawk["rule_violations"] == dove["rule_violations"] == 0


async def test_dove_facing_a_hawk_grows_afraid(tmp_path: Path) -> None:
    scenario = load_builtin("two-rivals")
    hawk, dove = scenario.ids
    s = await _play(scenario, {hawk: "hawk", dove: "dove"}, tmp_path)
    d = s.dyads.iloc[0]
    assert (d["a"], d["b"]) == (hawk, dove)
    assert d["threat_trend_ba"] > 0
    seen = s.pair_rounds[(s.pair_rounds["i"] == dove)].dropna(subset=["threat"])
    assert seen["threat"].iloc[-1] > seen["threat"].iloc[0]
    assert d["spiral_rounds"] == 0


def _reactive_pair(neighbour: str) -> Scenario:
    """Two reactive autocracies; A is transparent, B is `neighbour` (secretive/transparent)."""
    base = load_builtin("two-rivals").model_dump(mode="json")
    for state in base["states"]:
        state["regime"] = "autocracy"
        state["transparency"] = "transparent" if state["id"] == "Aria" else neighbour
    return Scenario.model_validate(base)


async def test_reactive_states_overestimate_a_secretive_neighbour_more(tmp_path: Path) -> None:
    means: dict[str, float] = {}
    for neighbour in ("secretive", "transparent"):
        scenario = _reactive_pair(neighbour)
        frames = [
            (
                await _play(
                    scenario,
                    {"Aria": "reactive", "Borea": "reactive"},
                    tmp_path / f"{neighbour}{seed}",
                    seed=seed,
                )
            ).dyads
            for seed in range(3)
        ]
        dyads = pd.concat(frames)
        means[neighbour] = float(dyads["mean_misperception_ab"].mean())  # Aria toward Borea
    assert means["secretive"] > means["transparent"], means


async def test_static_peaceful_reactive_world_scores_zero(tmp_path: Path) -> None:
    """Equal, transparent reactive states: no arming, threat at what capability warrants."""
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=6)
    s = await _play(scenario, {"A": "reactive", "B": "reactive"}, tmp_path)
    run = s.runs.iloc[0]
    assert (s.pair_rounds["threat"] == 3).all()
    assert run["escalation_index"] == 0.0
    assert run["mean_misperception"] == 0.0
    assert run["mutual_arming_rounds"] == run["spiral_rounds"] == run["rule_violations"] == 0


async def test_a_secretive_neighbour_escalates_a_transparent_one_stays_at_zero(
    tmp_path: Path,
) -> None:
    runs = {}
    for neighbour in ("secretive", "transparent"):
        policies = {"Aria": "reactive", "Borea": "reactive"}
        s = await _play(_reactive_pair(neighbour), policies, tmp_path / neighbour)
        runs[neighbour] = s.runs.iloc[0]
    secretive, transparent = runs["secretive"], runs["transparent"]
    # equal transparent reactive states: static, threat at what capability warrants
    assert transparent["escalation_index"] == transparent["mean_misperception"] == 0.0
    # a secret rival read at its worst case: arming, overestimation, threat beyond capability
    assert secretive["mean_growth_pct"] > 0 and secretive["mean_misperception"] > 0
    assert secretive["idx_threat"] > 0 and secretive["escalation_index"] > 5


async def test_summits_lower_misperception(tmp_path: Path) -> None:
    """Summits disclose every state's arms, so worst-case readings of secrets shrink."""
    base = load_builtin("two-rivals").model_dump(mode="json")
    means = {}
    for every in (0, 2, 1):
        base["rules"]["summit_every"] = every
        scenario = Scenario.model_validate(base)
        s = await _play(scenario, dict.fromkeys(scenario.ids, "reactive"), tmp_path / f"s{every}")
        means[every] = float(s.runs.iloc[0]["mean_abs_misperception"])
    assert means[0] > means[2] > means[1], means
