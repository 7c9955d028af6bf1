"""Threat misperception does not depend on the scenario's arms cap; the 'seen' variant uses only
what the observer could have seen (the rival's previous action and its arming as last observed)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation import score

from dilemma.core.decision import Intent
from dilemma.core.ladder import Action
from tests.helpers.records import Move, RecordBuilder


def _identical_behaviour(cap: int, path: Path) -> Path:
    """A arms 4% a round with sanctions on B; B holds; the same moves under any cap >= 4."""
    b = RecordBuilder(["A", "B"], rounds=4, cap=cap, run_id=f"cap{cap}")
    for _ in range(4):
        b.play(
            {
                "A": Move(
                    change=4, action=Action.SANCTIONS, target="B", threat=2, intent=Intent.COERCIVE
                ),
                "B": Move(change=0, threat=6),
            }
        )
    return b.write(path)


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for col, value in where.items():
        mask &= frame[col] == value
    rows = frame[mask]
    assert len(rows) == 1
    return rows.iloc[0]


def test_identical_behaviour_gives_identical_misperception_at_caps_5_to_50(
    tmp_path: Path,
) -> None:
    means = {}
    for cap in (5, 10, 20, 50):
        runs = score(_identical_behaviour(cap, tmp_path / f"c{cap}.jsonl")).runs
        means[cap] = (runs.iloc[0]["mean_misperception"], runs.iloc[0]["mean_misperception_seen"])
    first = means[5]
    for cap, got in means.items():
        assert got == pytest.approx(first, abs=1e-12), cap


def test_arming_is_scored_against_the_fixed_reference(tmp_path: Path) -> None:
    p = score(_identical_behaviour(50, tmp_path / "c50.jsonl")).pair_rounds
    # 4% a round against the fixed 10% reference: R = 4, whatever the cap (50 here)
    assert (p.loc[p["i"] == "A", "arming"] == 4.0).all()
    # H(A->B) = (20/3 + 5 + 4) / 3; parity (C = 3 in round 1); W = 3 + 7 * H / 10
    h = (20 / 3 + 5 + 4) / 3
    r1 = _row(p, round=1, i="B", j="A")
    assert r1["warranted_threat"] == pytest.approx(3 + 7 * h / 10)
    assert r1["misperception"] == pytest.approx(6 - (3 + 7 * h / 10))


def test_seen_warranted_threat_uses_previous_round_only(tmp_path: Path) -> None:
    p = score(_identical_behaviour(10, tmp_path / "c10.jsonl")).pair_rounds
    # round 1: nothing seen yet
    assert math.isnan(_row(p, round=1, i="B", j="A")["misperception_seen"])
    # round 2: B saw A's round-1 sanctions on it (5) and its round-1 arming (4); intent unseen
    r2 = _row(p, round=2, i="B", j="A")
    seen = (5 + 4) / 2
    c = r2["capability"]
    assert r2["warranted_threat_seen"] == pytest.approx(c + (10 - c) * seen / 10)
    assert r2["misperception_seen"] == pytest.approx(6 - r2["warranted_threat_seen"])


def test_seen_warranted_threat_ignores_the_rivals_unseen_current_move(tmp_path: Path) -> None:
    """A's round-2 turn to war changes W for B in round 2 but not W_seen (B could not see it)."""
    seen = {}
    for late in (Action.STATUS_QUO, Action.NUCLEAR_STRIKE):
        b = RecordBuilder(["A", "B"], rounds=2, run_id=late.value, war_ends_run=True)
        b.play({"A": Move(change=2), "B": Move(threat=3)})
        b.play({"A": Move(change=2, action=late, target="B"), "B": Move(threat=3)})
        p = score(b.write(tmp_path / f"{late.value}.jsonl")).pair_rounds
        seen[late] = _row(p, round=2, i="B", j="A")
    assert (
        seen[Action.STATUS_QUO]["warranted_threat"]
        < seen[Action.NUCLEAR_STRIKE]["warranted_threat"]
    )
    assert seen[Action.STATUS_QUO]["warranted_threat_seen"] == pytest.approx(
        seen[Action.NUCLEAR_STRIKE]["warranted_threat_seen"]
    )
