"""Alpha spending across planned looks: known answers, overall level, and the verdict's level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.comparison import Resampling, compare
from dilemma.evaluation.sequential import current_look, nominal_levels, spent
from scipy import stats

from dilemma.records.schema import SequentialPlan
from tests.helpers.sequential_null import null_rates


def test_spending_functions_known_answers() -> None:
    z = stats.norm.isf(0.025)
    assert spent("obrien_fleming", 0.25, 0.05) == pytest.approx(2 * stats.norm.sf(z / 0.5))
    assert spent("pocock", 0.5, 0.05) == pytest.approx(0.05 * math.log(1 + (math.e - 1) / 2))
    for name in ("obrien_fleming", "pocock"):
        assert spent(name, 1.0, 0.05) == pytest.approx(0.05)
        assert nominal_levels((1.0,), 0.05, name) == pytest.approx([0.05])


def test_first_look_spends_exactly_its_share() -> None:
    levels = nominal_levels((0.25, 0.5, 1.0), 0.05, "obrien_fleming")
    assert levels[0] == pytest.approx(spent("obrien_fleming", 0.25, 0.05), rel=1e-9)
    assert levels[0] < levels[1] < levels[2] < 0.05


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_boundaries_keep_the_overall_level(spending: str) -> None:
    # Brownian motion at the looks: the chance of crossing any boundary is alpha
    t = np.array([0.25, 0.5, 1.0])
    rng = np.random.default_rng(0)
    steps = rng.normal(0.0, 1.0, (400_000, 3)) * np.sqrt(np.diff(np.r_[0.0, t]))
    z = steps.cumsum(axis=1) / np.sqrt(t)
    bounds = stats.norm.isf(np.array(nominal_levels(tuple(t), 0.05, spending)) / 2)
    crossed = (np.abs(z) >= bounds).any(axis=1).mean()
    assert crossed == pytest.approx(0.05, abs=0.0015)
    first = (np.abs(z[:, 0]) >= bounds[0]).mean()
    assert first == pytest.approx(spent(spending, 0.25, 0.05), abs=0.0015)  # type: ignore[arg-type]


def test_current_look_from_seeds() -> None:
    plan = SequentialPlan(looks=[10, 20, 40], spending="obrien_fleming")
    first = current_look(plan, 10, 0.05)
    assert (first.number, first.planned, first.next_look) == (1, True, 20)
    assert first.nominal_alpha < 0.001
    last = current_look(plan, 40, 0.05)
    assert (last.number, last.next_look) == (3, None)
    assert 0.04 < last.nominal_alpha < 0.05
    between = current_look(plan, 15, 0.05)
    assert (between.number, between.planned, between.next_look) == (2, False, 20)


def _paired(d: np.ndarray) -> pd.DataFrame:
    rows = [{"f": "a", "seed": i, "mean_threat": 4.0 + x} for i, x in enumerate(d)]
    rows += [{"f": "b", "seed": i, "mean_threat": 4.0} for i in range(len(d))]
    return pd.DataFrame(rows)


def test_an_early_look_needs_the_spending_boundary() -> None:
    # 10 pairs, all differences positive: exact sign-flip p = 2 / 1024, below 0.05 but above
    # the O'Brien-Fleming level of the first of three looks
    table = _paired(np.linspace(0.2, 1.1, 10))
    kwargs = {"primary": ["mean_threat"], "secondary": []}
    plain = compare(table, "f", resampling=Resampling(n_boot=99), **kwargs)  # type: ignore[arg-type]
    plan = SequentialPlan(looks=[10, 20, 40])
    planned = compare(table, "f", resampling=Resampling(n_boot=99, plan=plan), **kwargs)  # type: ignore[arg-type]
    assert plain.verdict == "changes" and plain.look is None
    assert planned.verdict != "changes"
    assert planned.look is not None and planned.look.number == 1
    assert planned.alpha == pytest.approx(planned.look.nominal_alpha)
    assert "look 1 of 3" in planned.summary
    at_last = compare(
        _paired(np.linspace(0.2, 1.1, 40)),
        "f",
        resampling=Resampling(n_boot=99, plan=plan),
        **kwargs,  # type: ignore[arg-type]
    )
    assert at_last.verdict == "changes" and at_last.look is not None
    assert at_last.look.number == 3


@pytest.mark.slow  # 200 simulated null experiments x 3 looks: a statistical calibration
def test_planned_looks_keep_false_changes_at_alpha(capsys: pytest.CaptureFixture[str]) -> None:
    planned, unplanned = null_rates(200, seed=2026)
    with capsys.disabled():
        print(
            f"\nnull, 200 experiments, looks at 10/20/40 seeds: 'changes' at any look"
            f" {planned:.1%} with the O'Brien-Fleming plan, {unplanned:.1%} comparing at alpha"
            " each time"
        )
    assert planned <= 0.08
    assert unplanned > planned
