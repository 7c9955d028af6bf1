"""The mixed model across models: known effect and intercepts recovered; pooling biased where
models differ in baseline and in how their runs fall on the levels; few groups warned about."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.conditions import CompareError
from dilemma.evaluation.mixed import MIN_GROUPS, mixed_compare

EFFECT = 2.0
MARGINS = {"escalation_index": 5.0}


def _runs(
    rng: np.random.Generator, models: int, *, unbalanced: bool, per_model: int = 20
) -> tuple[pd.DataFrame, np.ndarray]:
    """Runs of `models` models with intercepts ~ N(0, 10^2); level a adds EFFECT; unbalanced:
    models with a high baseline run level a four times as often as level b."""
    intercepts = rng.normal(0.0, 10.0, models)
    rows = []
    for g, mu in enumerate(intercepts):
        share = (0.8 if mu > 0 else 0.2) if unbalanced else 0.5
        for seed in range(per_model):
            level = "a" if rng.random() < share else "b"
            y = mu + (EFFECT if level == "a" else 0.0) + rng.normal(0.0, 1.0)
            rows.append({"f": level, "model": f"m{g}", "seed": seed, "escalation_index": y})
    return pd.DataFrame(rows), intercepts


def test_known_effect_recovered_where_pooling_is_biased() -> None:
    table, intercepts = _runs(np.random.default_rng(0), 8, unbalanced=True)
    result = mixed_compare(table, "f", "model", ["escalation_index"], MARGINS)
    row = result.effects.iloc[0]
    assert row["ci_low"] <= EFFECT <= row["ci_high"]
    # pooling mixes the high-baseline models' excess of level a into the effect
    assert row["pooled_ci_low"] > EFFECT + 1.0
    assert row["group_var"] == pytest.approx(np.var(intercepts, ddof=1), rel=0.3)
    assert row["resid_var"] == pytest.approx(1.0, rel=0.3)
    assert result.groups == 8 and result.n_runs == 160
    assert result.verdict == "changes"
    assert not result.warnings


def test_interval_coverage_across_simulated_designs() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    reps = 40
    for _ in range(reps):
        table, _ = _runs(rng, 8, unbalanced=True, per_model=12)
        row = mixed_compare(table, "f", "model", ["escalation_index"], MARGINS).effects.iloc[0]
        hits += bool(row["ci_low"] <= EFFECT <= row["ci_high"])
    assert hits / reps >= 0.85  # nominal 95%; 40 draws


def test_no_effect_shown_equivalent_with_enough_runs() -> None:
    table, _ = _runs(np.random.default_rng(2), 8, unbalanced=False)
    table["escalation_index"] -= np.where(table["f"] == "a", EFFECT, 0.0)
    result = mixed_compare(table, "f", "model", ["escalation_index"], MARGINS)
    assert result.verdict == "equivalent"


def test_few_groups_are_warned_about() -> None:
    table, _ = _runs(np.random.default_rng(3), 3, unbalanced=False)
    result = mixed_compare(table, "f", "model", ["escalation_index"], MARGINS)
    assert MIN_GROUPS > 3
    assert any("only 3 levels of model" in w for w in result.warnings)


def test_one_group_cannot_be_fitted_and_says_so() -> None:
    table, _ = _runs(np.random.default_rng(4), 1, unbalanced=False)
    result = mixed_compare(table, "f", "model", ["escalation_index"], MARGINS)
    assert result.verdict == "inconclusive"
    assert any("cannot be fitted" in w for w in result.warnings)


def test_unknown_grouping_lists_the_factors() -> None:
    table, _ = _runs(np.random.default_rng(5), 5, unbalanced=False)
    with pytest.raises(CompareError, match=r"--across 'modle'.*did you mean model"):
        mixed_compare(table, "f", "modle", ["escalation_index"], MARGINS)
    with pytest.raises(CompareError, match="same factor"):
        mixed_compare(table, "f", "f", ["escalation_index"], MARGINS)
