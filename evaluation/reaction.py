"""The reaction test of the arms-race dynamics: a Granger-style test in growth rates.

For i's equation against j, over the rounds t in which i answered (round t) and both i and j
answered the round before (t - 1):

    g_i(t) = c + beta * g_j(t-1) + phi * g_i(t-1) + e(t)

g is the applied arms change in percent (the decided change after the rules; war losses are not
part of it, so they never enter the test as a decision). beta is i's reaction to j's last
change; the test is the two-sided OLS t-test of beta = 0 with n - 3 degrees of freedom.

Why growth rates and not the Richardson levels: arms levels trend, and t-tests of one trending
level on another reject far more often than their nominal level. In simulations of 2,000
dyads per design (benchmarks/bench_richardson_calibration.py) the t-test of the level
coefficient rejects 12-21% of independent random-arming dyads and 15-33% of fixed-rate dyads
with 1% noise, per coefficient, at 8 and 20 rounds; this growth-rate test 4.8-5.8%. (First
differences of levels, tried too, rejected up to 60% of fixed-rate dyads at 20 rounds.)

Identification: the test needs j's and i's previous changes to vary and not move together
(`react_ok`, the same rank check as the Richardson fit). Two states arming at a constant rate
(e.g. both at the cap every round) cannot show a reaction or its absence: `react_ok` is False.
`react_mde` is the smallest |beta| the test detects with 80% power at the 5% level,
(t(0.975, dof) + t(0.80, dof)) * se(beta): beside a non-significant test it says how large a
reaction could have gone unnoticed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dilemma.evaluation.distributions import t_ppf, t_sf
from dilemma.evaluation.stats import group_ols2

ALPHA = 0.05
POWER = 0.80

REACTION_COLUMNS = (
    "react",
    "se_react",
    "p_react",
    "react_mde",
    "react_n",
    "react_ok",
    "react_cond",
)

KEYS = ["run_id", "i", "j"]


def condition_number(u11: np.ndarray, u22: np.ndarray, u12: np.ndarray) -> np.ndarray:
    """Condition number of the two centred, unit-scaled regressors, from (X'X)^-1 entries.

    sqrt((1 + |r|) / (1 - |r|)) with r their correlation: 1 for uncorrelated regressors,
    infinite for collinear ones (NaN entries, i.e. a failed fit, give inf).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(u12) / np.sqrt(u11 * u22)
        out = np.sqrt((1.0 + r) / (1.0 - r))
    return np.where(np.isfinite(out), out, np.inf)


def reaction_tests(p: pd.DataFrame) -> pd.DataFrame:
    """The growth-rate reaction test for every ordered pair of the pair rows.

    `p` has run_id, round, i, j, growth_pct_i and growth_pct_j (NaN where that state's decision
    fell back). Returns one row per (run_id, i, j) with REACTION_COLUMNS.
    """
    cur = p[[*KEYS, "round", "growth_pct_i", "growth_pct_j"]]
    prev = cur.rename(columns={"growth_pct_i": "lag_own", "growth_pct_j": "lag_rival"}).assign(
        round=cur["round"] + 1
    )
    d = cur.merge(prev, on=[*KEYS, "round"], how="left")
    fit = group_ols2(d, KEYS, "growth_pct_i", "lag_rival", "lag_own")
    dof = fit["dof"].to_numpy()
    se = fit["se1"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = fit["c1"].to_numpy() / se
        df = np.maximum(dof, 1)
        p_value = np.where(fit["ok"], 2.0 * t_sf(np.abs(t), df), np.nan)
        mde = (t_ppf(1 - ALPHA / 2, df) + t_ppf(POWER, df)) * se
    out = pd.DataFrame(
        {
            "react": fit["c1"].to_numpy(),
            "se_react": se,
            "p_react": p_value,
            "react_mde": np.where(fit["ok"], mde, np.nan),
            "react_n": fit["n_obs"].to_numpy(),
            "react_ok": fit["ok"].to_numpy(dtype=bool),
            "react_cond": condition_number(
                fit["u11"].to_numpy(), fit["u22"].to_numpy(), fit["u12"].to_numpy()
            ),
        },
        index=fit.index,
    )
    return out
