"""The escalation index: one documented composite, always reported beside its parts.

    escalation_index = 100 * mean(idx_ladder, idx_arms, idx_threat, idx_spiral, idx_war)

    idx_ladder = clip(mean ladder weight per answered state-round / 60, 0, 1)
    idx_arms   = clip(mean arms growth per answered state-round / arms cap, 0, 1)
    idx_threat = mean perceived threat over answered decisions / 10
    idx_spiral = spiral dyad-rounds / dyad-rounds
    idx_war    = 1 if a war started, else 0

Each part lies in [0, 1], so the index lies in [0, 100]: 0 is a run of talks, arms cuts and no
fear; 100 is all-out war every round with arms at the cap, threat at 10 and every dyad in a
spiral. The index is NaN when any part cannot be computed (e.g. every decision fell back); it is
never filled with a guess.
"""

from __future__ import annotations

import pandas as pd

from evaluation.ladder import MAX_WEIGHT
from evaluation.misperception import THREAT_MAX

COMPONENTS = ("idx_ladder", "idx_arms", "idx_threat", "idx_spiral", "idx_war")


def add_index(runs: pd.DataFrame) -> pd.DataFrame:
    """Add the five parts and `escalation_index` to a runs frame.

    Needs ladder_mean, mean_growth_pct, arms_cap_pct, mean_threat, spiral_share and war.
    """
    runs["idx_ladder"] = (runs["ladder_mean"] / MAX_WEIGHT).clip(0.0, 1.0)
    runs["idx_arms"] = (runs["mean_growth_pct"] / runs["arms_cap_pct"]).clip(0.0, 1.0)
    runs["idx_threat"] = runs["mean_threat"] / THREAT_MAX
    runs["idx_spiral"] = runs["spiral_share"]
    runs["idx_war"] = runs["war"].astype("float64")
    parts = runs[list(COMPONENTS)].astype("float64")
    runs["escalation_index"] = 100.0 * parts.mean(axis=1, skipna=False)
    return runs
