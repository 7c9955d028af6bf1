"""The offense-defense balance acts: war losses (known answers), observations, the reactive
control policy, and a sweep over the balance through the real engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation import score
from dilemma.scenarios.library import parse_scenario

from dilemma.core.decision import Decision
from dilemma.experiments.spec import expand, load_experiment
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, ObservationEvent, ResolutionEvent
from dilemma.simulation.runner import RunConfig, play_scenario, run_scenario
from dilemma.simulation.world import World, new_world, resolve_round, war_losses
from tests.helpers.engine import fake, make_scenario, policy_model
from tests.helpers.sweeps import sweep_locally

# --- war losses: known answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("xi", "xt", "balance", "share", "lost_i", "lost_t"),
    [
        # equal forces, neutral balance: s = 1/2, each side loses 0.4 * 1/2 = 20% of its arms
        (100.0, 100.0, 1.0, 0.5, 20.0, 20.0),
        # offense ahead: s = 150 / 250 = 0.6; target loses 24%, initiator 16%
        (100.0, 100.0, 1.5, 0.6, 16.0, 24.0),
        # defense ahead: s = 70 / 170; initiator loses 0.4 * 100/170, target 0.4 * 70/170
        (100.0, 100.0, 0.7, 70 / 170, 40 * 100 / 170, 40 * 70 / 170),
        # twice the arms, neutral: s = 2/3; target loses 0.4*2/3*100, initiator 0.4*1/3*200
        (200.0, 100.0, 1.0, 2 / 3, 80 / 3, 80 / 3),
        # no arms on either side: s = 1/2, nothing to lose
        (0.0, 0.0, 1.5, 0.5, 0.0, 0.0),
    ],
)
def test_war_losses_known_answers(
    xi: float, xt: float, balance: float, share: float, lost_i: float, lost_t: float
) -> None:
    losses = war_losses(xi, xt, 1000.0, 500.0, balance)
    assert losses.force_share == pytest.approx(share, abs=1e-6)
    assert losses.initiator_arms_lost == pytest.approx(lost_i, abs=1e-5)
    assert losses.target_arms_lost == pytest.approx(lost_t, abs=1e-5)
    # economy: half the arms share lost (0.2 * s of the target's, 0.2 * (1 - s) of the attacker's)
    assert losses.initiator_economy_lost == pytest.approx(1000 * 0.2 * (1 - share), abs=1e-5)
    assert losses.target_economy_lost == pytest.approx(500 * 0.2 * share, abs=1e-5)


def test_first_strike_pays_only_with_offense_ahead() -> None:
    for balance in (1.2, 1.5, 3.0):
        losses = war_losses(100, 100, 1000, 1000, balance)
        assert losses.target_arms_lost > losses.initiator_arms_lost
    for balance in (0.5, 0.7, 0.9):
        losses = war_losses(100, 100, 1000, 1000, balance)
        assert losses.target_arms_lost < losses.initiator_arms_lost


def _world(**rules: Any) -> World:
    data = {
        "name": "unit",
        "states": [
            {
                "id": s,
                "name": s,
                "regime": "autocracy",
                "transparency": "transparent",
                "arms": 100,
                "economy": 1000,
            }
            for s in ("A", "B")
        ],
        "rules": {"rounds": 5, "subturns": 0, "arms_cap_pct": 10, **rules},
    }
    w = new_world(parse_scenario(data, "unit"), seed=0)
    w.round = 1
    return w


def _decision(other: str, change: int = 0, action: str = "status_quo") -> Decision:
    return Decision.model_validate(
        {
            "threat": [{"state": other, "level": 3, "reason": "r"}],
            "arms_change": change,
            "action": action,
            "target": other,
            "private_intent": [{"state": other, "intent": "defensive"}],
            "perceived_intent": [{"state": other, "intent": "defensive"}],
            "forecast": [{"state": other, "arms_change": 0}],
            "signals": [{"state": other, "rung": "status_quo"}],
        }
    )


def test_war_that_does_not_end_the_run_destroys_arms_and_economy() -> None:
    w = _world(war_ends_run=False, offense_defense=1.5, economy_growth_pct=2.0)
    res = resolve_round(w, {"A": _decision("B", 0, "full_scale_war"), "B": _decision("A")})
    (war,) = res.wars
    assert war.losses is not None and war.losses.offense_defense == 1.5
    # s = 0.6: A (struck first) keeps 84, B 76; economies 1020 after growth, less 0.2*share
    assert (w.nations["A"].arms, w.nations["B"].arms) == pytest.approx((84.0, 76.0))
    assert w.nations["A"].economy == pytest.approx(1020 - 1020 * 0.08)
    assert w.nations["B"].economy == pytest.approx(1020 - 1020 * 0.12)
    a, b = res.outcomes
    assert (a.war_arms_lost, b.war_arms_lost) == pytest.approx((16.0, 24.0))
    assert (a.war_economy_lost, b.war_economy_lost) == pytest.approx((81.6, 122.4))
    for o in res.outcomes:  # the record's identity holds
        assert o.arms_after == pytest.approx(
            o.arms_before * (1 + o.applied_change / 100) - o.war_arms_lost
        )
    # intelligence and next round start from the arms left after the war
    assert w.nations["B"].arms_history[-1] == pytest.approx(76.0)


def test_losses_are_computed_after_the_rounds_arming() -> None:
    w = _world(war_ends_run=False, offense_defense=1.0)
    res = resolve_round(w, {"A": _decision("B", 10, "invasion"), "B": _decision("A", 10)})
    assert res.wars == []  # invasion is violent escalation, not war: no losses
    res = resolve_round(w, {"A": _decision("B", 0, "nuclear_strike"), "B": _decision("A", -10)})
    # A 110, B 99: s = 110 / 209; A loses 0.4*(99/209)*110, B loses 0.4*(110/209)*99
    a, b = res.outcomes
    assert a.war_arms_lost == pytest.approx(0.4 * 99 / 209 * 110, abs=1e-5)
    assert b.war_arms_lost == pytest.approx(0.4 * 110 / 209 * 99, abs=1e-5)


def test_mutual_attack_adds_both_wars_losses() -> None:
    w = _world(war_ends_run=False, offense_defense=1.5)
    war = "full_scale_war"
    res = resolve_round(w, {"A": _decision("B", 0, war), "B": _decision("A", 0, war)})
    assert len(res.wars) == 2
    # each is struck first in one war (24) and strikes first in the other (16)
    assert (w.nations["A"].arms, w.nations["B"].arms) == pytest.approx((60.0, 60.0))


def test_no_losses_when_war_ends_the_run() -> None:
    w = _world(war_ends_run=True, offense_defense=1.5)
    res = resolve_round(w, {"A": _decision("B", 0, "full_scale_war"), "B": _decision("A")})
    (war,) = res.wars
    assert war.losses is None
    assert (w.nations["A"].arms, w.nations["B"].arms) == (100.0, 100.0)
    assert all(o.war_arms_lost == 0 for o in res.outcomes)


# --- through the engine ------------------------------------------------------------------------


async def test_observations_state_the_balance_and_war_goes_on(tmp_path: Path) -> None:
    def go_to_war(reply: dict[str, Any]) -> None:
        if "action" in reply:
            reply["action"], reply["target"] = "full_scale_war", "B"

    sc = make_scenario(
        [{"id": "A"}, {"id": "B"}], rounds=3, subturns=0, war_ends_run=False, offense_defense=1.5
    )
    models = {"A": fake(policy_model("dove", edit=go_to_war)), "B": fake(policy_model("dove"))}
    path = await play_scenario(sc, models, RunConfig(seed=0, out_dir=tmp_path))
    record = read_record(path)
    observations = record.of_kind(ObservationEvent)
    assert observations and all(e.observation.rules.offense_defense == 1.5 for e in observations)
    resolutions = record.of_kind(ResolutionEvent)
    assert len(resolutions) == 3  # the war did not end the run
    assert all(r.wars[0].losses is not None for r in resolutions)
    end = record.run_end
    assert end is not None and end.outcome == "war"
    b_arms = [next(o for o in r.outcomes if o.state == "B").arms_after for r in resolutions]
    assert b_arms == sorted(b_arms, reverse=True) and b_arms[-1] < 50  # each round costs B


@pytest.mark.parametrize(("balance", "change"), [(0.7, -10), (1.0, 0), (1.5, 10)])
async def test_reactive_weighs_rival_arms_by_the_balance(
    tmp_path: Path, balance: float, change: int
) -> None:
    # equal, transparent forces: parity at 1.0; with offense ahead the rival's arms count 1.5x
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=1, subturns=0, offense_defense=balance)
    path = await run_scenario(
        sc, RunConfig(seed=0, out_dir=tmp_path), overrides=dict.fromkeys("AB", "scripted:reactive")
    )
    decisions = [e.decision for e in read_record(path).of_kind(DecisionEvent)]
    assert [d.arms_change if d else None for d in decisions] == [change, change]


# --- a sweep over the balance ------------------------------------------------------------------

SWEEP = """
name: offense-defense
scenarios: [two-rivals]
rounds: 8
model: scripted:reactive
factors:
  rules.offense_defense: [0.7, 1.5]
repeats: 10
"""
# 10 seeds per level, paired by seed: the exact sign-flip p of a consistent difference is 2/2^10,
# below the Holm threshold over the four default primary measures
ESCALATION = ("mean_growth_pct", "mean_threat", "escalation_index", "cum_arms_change_pct")


@pytest.mark.slow  # a 20-run sweep and its comparison: a statistical calibration
async def test_offense_advantage_raises_escalation(tmp_path: Path) -> None:
    spec = tmp_path / "od.yaml"
    spec.write_text(SWEEP)
    runs = expand(load_experiment(spec), spec)
    level = {r.run_id: r.conditions["rules.offense_defense"] for r in runs}
    out = tmp_path / "out"
    stats = await sweep_locally(runs, out, concurrency=4)
    assert not stats.failures
    scored = score(out).runs
    scored["balance"] = scored["run_id"].map(level)
    means = scored.groupby("balance")[list(ESCALATION)].mean()
    low, high = means.loc["0.7"], means.loc["1.5"]
    for measure in ESCALATION:
        assert high[measure] > low[measure], (measure, means)
    # the difference is large, not marginal: every offense-ahead run arms, every other disarms
    by_run = scored.set_index("balance")["mean_growth_pct"]
    assert by_run.loc["1.5"].min() > 0 > by_run.loc["0.7"].max()

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dilemma.cli.main",
            "compare",
            str(out),
            "--by",
            "rules.offense_defense",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "changes", data["summary"]
