"""Outcome of a run: how it ended and whether, when and by whom a war started.

The first war in the resolutions gives round, initiator and target; a run_end that reports a war
the resolutions do not hold (a record cut short) still counts. A record without run_end is
`incomplete`.
"""

from __future__ import annotations

import pandas as pd
from dilemma.evaluation.load import Tables

INCOMPLETE = "incomplete"


def run_outcomes(t: Tables) -> pd.DataFrame:
    """Per run: outcome, complete, war, war_round, war_initiator, war_target."""
    runs = t.runs.set_index("run_id")
    first = t.wars.sort_values("round").drop_duplicates("run_id").set_index("run_id")
    out = pd.DataFrame(index=runs.index)
    out["outcome"] = runs["end_outcome"].fillna(INCOMPLETE).astype("string")
    out["complete"] = runs["has_run_end"].astype(bool)
    out["war_round"] = (
        first["round"].reindex(out.index).astype("Int64").fillna(runs["end_war_round"])
    )
    out["war_initiator"] = (
        first["initiator"].reindex(out.index).fillna(runs["end_war_initiator"]).astype("string")
    )
    out["war_target"] = first["target"].reindex(out.index).astype("string")
    out["war"] = out["war_round"].notna() | (out["outcome"] == "war")
    return out.reset_index()
