"""Perceived threat: the i -> j matrix over rounds, and its mean and trend per dyad.

Threat levels (0-10) come from answered decisions only; a fallback leaves the cell NaN. The trend
is the OLS slope of the level per round (NaN with fewer than two answered rounds). Means and
trends per dyad are in `Scores.dyads` (threat_*_ab / _ba), per run in `Scores.runs`.
"""

from __future__ import annotations

import pandas as pd


def threat_matrix(pair_rounds: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """One run's threat levels: index round, columns (i, j) = i's perceived threat from j."""
    one = pair_rounds[pair_rounds["run_id"] == run_id]
    if one.empty:
        raise KeyError(run_id)
    return one.pivot(index="round", columns=["i", "j"], values="threat")
