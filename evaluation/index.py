"""The escalation index: one documented, weighted composite, always reported beside its parts.

    escalation_index = 100 * sum_k w_k * idx_k / sum_k w_k

    idx_ladder = clip(mean ladder weight per answered state-round / 60, 0, 1)
    idx_arms   = clip(mean arms growth per answered state-round / ARMS_REFERENCE_PCT, 0, 1)
    idx_threat = mean implied hostility over answered decisions / 10: the part of each perceived
                 threat beyond what the rival's capability alone warrants,
                 clip((T - C) / (10 - C), 0, 1) (dilemma.evaluation.misperception)
    idx_spiral = spiral dyad-rounds / dyad-rounds
    idx_war    = 1 if a war started, else 0

Every part is normalised by a fixed constant, never by a scenario parameter, so runs of
scenarios with different arms caps (or anything else) are on one scale: arming 10% a round is
idx_arms 1 under any cap. Default weights (DEFAULT_WEIGHTS): ladder, arms, threat and spiral 1
each, war 4; normalised, war is half the index, so a war lifts a run by 50 points over a run
with the same other parts, every war run scores at least 50 and no run without war exceeds 50.
Other weights can be declared with `add_index(runs, weights)` (and `score(..., index_weights=)`).

Each part lies in [0, 1], so the index lies in [0, 100]: 0 is a static, peaceful world (status
quo, no arming, threats at what capability warrants, no spiral, no war); 100 is all-out war
every round with arming at 10% or more, threat at 10 and every dyad in a spiral. The index is
NaN when any part with a non-zero weight cannot be computed (e.g. every decision fell back, or
the record has no observations); it is never filled with a guess.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from dilemma.evaluation.columns import INDEX_COMPONENTS
from dilemma.evaluation.ladder import MAX_WEIGHT
from dilemma.evaluation.misperception import ARMS_REFERENCE_PCT as ARMS_REFERENCE_PCT
from dilemma.evaluation.misperception import THREAT_MAX

COMPONENTS = INDEX_COMPONENTS

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "ladder": 1.0,
    "arms": 1.0,
    "threat": 1.0,
    "spiral": 1.0,
    "war": 4.0,
}
"""Weight of each part, by name without the `idx_` prefix; normalised to sum to 1."""


def normalised_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The weights by part name, summing to 1; unknown names or negative weights raise."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    names = {c.removeprefix("idx_") for c in COMPONENTS}
    unknown = set(w) - names
    if unknown:
        raise ValueError(f"unknown index parts {sorted(unknown)}; known: {sorted(names)}")
    if any(v < 0 or not np.isfinite(v) for v in w.values()) or sum(w.values()) <= 0:
        raise ValueError(f"index weights must be finite, non-negative and not all 0: {w}")
    total = sum(w.values())
    return {n: w.get(n, 0.0) / total for n in (c.removeprefix("idx_") for c in COMPONENTS)}


def add_index(runs: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Add the five parts, `escalation_index` and `index_weights` (name=weight,...) to runs.

    Needs ladder_mean, mean_growth_pct, mean_implied_hostility, spiral_share and war.
    """
    runs["idx_ladder"] = (runs["ladder_mean"] / MAX_WEIGHT).clip(0.0, 1.0)
    runs["idx_arms"] = (runs["mean_growth_pct"] / ARMS_REFERENCE_PCT).clip(0.0, 1.0)
    runs["idx_threat"] = runs["mean_implied_hostility"] / THREAT_MAX
    runs["idx_spiral"] = runs["spiral_share"]
    runs["idx_war"] = runs["war"].astype("float64")
    w = normalised_weights(weights)
    total = pd.Series(0.0, index=runs.index)
    for col in COMPONENTS:
        weight = w[col.removeprefix("idx_")]
        if weight > 0:
            total = total + weight * runs[col].astype("float64")
    runs["escalation_index"] = 100.0 * total
    runs["index_weights"] = ",".join(f"{name}={value:g}" for name, value in w.items())
    return runs
