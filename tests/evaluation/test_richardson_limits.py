"""Richardson dynamics that know their limits: identification, a calibrated reaction test,
honest labels and war losses treated as shocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation import score
from dilemma.evaluation.richardson import (
    INSUFFICIENT,
    MUTUAL_REACTION,
    ONE_SIDED,
    RUNAWAY,
    SELF_GROWTH,
    array_fits,
    directed_fits,
    dynamics,
)
from dilemma.scenarios.library import load_builtin

from dilemma.simulation.runner import RunConfig, run_scenario


@pytest.mark.parametrize("name", ["two-rivals", "triad", "concert", "secret-autocracies"])
async def test_hawk_against_hawk_is_never_a_verdict_on_reaction(tmp_path: Path, name: str) -> None:
    base = load_builtin(name)
    scenario = base.model_copy(update={"rules": base.rules.model_copy(update={"rounds": 8})})
    paths = [
        await run_scenario(
            scenario,
            RunConfig(seed=seed, out_dir=tmp_path / str(seed)),
            default_model="scripted:hawk",
        )
        for seed in (1, 4, 7)
    ]
    dyads = score(paths).dyads
    assert len(dyads) >= 3
    assert (dyads["rich_verdict"] == INSUFFICIENT).all(), dyads["rich_verdict"].tolist()


def _null_rates(kind: str, n: int, rounds: int, seed: int) -> tuple[float, float]:
    """Share of coefficients with p < 0.05, and share of dyads called a reaction verdict."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        growth = rng.uniform(-5.0, 10.0, (2, n, rounds))
    else:  # fixed rates of 3, 5 or 10% a round with 1% noise
        rates = rng.choice([3.0, 5.0, 10.0], (2, n, 1))
        growth = rates + rng.normal(0.0, 1.0, (2, n, rounds))
    levels = np.empty((2, n, rounds + 1))
    levels[:, :, 0] = [[100.0], [80.0]]
    for t in range(rounds):
        levels[:, :, t + 1] = np.round(levels[:, :, t] * (1 + growth[:, :, t] / 100), 6)
    fx, fy = array_fits(levels[0], levels[1])
    p = np.concatenate([fx["p_react"].to_numpy(), fy["p_react"].to_numpy()])
    verdict = dynamics(fx, fy)["verdict"]
    reaction = verdict.isin(["stable", "runaway", "indeterminate"]).mean()
    return float(np.mean(p < 0.05)), float(reaction)


@pytest.mark.parametrize(("kind", "rounds"), [("random", 8), ("fixed", 20)])
def test_reaction_test_is_calibrated_under_the_null(kind: str, rounds: int) -> None:
    """Loose bound on 300 dyads (the benchmark prints the rates on more)."""
    per_coefficient, dyads = _null_rates(kind, n=300, rounds=rounds, seed=12)
    assert per_coefficient < 0.08, per_coefficient
    assert dyads < 0.14, dyads


def _fit_rows(own: list[float], reaction: list[float], p: list[float]) -> pd.DataFrame:
    k = len(own)
    return pd.DataFrame(
        {
            "reaction": reaction,
            "fatigue": [1.0 - o for o in own],
            "se_reaction": [0.001] * k,
            "se_fatigue": [0.001] * k,
            "cov_reaction_own": [0.0] * k,
            "dof": [20] * k,
            "ok": [True] * k,
            "cond": [2.0] * k,
            "react_ok": [True] * k,
            "p_react": p,
        }
    )


def test_runaway_says_whether_it_comes_from_reaction_or_own_growth() -> None:
    # dyad 0: own coefficients 0.95, reactions 0.2 and 0.15: rho 1.12 only through reaction
    # dyad 1: own coefficient 1.05 on one side (negative fatigue), no reaction needed for rho > 1
    # dyad 2: as dyad 0, but only a's reaction test rejects
    fx = _fit_rows([0.95, 1.05, 0.95], [0.20, 0.01, 0.20], [0.001, 0.001, 0.001])
    fy = _fit_rows([0.95, 0.90, 0.95], [0.15, 0.01, 0.15], [0.001, 0.001, 0.30])
    dyn = dynamics(fx, fy)
    assert (dyn["verdict"] == RUNAWAY).all()
    assert dyn["runaway_source"].tolist() == [MUTUAL_REACTION, SELF_GROWTH, ONE_SIDED]


def test_war_losses_are_shocks_not_decisions() -> None:
    """A war in round 4 destroys 30 of A's arms: the fit is that of the decided changes."""
    rng = np.random.default_rng(2)
    rounds = 12
    growth = {s: rng.uniform(0.0, 8.0, rounds) for s in "AB"}
    arms = {s: [100.0] for s in "AB"}
    for t in range(rounds):
        for s in "AB":
            after = arms[s][-1] * (1 + growth[s][t] / 100)
            arms[s].append(after - (30.0 if (s == "A" and t == 3) else 0.0))
    rows = []
    for t in range(rounds):
        for i, j in (("A", "B"), ("B", "A")):
            rows.append(
                {
                    "run_id": "r",
                    "round": t + 1,
                    "i": i,
                    "j": j,
                    "fallback_i": False,
                    "arms_before_i": arms[i][t],
                    "arms_after_i": arms[i][t + 1],
                    "arms_before_j": arms[j][t],
                    "growth_pct_i": growth[i][t],
                    "growth_pct_j": growth[j][t],
                }
            )
    p = pd.DataFrame(rows)
    wars = pd.DataFrame({"run_id": ["r"], "round": [4], "initiator": ["B"], "target": ["A"]})
    with_war = directed_fits(p, wars).set_index("i")
    ignored = directed_fits(p).set_index("i")
    decided = p.assign(
        arms_after_i=p["arms_before_i"] * (1 + p["growth_pct_i"] / 100)
    )  # the same levels before each round, changes without the loss
    expected = directed_fits(decided).set_index("i")
    assert with_war.loc["A", "reaction"] == pytest.approx(expected.loc["A", "reaction"])
    assert with_war.loc["A", "fatigue"] == pytest.approx(expected.loc["A", "fatigue"])
    assert ignored.loc["A", "reaction"] != pytest.approx(expected.loc["A", "reaction"])
