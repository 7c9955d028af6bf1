"""Accidents: orders carried out one rung higher, and how their victims answer.

- accidents: accidents in the run;
- accident_eligible: answered decisions whose order could misfire (a non-violent or violent
  escalation, `dilemma.core.ladder.ACCIDENT_ESCALATION`);
- accident_share: accidents / accident_eligible;
- retaliation: mean over accidents of the victim's executed rung toward the actor in the round
  after the accident minus its rung toward the actor in the accident round (chosen before it
  knew); NaN when no accident has a next round (a war ended the run) or no victim.

All are missing (NA / NaN) in records before version 4, which had no accident rule.
"""

from __future__ import annotations

import pandas as pd
from dilemma.evaluation.signals import rung_toward

from dilemma.core.ladder import ACCIDENT_ESCALATION, ACTION_RUNG, Action

_ELIGIBLE = {a.value for a in Action if ACTION_RUNG[a] in ACCIDENT_ESCALATION}


def retaliations(accidents: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per accident: the victim's rung toward the actor in the accident round and the next."""
    o = outcomes.assign()
    acc = accidents.dropna(subset=["target"])
    rows = []
    for when, col in ((0, "before"), (1, "after")):
        m = acc.assign(round=acc["round"] + when).merge(
            o[["run_id", "round", "state", "action", "target"]].rename(
                columns={"state": "target", "target": "aim"}
            ),
            on=["run_id", "round", "target"],
            how="left",
        )
        rows.append(rung_toward(m["action"], m["aim"], m["actor"]).rename(col))
    out = acc[["run_id", "round", "actor", "target"]].reset_index(drop=True)
    out["before"] = rows[0].to_numpy()
    out["after"] = rows[1].to_numpy()
    out["retaliation"] = out["after"] - out["before"]
    return out


def add_run_accidents(
    runs: pd.DataFrame, accidents: pd.DataFrame, decisions: pd.DataFrame, outcomes: pd.DataFrame
) -> pd.DataFrame:
    """Add accidents, accident_eligible, accident_share and retaliation to the runs."""
    out = runs.set_index("run_id")
    v4 = out["schema_version"] >= 4
    answered = decisions[~decisions["fallback"]]
    eligible = answered[answered["action"].isin(_ELIGIBLE)].groupby("run_id").size()
    count = accidents.groupby("run_id").size() if not accidents.empty else pd.Series(dtype="int64")
    out["accidents"] = count.reindex(out.index).fillna(0).where(v4).astype("Int64")
    out["accident_eligible"] = eligible.reindex(out.index).fillna(0).where(v4).astype("Int64")
    share = out["accidents"].astype("float64") / out["accident_eligible"].astype("float64")
    out["accident_share"] = share.where(out["accident_eligible"].fillna(0) > 0)
    if accidents.empty:
        out["retaliation"] = float("nan")
    else:
        r = retaliations(accidents, outcomes)
        out["retaliation"] = r.groupby("run_id")["retaliation"].mean()
    return out.reset_index()
