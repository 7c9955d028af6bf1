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

Standard errors are cluster-robust by run (the equations of one run share its history). The
CR1 covariance (statsmodels OLS, cov_type="cluster" with its small-sample correction, t with
G - 1 degrees of freedom) is reported as se_k_cr1, but it under-covers with 20 clusters (about
92% for a 95% interval). Intervals and p-values therefore use the cluster jackknife (CV3;
MacKinnon, Nielsen and Webb 2023): the covariance of the G leave-one-run-out estimates times
(G - 1) / G, with t(G - 1) quantiles.

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
from dilemma.evaluation.reaction import condition_number
from dilemma.evaluation.richardson import COND_MAX, INSUFFICIENT, NOT_DETECTED, equation_rows
from dilemma.evaluation.stats import MIN_REGRESSION_POINTS
from scipy import stats

ALPHA = 0.05
POWER = 0.80
MIN_RUNS = 3
"""Fewest runs (clusters) of a pooled fit."""
REACTION = "reaction"
POOLED_VERDICTS = (REACTION, NOT_DETECTED, INSUFFICIENT)

EQ = ["run_id", "i", "j"]
_TOL = 1e-11
_MAX_SWEEPS = 500

POOLED_COLUMNS = (
    "k",
    "se_k",
    "ci_low",
    "ci_high",
    "p_k",
    "k_mde",
    "se_k_cr1",
    "fatigue",
    "se_fatigue",
    "p_fatigue",
    "n_runs",
    "n_equations",
    "n_obs",
    "cond",
    "cond_growth",
    "identified",
    "verdict",
)

__all__ = [
    "MIN_RUNS",
    "POOLED_COLUMNS",
    "POOLED_VERDICTS",
    "REACTION",
    "compare_reaction",
    "pooled_reaction",
    "pooled_reactions",
    "reaction_contrasts",
    "reaction_rows",
]


def reaction_rows(p: pd.DataFrame, wars: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of every directed equation (`equation_rows`: war losses are shocks) with the
    applied growth rates of i and j in that round (growth_own, growth_rival; NaN on fallback)."""
    rows = equation_rows(p, wars)
    growth = p[["run_id", "round", "i", "j", "growth_pct_i", "growth_pct_j"]].rename(
        columns={"growth_pct_i": "growth_own", "growth_pct_j": "growth_rival"}
    )
    return rows.merge(growth, on=["run_id", "round", "i", "j"], how="left")


def _partial_out(values: pd.DataFrame, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Residuals of every column on the dummies of several groupings (alternating projections)."""
    x = values.to_numpy(dtype="float64").copy()
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    for _ in range(_MAX_SWEEPS):
        before = x.copy()
        for codes in groups:
            sums = np.zeros((codes.max() + 1, x.shape[1]))
            np.add.at(sums, codes, x)
            x -= (sums / np.bincount(codes)[:, None])[codes]
        if np.max(np.abs(x - before)) <= _TOL * scale.max():
            break
    return x


def _codes(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    out: np.ndarray = frame.groupby(cols, sort=False).ngroup().to_numpy()
    return out


def _design(rows: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """`cols` with equation and role x round effects partialled out."""
    groups = [_codes(rows, EQ), _codes(rows, ["i", "j", "round"])]
    return _partial_out(rows[cols], groups)


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


def _leave_one_out(x: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """The OLS estimates without each cluster in turn, one row per cluster."""
    g = cluster.max() + 1
    xtx, xty = x.T @ x, x.T @ y
    a = np.zeros((g, x.shape[1], x.shape[1]))
    np.add.at(a, cluster, x[:, :, None] * x[:, None, :])
    c = np.zeros((g, x.shape[1]))
    np.add.at(c, cluster, x * y[:, None])
    return np.array([np.linalg.lstsq(xtx - a[h], xty - c[h], rcond=None)[0] for h in range(g)])


def _jackknife(x: np.ndarray, y: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """CV3: (G - 1) / G times the covariance of the leave-one-cluster-out estimates."""
    est = _leave_one_out(x, y, cluster)
    g = len(est)
    dev = est - est.mean(axis=0)
    out: np.ndarray = (g - 1) / g * dev.T @ dev
    return out


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
    fit = sm.OLS(y, x).fit(
        cov_type="cluster",
        cov_kwds={"groups": cluster, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    b = np.asarray(fit.params)
    cov = _jackknife(x, y, cluster)
    se = np.sqrt(np.diag(cov))
    dof = n_runs - 1
    q = stats.t.ppf(1 - alpha / 2, dof)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(b / se), dof)
    row: dict[str, Any] = {
        "k": b[0],
        "se_k": se[0],
        "ci_low": b[0] - q * se[0],
        "ci_high": b[0] + q * se[0],
        "p_k": p[0],
        "k_mde": (q + stats.t.ppf(POWER, dof)) * se[0],
        "se_k_cr1": float(np.asarray(fit.bse)[0]),
        "fatigue": -b[1],
        "se_fatigue": se[1],
        "p_fatigue": p[1],
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


def _cell_fit(rows: pd.DataFrame) -> tuple[float, np.ndarray] | None:
    """k and the leave-one-run-out estimates of k of one cell (None: not identified)."""
    fit = pooled_reaction(rows)
    if not fit["identified"]:
        return None
    rows = rows.dropna(subset=["d_own", "own", "rival"]).reset_index(drop=True)
    z = _design(rows, ["d_own", "rival", "own"])
    loo = _leave_one_out(z[:, 1:], z[:, 0], _codes(rows, ["run_id"]))[:, 0]
    return float(fit["k"]), loo


def reaction_contrasts(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: str,
    strata: Sequence[str] = (),
    *,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Wald tests of the difference of the pooled reaction coefficient k between levels of `by`.

    The stacked model gives every cell (level x stratum of the `strata` columns) its own k,
    own-level term, equation and role x round effects: the fully interacted model. The
    contrast of levels a and b is the mean over the strata holding both of k(a, s) - k(b, s)
    (never pooled over the strata). Its variance is the cluster jackknife (CV3) of the stacked
    model, clusters = runs, which are nested in cells: (G - 1) / G times the sum over every
    left-out run of the squared deviation of the contrast. The test is t with
    min(runs at a, runs at b) - 1 degrees of freedom. Returns level_a, level_b, diff, se,
    ci_low, ci_high, p_value, strata (used) and n_runs_a, n_runs_b.
    """
    strata = [s for s in strata if s != by]
    labelled = rows.merge(runs[["run_id", by, *strata]], on="run_id", how="inner")
    labelled = labelled[labelled[by].notna()]
    cells: dict[tuple[Any, Any], Any] = {}
    for key, part in labelled.groupby([by, *strata], sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        cells[(values[0], tuple(values[1:]))] = (_cell_fit(part), part["run_id"].nunique())
    levels = sorted({lv for lv, _ in cells})
    out = []
    for a, b in itertools.combinations(levels, 2):
        out.append(_contrast(cells, a, b, alpha))
    return pd.DataFrame(
        out,
        columns=[
            "level_a", "level_b", "diff", "se", "ci_low", "ci_high", "p_value", "strata",
            "n_runs_a", "n_runs_b",
        ],
    )  # fmt: skip


def _contrast(cells: dict[tuple[Any, Any], Any], a: Any, b: Any, alpha: float) -> dict[str, Any]:
    """mean over shared strata of k(a, s) - k(b, s), with its stacked CV3 variance."""
    shared = [
        s
        for (lv, s) in cells
        if lv == a and (b, s) in cells and cells[(a, s)][0] and cells[(b, s)][0]
    ]
    n_a = sum(cells[(a, s)][1] for s in shared)
    n_b = sum(cells[(b, s)][1] for s in shared)
    row: dict[str, Any] = {"level_a": a, "level_b": b, "strata": len(shared)}
    row |= {"n_runs_a": n_a, "n_runs_b": n_b}
    if not shared:
        nan = float("nan")
        return row | {"diff": nan, "se": nan, "ci_low": nan, "ci_high": nan, "p_value": nan}
    weight = 1.0 / len(shared)
    diff = sum(weight * (cells[(a, s)][0][0] - cells[(b, s)][0][0]) for s in shared)
    # leaving out one run moves only its own cell's k: the contrast moves by weight * that shift
    shifts = [
        sign * weight * (cells[(lv, s)][0][1] - cells[(lv, s)][0][0])
        for s in shared
        for sign, lv in ((1.0, a), (-1.0, b))
    ]
    # the stacked jackknife: deviations of the G leave-one-out contrasts from their mean
    dev = np.concatenate(shifts)
    g = len(dev)
    dev = dev - dev.mean()
    var = (g - 1) / g * float(dev @ dev)
    se = float(np.sqrt(var))
    dof = max(min(n_a, n_b) - 1, 1)
    q = stats.t.ppf(1 - alpha / 2, dof)
    p = float(2.0 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else float("nan")
    return row | {
        "diff": diff,
        "se": se,
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
    return cells, reaction_contrasts(rows, runs, by, strata)
