"""Arms measures: growth per state and round, arms ratio per dyad, cumulative change.

Arms *levels* are facts of the world and are always kept. The growth rate of a state-round whose
decision was a fallback is not behaviour of the state, so it is NaN there (and counted in the
data-quality columns); means of growth cover answered state-rounds only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dilemma.evaluation.load import Tables

KEY = ["run_id", "round", "state"]


def state_rounds(t: Tables) -> pd.DataFrame:
    """One row per state and resolved round: arms, growth and the decision behind it.

    A state-round is a fallback when its decision was flagged or the resolution says so.
    `announced_prev` is what the state announced for this round in its previous decision.
    """
    out = t.outcomes.rename(columns={"fallback": "resolved_fallback", "requested": "_req"})
    dec = t.decisions[[*KEY, "fallback", "attempts", "requested", "announced_next"]]
    sr = out.merge(dec, on=KEY, how="left")
    sr["fallback"] = sr["fallback"].fillna(True).astype(bool) | sr["resolved_fallback"].astype(bool)
    sr["attempts"] = sr["attempts"].fillna(0).astype("int64")
    sr = sr.merge(t.states[["run_id", "state", "pos"]], on=["run_id", "state"], how="left")
    sr = sr.merge(t.runs[["run_id", "arms_cap_pct"]], on="run_id", how="left")
    answered = ~sr["fallback"]
    sr["growth_pct"] = sr["applied_change"].where(answered).astype("float64")
    prev = t.decisions.loc[~t.decisions["fallback"], [*KEY, "announced_next"]].copy()
    prev["round"] = prev["round"] + 1
    sr = sr.drop(columns=["announced_next", "_req"]).merge(
        prev.rename(columns={"announced_next": "announced_prev"}), on=KEY, how="left"
    )
    sr["announced_prev"] = sr["announced_prev"].astype("float64")
    initial = t.states.set_index(["run_id", "state"])["initial_arms"]
    start = pd.Series(
        initial.reindex(pd.MultiIndex.from_frame(sr[["run_id", "state"]])).to_numpy(),
        index=sr.index,
    )
    sr["cum_change_pct"] = cumulative_change_pct(start, sr["arms_after"])
    return sr.sort_values(["run_id", "round", "pos"]).reset_index(drop=True)


def cumulative_change_pct(first_before: pd.Series, last_after: pd.Series) -> pd.Series:
    """Percent change of arms from the start to the end; NaN from a zero start."""
    start = first_before.astype("float64").replace(0.0, np.nan)
    return (last_after.astype("float64") / start - 1.0) * 100.0


def state_arms(sr: pd.DataFrame) -> pd.DataFrame:
    """Per run and state: initial and final arms, cumulative change, mean answered growth."""
    g = sr.sort_values("round").groupby(["run_id", "state"], sort=False)
    agg = pd.DataFrame(
        {
            "initial_arms": g["arms_before"].first(),
            "final_arms": g["arms_after"].last(),
            "mean_growth_pct": g["growth_pct"].mean(),
        }
    )
    agg["cum_arms_change_pct"] = cumulative_change_pct(agg["initial_arms"], agg["final_arms"])
    return agg.reset_index()


def arms_ratio(arms_a: pd.Series, arms_b: pd.Series) -> pd.Series:
    """Arms of a over arms of b; NaN when b has none."""
    return arms_a.astype("float64") / arms_b.astype("float64").replace(0.0, np.nan)
