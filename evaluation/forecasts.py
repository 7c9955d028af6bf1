"""Forecast accuracy: i's forecast in round t of j's arms change next round (t + 1).

Error = forecast - j's applied change in round t+1, in percentage points. Pairs are left out when
i's round-t or j's round-(t+1) decision is a fallback, or when the run ended before t + 1.
"""

from __future__ import annotations

import pandas as pd

FORECAST_HORIZON = 1


def add_forecast_error(p: pd.DataFrame, sr: pd.DataFrame) -> pd.DataFrame:
    """Add `forecast_error` to the pair rows."""
    later = sr[["run_id", "round", "state", "growth_pct"]].rename(
        columns={"state": "j", "growth_pct": "_later"}
    )
    later = later.assign(round=later["round"] - FORECAST_HORIZON)
    p = p.merge(later, on=["run_id", "round", "j"], how="left")
    p["forecast_error"] = p["forecast"] - p["_later"]
    return p.drop(columns=["_later"])
