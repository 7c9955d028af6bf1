"""Spiral detection: rounds where both sides of a dyad arm and fear each other more, in reaction.

State i *reacts* to j in round t when, in its answered round-t decision,
  - it raises its arms (applied change > 0),
  - it raises its threat level toward j over its answered round t-1 level (a level already at
    the maximum, 10, that stays there counts as raised: a bounded scale cannot rise further),
  - and j's arms rose in a round i could observe: j's applied change was > 0 in round
    `as_of`, the round as of which i's decision-phase observation showed j's arms (exact views
    lag one round, intelligence estimates more). Round 0 (initial arms) shows no rise.
Round t is a spiral round for dyad (i, j) when i reacts to j and j reacts to i. Per dyad and per
run: onset (first spiral round), number of spiral rounds and the longest run of consecutive
spiral rounds. A run without decision-phase observations cannot show what was observable, so its
spiral measures are NaN rather than zero.
"""

from __future__ import annotations

import pandas as pd

from evaluation.misperception import THREAT_MAX
from evaluation.pairs import PAIR_KEY


def add_reactions(p: pd.DataFrame, sr: pd.DataFrame) -> pd.DataFrame:
    """Add arms_up, threat_up, observed_rise and reacts to the pair rows."""
    prev = p[[*PAIR_KEY, "threat"]].rename(columns={"threat": "threat_prev"})
    prev = prev.assign(round=prev["round"] + 1)
    p = p.merge(prev, on=PAIR_KEY, how="left")
    rise = sr[["run_id", "round", "state", "growth_pct"]].rename(
        columns={"round": "as_of", "state": "j", "growth_pct": "_seen_growth"}
    )
    p = p.merge(rise, on=["run_id", "as_of", "j"], how="left")
    p["arms_up"] = (p["growth_pct_i"] > 0).astype(bool)
    at_max = (p["threat"] >= THREAT_MAX) & (p["threat_prev"] >= THREAT_MAX)
    p["threat_up"] = ((p["threat"] > p["threat_prev"]) | at_max).astype(bool)
    p["observed_rise"] = (p["_seen_growth"] > 0).astype(bool)
    p["reacts"] = p["arms_up"] & p["threat_up"] & p["observed_rise"]
    return p.drop(columns=["_seen_growth"])


def spiral_flags(p: pd.DataFrame) -> pd.Series:
    """Per pair row: True when i reacts to j and j reacts to i in the same round."""
    back = p[[*PAIR_KEY, "reacts"]].rename(columns={"i": "j", "j": "i", "reacts": "_back"})
    merged = p[[*PAIR_KEY, "reacts"]].merge(back, on=PAIR_KEY, how="left")
    return pd.Series(
        (merged["reacts"] & merged["_back"].fillna(False).astype(bool)).to_numpy(),
        index=p.index,
    )
