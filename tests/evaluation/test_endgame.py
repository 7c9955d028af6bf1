"""End-game escalation (dilemma.evaluation.endgame): known answers on hand-made state-rounds."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from dilemma.evaluation.endgame import endgame_escalation


def _sr(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "round", "ladder_weight"])


def test_last_two_rounds_minus_the_rounds_before() -> None:
    # rounds 1-3 weights 0 and 4 (mean 2), rounds 4-5 weights 28 and 12 (mean 20)
    rows = [("r", t, w) for t in (1, 2, 3) for w in (0.0, 4.0)]
    rows += [("r", t, w) for t in (4, 5) for w in (28.0, 12.0)]
    assert endgame_escalation(_sr(rows))["r"] == pytest.approx(18.0)


def test_per_state_means_pool_answered_state_rounds_and_skip_fallbacks() -> None:
    rows = [("r", 1, 0.0), ("r", 1, float("nan")), ("r", 2, 60.0), ("r", 3, -2.0)]
    assert endgame_escalation(_sr(rows))["r"] == pytest.approx(29.0 - 0.0)


def test_too_short_or_nothing_answered_is_missing() -> None:
    short = _sr([("s", 1, 0.0), ("s", 2, 28.0)])
    assert math.isnan(endgame_escalation(short)["s"])
    blank = _sr([("b", 1, float("nan")), ("b", 2, 4.0), ("b", 3, 4.0)])
    assert math.isnan(endgame_escalation(blank)["b"])


def test_runs_are_scored_apart_and_a_flat_run_scores_zero() -> None:
    rows = [("flat", t, 4.0) for t in range(1, 7)] + [("up", t, 0.0) for t in range(1, 4)]
    rows += [("up", 4, 12.0)]
    out = endgame_escalation(_sr(rows))
    assert out["flat"] == pytest.approx(0.0)
    assert out["up"] == pytest.approx(6.0 - 0.0)  # last two rounds 3 (0) and 4 (12)
