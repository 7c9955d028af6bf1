"""Data quality: parse failures and fallbacks per state and model.

A decision event with `attempts` tries holds attempts - 1 failed tries when it was answered and
attempts failed tries when it fell back. Fallback decisions are excluded from every behavioural
measure and counted here, so a model that fails to answer does not look peaceful.
"""

from __future__ import annotations

import pandas as pd
from dilemma.evaluation.load import Tables


def state_quality(t: Tables) -> pd.DataFrame:
    """Per run and state: decisions, fallbacks, attempts, parse failures, negotiation fallbacks."""
    d = t.decisions
    failures = d["attempts"] - (~d["fallback"]).astype("int64")
    g = d.assign(failures=failures.clip(lower=0)).groupby(["run_id", "state"], sort=False)
    out = pd.DataFrame(
        {
            "decisions": g.size(),
            "fallbacks": g["fallback"].sum(),
            "attempts": g["attempts"].sum(),
            "parse_failures": g["failures"].sum(),
        }
    )
    neg = t.negotiation_fallbacks.groupby(["run_id", "state"]).size()
    out = out.join(neg.rename("negotiation_fallbacks"), how="outer").fillna(0).astype("int64")
    return out.reset_index()


def rates(
    fallbacks: pd.Series, decisions: pd.Series, failures: pd.Series, attempts: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """fallback_rate and parse_failure_rate (NaN where nothing was asked)."""
    fb = fallbacks / decisions.where(decisions > 0)
    pf = failures / attempts.where(attempts > 0)
    return fb.astype("float64"), pf.astype("float64")


def by_model(states: pd.DataFrame) -> pd.DataFrame:
    """Data quality pooled per model over all runs in a states table."""
    g = states.groupby("model", sort=True)
    out = g[["decisions", "fallbacks", "attempts", "parse_failures", "negotiation_fallbacks"]].sum()
    out["runs"] = g["run_id"].nunique()
    out["fallback_rate"], out["parse_failure_rate"] = rates(
        out["fallbacks"], out["decisions"], out["parse_failures"], out["attempts"]
    )
    return out.reset_index()
