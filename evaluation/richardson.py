"""Richardson fit per dyad (a, b), with x = arms of a and y = arms of b:

    dx = a*y - m*x + g        dy = b*x - n*y + h

Each equation is fitted by least squares over the run: dx(t) = x(t) - x(t-1) regressed on the
levels y(t-1), x(t-1) and a constant, using the rounds in which that state answered (fallback
rounds are not its behaviour). The verdict is `stable` when m*n > a*b and `runaway` otherwise.
A fit with fewer than MIN_REGRESSION_POINTS rounds, a constant series or collinear series (two
states moving in lockstep, where a and m cannot be told apart) gives `insufficient_data` and no
coefficients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.stats import MIN_REGRESSION_POINTS, group_ols2

STABLE = "stable"
RUNAWAY = "runaway"
INSUFFICIENT = "insufficient_data"

__all__ = ["INSUFFICIENT", "MIN_REGRESSION_POINTS", "RUNAWAY", "STABLE", "directed_fits"]


def directed_fits(p: pd.DataFrame) -> pd.DataFrame:
    """Fit of i's equation against j for every ordered pair: reaction, fatigue, grievance, r2."""
    d = p.loc[
        ~p["fallback_i"], ["run_id", "i", "j", "arms_before_i", "arms_after_i", "arms_before_j"]
    ]
    d = d.assign(dx=d["arms_after_i"] - d["arms_before_i"])
    fit = group_ols2(d, ["run_id", "i", "j"], "dx", "arms_before_j", "arms_before_i")
    return pd.DataFrame(
        {
            "reaction": fit["c1"],
            "fatigue": -fit["c2"],
            "grievance": fit["c0"].where(fit["ok"]),
            "r2": fit["r2"],
            "n_obs": fit["n_obs"],
            "ok": fit["ok"],
        }
    ).reset_index()


def verdict(a: pd.Series, m: pd.Series, b: pd.Series, n: pd.Series) -> pd.Series:
    """`stable` if m*n > a*b, `runaway` if not, `insufficient_data` if any value is missing."""
    known = a.notna() & m.notna() & b.notna() & n.notna()
    stable = (m * n) > (a * b)
    out = np.where(~known, INSUFFICIENT, np.where(stable, STABLE, RUNAWAY))
    return pd.Series(out, index=a.index, dtype="string")
