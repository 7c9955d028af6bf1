"""Evaluator calibration: scripted policies played through the real engine, then scored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agents.ladder import RUNG_ORDER, Rung
from evaluation import Scores, score
from scenarios.library import load_builtin
from scenarios.schema import Scenario
from simulation.runner import RunConfig, run_scenario

ESCALATION_MEASURES = (
    "escalation_index",
    "ladder_score_total",
    "ladder_mean",
    "mean_growth_pct",
    "cum_arms_change_pct",
    "mean_threat",
    "threat_trend",
    "spiral_rounds",
    "spiral_share",
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
    assert hawk["spiral_rounds"] >= 1
    assert dove["spiral_rounds"] == 0


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
