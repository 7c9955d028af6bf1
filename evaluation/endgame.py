"""End-game escalation: does play escalate in the last rounds (the unravelling of a known horizon)?

endgame_escalation(run) = mean ladder weight per answered state-round in the last K = 2 resolved
rounds of the run, minus the mean ladder weight per answered state-round in the rounds before.
"Last" is the run's realized end, whatever the horizon rule (known, hidden, geometric) or war, so
the measure is defined alike for every horizon; a war-ended run's last rounds hold the war. Ladder
weights are those of the ladder score (de-escalation -2 ... all-out war 60), a mean per state so
the measure compares across numbers of states. NaN when the run resolved fewer than K + 1 rounds
or either part holds no answered state-round. Positive: play escalated at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ENDGAME_K = 2
"""Final rounds compared with the rounds before."""


def endgame_escalation(sr: pd.DataFrame, k: int = ENDGAME_K) -> pd.Series:
    """Per run (index `run_id`): the end-game escalation of state-rounds `sr` (columns run_id,
    round, ladder_weight; NaN weight for fallbacks)."""
    if sr.empty:
        return pd.Series(dtype="float64", name="endgame_escalation")
    last = sr.groupby("run_id", sort=False)["round"].transform("max")
    rounds = sr.groupby("run_id", sort=False)["round"].transform("nunique")
    late = sr["round"] > last - k
    frame = pd.DataFrame(
        {"run_id": sr["run_id"], "late": late, "weight": sr["ladder_weight"].astype("float64")}
    )
    means = frame.groupby(["run_id", "late"], sort=False)["weight"].mean().unstack("late")
    for side in (True, False):
        if side not in means:
            means[side] = np.nan
    out = (means[True] - means[False]).astype("float64")
    enough = rounds.groupby(sr["run_id"], sort=False).first() >= k + 1
    return out.where(enough.reindex(out.index, fill_value=False)).rename("endgame_escalation")
