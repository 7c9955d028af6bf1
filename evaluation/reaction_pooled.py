"""Pooled reaction estimation across the runs of one condition.

One run of 8 rounds has 7 or 8 points per equation: too few to detect a reaction of realistic
size. Pooling the runs of a condition (the seeds of one cell) fits one Richardson equation for
every directed equation i -> j of every run at once:

    d_own(e, t) = k * rival(e, t-1) + c * own(e, t-1) + alpha_e + delta_(role(e), t) + u(e, t)

e is a directed equation of one run (run_id, i, j); d_own is i's arms change in round t, own
and rival the levels before it (`dilemma.evaluation.richardson.equation_rows`: rounds in which
i answered; war losses are shocks, the change is the decided one). k is the reaction to the
rival's arms, common to the condition; c = -fatigue the own-level (own-growth) term. alpha_e
are fixed effects per directed equation and run (each side's grievance in each run), and
delta_(role, t) round effects per role (the ordered pair of state names), common to the runs
of the condition.

Why round effects: with equation effects alone and 8 rounds, the own-level coefficient carries
the O(1/T) bias of fixed effects in short dynamic panels (Nickell 1981), and because arms
levels trend together that bias leaks into k. In simulations (benchmarks/bench_reaction_pooled.py,
20 runs x 8 rounds) such a fit called 77% of never-reacting pools (independent random arming,
fixed rates with noise) a significant reaction. Round effects absorb the common trend of each
role; the fixed effects are partialled out by alternating projections (exact at convergence).

Standard errors are cluster-robust by run (the equations of one run share its history):
CR2 (Bell and McCaffrey 2002; `dilemma.evaluation.cluster_robust`), each run's residuals
adjusted by (I - H_gg)^(-1/2) with H the hat matrix of the full model including every fixed
effect, and t with Bell-McCaffrey degrees of freedom per coefficient (dof_k, dof_fatigue;
about 11-14 for 20 runs of 8 rounds, not G - 1 = 19); statsmodels' CR1 is reported as
se_k_cr1 for comparison. Why: with t(G - 1), the jackknife (CV3) used in 0.4.0 called 6.0%
of never-reacting pools of independent random arming a reaction (3,500 simulated pools of 20
runs x 8 rounds); CR2 with Bell-McCaffrey degrees of freedom 5.4% (4.7-6.2%): closer to 5%,
not shown to be at most 5% (docs/measures.md, benchmarks/bench_reaction_pooled.py). Fixed
rates with noise: 4.4-5.2%.

The fatigue term carries the short-panel fixed-effects bias: when arms follow random walks
(independent random arming) the estimate is about 0.29 against a true -0.025: its interval
covered the truth in none of 1,000 simulated pools. Reported, but not a calibrated test.

Identification (`identified`): at least MIN_RUNS runs, MIN_REGRESSION_POINTS rows, and on the
design after the fixed effects both the level regressors (rival, own) and the lagged growth
rates (rival's and own last change, the regressors of the per-run reaction test) vary and have
condition number at most COND_MAX. Runs in lockstep (hawk against hawk: after the first round
both sides grow at the cap) leave nothing once the fixed effects are removed: insufficient_data.

Verdict per condition: insufficient_data, reaction (the two-sided test of k = 0 rejects at
ALPHA) or reaction_not_detected (with k_mde, the smallest |k| detected with 80% power).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from dilemma.evaluation.cluster_robust import cr2_fit, partial_out
from dilemma.evaluation.reaction import condition_number
from dilemma.evaluation.richardson import COND_MAX, INSUFFICIENT, NOT_DETECTED, reaction_rows
from dilemma.evaluation.stats import MIN_REGRESSION_POINTS
from scipy import stats

ALPHA = 0.05
POWER = 0.80
MIN_RUNS = 3
"""Fewest runs (clusters) of a pooled fit."""
REACTION = "reaction"
POOLED_VERDICTS = (REACTION, NOT_DETECTED, INSUFFICIENT)

EQ = ["run_id", "i", "j"]

POOLED_COLUMNS = (
    "k",
    "se_k",
    "ci_low",
    "ci_high",
    "p_k",
    "dof_k",
    "k_mde",
    "se_k_cr1",
    "fatigue",
    "se_fatigue",
    "p_fatigue",
    "dof_fatigue",
    "n_runs",
    "n_equations",
    "n_obs",
    "cond",
    "cond_growth",
    "identified",
    "verdict",
)

__all__ = [
    "CONTRAST_COLUMNS",
    "MIN_RUNS",
    "POOLED_COLUMNS",
    "POOLED_VERDICTS",
    "REACTION",
    "compare_reaction",
    "contrasts_from_cells",
    "pooled_design",
    "pooled_reaction",
    "pooled_reactions",
    "reaction_contrasts",
    "reaction_rows",
]


def _codes(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    out: np.ndarray = frame.groupby(cols, sort=False).ngroup().to_numpy()
    return out


def _design(rows: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """`cols` with equation and role x round effects partialled out."""
    groups = [_codes(rows, EQ), _codes(rows, ["i", "j", "round"])]
    return partial_out(rows[cols].to_numpy(dtype="float64"), groups)


def _cond(x: np.ndarray, raw: np.ndarray) -> float:
    """Condition number of two partialled regressors; inf where one does not vary."""
    ss = (x * x).sum(axis=0)
    if len(x) < 2 or np.any(ss <= 1e-12 * np.maximum((raw * raw).sum(axis=0), 1e-300)):
        return float("inf")
    xtx_inv = np.linalg.pinv(x.T @ x)
    return float(condition_number(xtx_inv[0, 0], xtx_inv[1, 1], xtx_inv[0, 1]))


def _growth_cond(rows: pd.DataFrame) -> float:
    """Identification of the growth-rate design: lagged rival and own growth after the effects."""
    prev = rows[[*EQ, "round", "growth_own", "growth_rival"]].assign(round=rows["round"] + 1)
    lagged = rows[[*EQ, "round"]].merge(prev, on=[*EQ, "round"]).dropna()
    if len(lagged) < MIN_REGRESSION_POINTS:
        return float("inf")
    cols = ["growth_rival", "growth_own"]
    return _cond(_design(lagged, cols), lagged[cols].to_numpy(dtype="float64"))


def pooled_design(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pooled fit's regressors (rival, own), outcome (d_own), both with the equation and
    role x round effects partialled out, and the cluster (run) code of every complete row."""
    rows = rows.dropna(subset=["d_own", "own", "rival"]).reset_index(drop=True)
    z = _design(rows, ["d_own", "rival", "own"])
    return z[:, 1:], z[:, 0], _codes(rows, ["run_id"])


def _empty(
    n_runs: int, n_equations: int, n_obs: int, cond: float, cond_growth: float
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(POOLED_COLUMNS, float("nan"))
    row.update(
        n_runs=n_runs,
        n_equations=n_equations,
        n_obs=n_obs,
        cond=cond,
        cond_growth=cond_growth,
        identified=False,
        verdict=INSUFFICIENT,
    )
    return row


def pooled_reaction(rows: pd.DataFrame, *, alpha: float = ALPHA) -> dict[str, Any]:
    """The pooled reaction fit of one condition's `reaction_rows`: a dict of POOLED_COLUMNS."""
    rows = rows.dropna(subset=["d_own", "own", "rival"]).reset_index(drop=True)
    n_runs = int(rows["run_id"].nunique())
    n_eq = int(rows[EQ].drop_duplicates().shape[0])
    n = len(rows)
    if n_runs < MIN_RUNS or n < MIN_REGRESSION_POINTS:
        return _empty(n_runs, n_eq, n, float("inf"), float("inf"))
    z = _design(rows, ["d_own", "rival", "own"])
    y, x = z[:, 0], z[:, 1:]
    cond = _cond(x, rows[["rival", "own"]].to_numpy(dtype="float64"))
    cond_growth = _growth_cond(rows)
    if not (cond <= COND_MAX and cond_growth <= COND_MAX):
        return _empty(n_runs, n_eq, n, cond, cond_growth)
    cluster = _codes(rows, ["run_id"])
    cr1 = sm.OLS(y, x).fit(
        cov_type="cluster",
        cov_kwds={"groups": cluster, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    fit = cr2_fit(x, y, cluster, _codes(rows, EQ), _codes(rows, ["i", "j", "round"]))
    b, se, dof = fit.params, fit.se, fit.dof
    q = stats.t.ppf(1 - alpha / 2, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(b / se), dof)
    row: dict[str, Any] = {
        "k": b[0],
        "se_k": se[0],
        "ci_low": b[0] - q[0] * se[0],
        "ci_high": b[0] + q[0] * se[0],
        "p_k": p[0],
        "dof_k": dof[0],
        "k_mde": (q[0] + stats.t.ppf(POWER, dof[0])) * se[0],
        "se_k_cr1": float(np.asarray(cr1.bse)[0]),
        "fatigue": -b[1],
        "se_fatigue": se[1],
        "p_fatigue": p[1],
        "dof_fatigue": dof[1],
        "n_runs": n_runs,
        "n_equations": n_eq,
        "n_obs": n,
        "cond": cond,
        "cond_growth": cond_growth,
        "identified": True,
        "verdict": REACTION if p[0] < alpha else NOT_DETECTED,
    }
    return row


def pooled_reactions(
    rows: pd.DataFrame, runs: pd.DataFrame, by: Sequence[str], *, alpha: float = ALPHA
) -> pd.DataFrame:
    """One pooled fit per condition: the runs with the same values of the columns `by`.

    `rows` are `reaction_rows` (e.g. `Scores.reaction_rows`), `runs` a runs table with run_id
    and the `by` columns (e.g. with their conditions). Returns the `by` columns and
    POOLED_COLUMNS, one row per condition.
    """
    by = list(by)
    labelled = rows.merge(runs[["run_id", *by]], on="run_id", how="inner")
    out = []
    for key, part in labelled.groupby(by, sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        out.append({**dict(zip(by, values, strict=True)), **pooled_reaction(part, alpha=alpha)})
    return pd.DataFrame(out, columns=[*by, *POOLED_COLUMNS])


CONTRAST_COLUMNS = (
    "level_a", "level_b", "diff", "se", "dof", "ci_low", "ci_high", "p_value", "strata",
    "n_runs_a", "n_runs_b",
)  # fmt: skip


def reaction_contrasts(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: str,
    strata: Sequence[str] = (),
    *,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Wald tests of the difference of the pooled reaction coefficient k between levels of `by`.

    Every cell (level x stratum of the `strata` columns) has its own pooled fit (k, own-level
    term, equation and role x round effects: the fully interacted model). The contrast of
    levels a and b is the mean over the strata holding both of k(a, s) - k(b, s) (never pooled
    over the strata). Runs are nested in cells, so the cells' estimates are independent: the
    variance is the sum of the cells' CR2 variances (times the weights squared) and the test is
    t with Welch-Satterthwaite degrees of freedom from the cells' Bell-McCaffrey ones.
    Returns CONTRAST_COLUMNS: level_a, level_b, diff, se, dof, ci_low, ci_high, p_value,
    strata (used) and n_runs_a, n_runs_b.
    """
    strata = [s for s in strata if s != by]
    cells = pooled_reactions(rows, runs[runs[by].notna()], [by, *strata], alpha=alpha)
    return contrasts_from_cells(cells, by, strata, alpha=alpha)


def contrasts_from_cells(
    cells: pd.DataFrame, by: str, strata: Sequence[str] = (), *, alpha: float = ALPHA
) -> pd.DataFrame:
    """The contrasts of k between every pair of levels of `by` from the cells' fits (a
    `pooled_reactions` table by `by` and `strata`); see `reaction_contrasts`."""
    fits: dict[tuple[Any, Any], dict[str, Any]] = {}
    for record in cells.to_dict("records"):
        fits[(record[by], tuple(record[s] for s in strata))] = {
            str(c): v for c, v in record.items()
        }
    levels = sorted({lv for lv, _ in fits})
    out = [_contrast(fits, a, b, alpha) for a, b in itertools.combinations(levels, 2)]
    return pd.DataFrame(out, columns=list(CONTRAST_COLUMNS))


def _contrast(
    fits: dict[tuple[Any, Any], dict[str, Any]], a: Any, b: Any, alpha: float
) -> dict[str, Any]:
    """mean over shared strata of k(a, s) - k(b, s), its variance and Welch-Satterthwaite dof."""
    shared = [
        s
        for (lv, s) in fits
        if lv == a and (b, s) in fits and fits[(a, s)]["identified"] and fits[(b, s)]["identified"]
    ]
    n_a = sum(int(fits[(a, s)]["n_runs"]) for s in shared)
    n_b = sum(int(fits[(b, s)]["n_runs"]) for s in shared)
    row: dict[str, Any] = {"level_a": a, "level_b": b, "strata": len(shared)}
    row |= {"n_runs_a": n_a, "n_runs_b": n_b}
    nan = float("nan")
    if not shared:
        return row | dict.fromkeys(("diff", "se", "dof", "ci_low", "ci_high", "p_value"), nan)
    weight = 1.0 / len(shared)
    parts = [fits[(lv, s)] for s in shared for lv in (a, b)]
    diff = weight * sum(fits[(a, s)]["k"] - fits[(b, s)]["k"] for s in shared)
    var_parts = np.array([(weight * f["se_k"]) ** 2 for f in parts])
    var = float(var_parts.sum())
    dof = var**2 / float(np.sum(var_parts**2 / np.array([f["dof_k"] for f in parts])))
    se = float(np.sqrt(var))
    q = stats.t.ppf(1 - alpha / 2, dof) if se > 0 else nan
    p = float(2.0 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else nan
    return row | {
        "diff": diff,
        "se": se,
        "dof": dof if se > 0 else nan,
        "ci_low": diff - q * se,
        "ci_high": diff + q * se,
        "p_value": p,
    }


def compare_reaction(
    rows: pd.DataFrame, runs: pd.DataFrame, by: str, strata: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled reaction per cell (level of `by` x `strata`) and the contrasts of k between
    the levels of `by` (`reaction_contrasts`). `runs` are the runs compared, with run_id, `by`
    and the strata columns."""
    strata = [s for s in strata if s != by and s in runs.columns]
    runs = runs[runs[by].notna()]
    cells = pooled_reactions(rows, runs, [by, *strata])
    return cells, contrasts_from_cells(cells, by, strata)
