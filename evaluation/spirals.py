"""Spirals, sustained mutual arming and saturation, per dyad and round.

State i *reacts* to j in round t when, in its answered round-t decision,
  - it raises its arms (applied change > 0),
  - it raises its threat level toward j above its answered round t-1 level (strictly: a level
    held, also one held at the maximum 10, is not a rise; with no answered round t-1 level,
    e.g. in round 1, there is no rise),
  - and j's arms rose in a round i could observe: j's applied change was > 0 in round
    `as_of`, the round as of which i's decision-phase observation showed j's arms (exact views
    lag one round, intelligence estimates more). Round 0 (initial arms) shows no rise.
Round t is a *spiral round* for dyad (i, j) when i reacts to j and j reacts to i. A run without
decision-phase observations cannot show what was observable, so its spiral measures are NaN.

Round t is a *mutual-arming round* for dyad (i, j) when it belongs to a stretch of at least
MUTUAL_ARMING_MIN_ROUNDS consecutive rounds in each of which both states armed (answered
decisions, applied change > 0) and neither threat view fell (a view falls when both its round-t
and round t-1 levels are answered and the round-t level is lower). It needs no observations.

Round t is a *saturated round* for dyad (i, j) when at least one side is pinned: its threat
toward the other is at the maximum (10) and its applied arms change is at the scenario's cap.
A pinned side cannot show a rise in threat or arms, so spiral counts are blind there.

Per dyad and run: spiral onset, count and longest run; mutual-arming and saturated round counts.
"""

from __future__ import annotations

import pandas as pd
from dilemma.evaluation.misperception import THREAT_MAX
from dilemma.evaluation.pairs import PAIR_KEY
from dilemma.evaluation.stats import streak_lengths

MUTUAL_ARMING_MIN_ROUNDS = 3
"""k: consecutive rounds of both sides arming (neither threat view falling) that count."""

CAP_TOLERANCE = 1e-9
"""An applied change within this of the cap counts as at the cap."""


def add_reactions(p: pd.DataFrame, sr: pd.DataFrame) -> pd.DataFrame:
    """Add arms_up, threat_up, threat_falls, observed_rise, reacts and saturated to pair rows."""
    prev = p[[*PAIR_KEY, "threat"]].rename(columns={"threat": "threat_prev"})
    prev = prev.assign(round=prev["round"] + 1)
    p = p.merge(prev, on=PAIR_KEY, how="left")
    rise = sr[["run_id", "round", "state", "growth_pct"]].rename(
        columns={"round": "as_of", "state": "j", "growth_pct": "_seen_growth"}
    )
    p = p.merge(rise, on=["run_id", "as_of", "j"], how="left")
    p["arms_up"] = (p["growth_pct_i"] > 0).astype(bool)
    p["threat_up"] = (p["threat"] > p["threat_prev"]).astype(bool)
    p["threat_falls"] = (p["threat"] < p["threat_prev"]).astype(bool)
    p["observed_rise"] = (p["_seen_growth"] > 0).astype(bool)
    p["reacts"] = p["arms_up"] & p["threat_up"] & p["observed_rise"]
    at_cap = p["growth_pct_i"] >= p["arms_cap_pct_i"].astype("float64") - CAP_TOLERANCE
    p["saturated"] = ((p["threat"] >= THREAT_MAX) & at_cap).astype(bool)
    return p.drop(columns=["_seen_growth"])


def spiral_flags(p: pd.DataFrame) -> pd.Series:
    """Per pair row: True when i reacts to j and j reacts to i in the same round."""
    back = p[[*PAIR_KEY, "reacts"]].rename(columns={"i": "j", "j": "i", "reacts": "_back"})
    merged = p[[*PAIR_KEY, "reacts"]].merge(back, on=PAIR_KEY, how="left")
    return pd.Series(
        (merged["reacts"] & merged["_back"].fillna(False).astype(bool)).to_numpy(),
        index=p.index,
    )


def add_dyad_flags(dr: pd.DataFrame) -> pd.DataFrame:
    """Add `arming_both`, `mutual_arming` and `saturated` to dyad rows.

    Needs growth_a, growth_b, threat_falls_ab, threat_falls_ba, saturated_ab, saturated_ba.
    """
    both = (dr["growth_a"] > 0) & (dr["growth_b"] > 0)
    steady = ~dr["threat_falls_ab"].astype(bool) & ~dr["threat_falls_ba"].astype(bool)
    dr["arming_both"] = (both & steady).astype(bool)
    run = streak_lengths(dr, ["run_id", "a", "b"], "round", "arming_both")
    dr["mutual_arming"] = run >= MUTUAL_ARMING_MIN_ROUNDS
    dr["saturated"] = dr["saturated_ab"].astype(bool) | dr["saturated_ba"].astype(bool)
    return dr
