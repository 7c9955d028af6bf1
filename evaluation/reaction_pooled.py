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
effect; statsmodels' CR1 is reported as se_k_cr1 for comparison.

The test of k = 0 (p_k, verdict) is the wild cluster restricted bootstrap of the CR2 t
statistic (WCR: Cameron, Gelbach and Miller 2008; MacKinnon and Webb 2018;
`dilemma.evaluation.wild_bootstrap`, built from numpy since statsmodels has none): the model
is refitted with k = 0 imposed, each run's restricted residuals are multiplied by one Mammen
weight per draw (DRAWS = 999 draws from the caller's seeded generator; `compare --seed`), every
draw is refitted with all fixed effects and studentized by its own CR2 standard error, and p_k
is the share of draws with |t*| >= |t|. crit_k is the 95% quantile of |t*| (k_mde uses it).
The interval (ci_low, ci_high) inverts the same test: the k0 whose bootstrap with k = k0
imposed (same weights) does not reject. The analytic test it replaced, t with Bell-McCaffrey
degrees of freedom (dof_k, about 11-14 for 20 runs of 8 rounds), stays as p_k_bm. Why: on the
same 1,000 simulated pools of independent random arming (20 runs x 8 rounds,
benchmarks/bench_reaction_pooled.py --seed 1) the analytic test called 6.4% (5.0-8.1%) a
reaction and the bootstrap 4.2% (3.0-5.6%); fixed rates with noise 3.4-3.6% (analytic
4.4-4.8%); coverage of the reactive systems' k 95.2% and 96.4% (docs/measures.md). Mammen
rather than Rademacher weights: with Rademacher weights (the benchmark's --weights) 5.2% of
1,000 random-arming pools, and 93.8% coverage for the stable system. The bootstrap costs about
5 ms a condition beyond the fit (43-57 ms CPU in all).

The fatigue term carries the short-panel fixed-effects bias: when arms follow random walks
(independent random arming) the estimate is about 0.29 against a true -0.025: its interval
covered the truth in 3 of 1,000 simulated pools and p_fatigue was below 0.05 in 99.5%
(bench_reaction_pooled.py --seed 1). Reported with its CR2 / Bell-McCaffrey t (se_fatigue,
p_fatigue, dof_fatigue), but descriptive: not a calibrated test.

Identification (`identified`): at least MIN_RUNS runs, MIN_REGRESSION_POINTS rows, and on the
design after the fixed effects both the level regressors (rival, own) and the lagged growth
rates (rival's and own last change, the regressors of the per-run reaction test) vary and have
condition number at most COND_MAX. Runs in lockstep (hawk against hawk: after the first round
both sides grow at the cap) leave nothing once the fixed effects are removed: insufficient_data.

Verdict per condition: insufficient_data, reaction (the two-sided bootstrap test of k = 0
rejects at ALPHA) or reaction_not_detected (with k_mde, the smallest |k| detected with 80% power).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from dilemma.evaluation.cluster_robust import cr2_fit, partial_out
from dilemma.evaluation.reaction_permutation import CellPool, permutation_test, regressor_condition
from dilemma.evaluation.richardson import COND_MAX, INSUFFICIENT, NOT_DETECTED, reaction_rows
from dilemma.evaluation.stats import MIN_REGRESSION_POINTS
from dilemma.evaluation.wild_bootstrap import WildParts, cluster_weights, wild_parts
from scipy import stats

ALPHA = 0.05
POWER = 0.80
DRAWS = 999
"""Wild cluster bootstrap draws per condition (contrasts relabel runs:
`dilemma.evaluation.reaction_permutation`)."""
WEIGHTS = "mammen"
SEED = 0
"""Seed of the bootstrap when the caller passes no generator (`compare --seed` does)."""
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
    "p_k_bm",
    "crit_k",
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
    "CellData",
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


def _growth_cond(rows: pd.DataFrame) -> float:
    """Identification of the growth-rate design: lagged rival and own growth after the effects."""
    prev = rows[[*EQ, "round", "growth_own", "growth_rival"]].assign(round=rows["round"] + 1)
    lagged = rows[[*EQ, "round"]].merge(prev, on=[*EQ, "round"]).dropna()
    if len(lagged) < MIN_REGRESSION_POINTS:
        return float("inf")
    cols = ["growth_rival", "growth_own"]
    return regressor_condition(_design(lagged, cols), lagged[cols].to_numpy(dtype="float64"))


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


def pooled_reaction(
    rows: pd.DataFrame,
    *,
    alpha: float = ALPHA,
    rng: np.random.Generator | None = None,
    draws: int = DRAWS,
) -> dict[str, Any]:
    """The pooled reaction fit of one condition's `reaction_rows`: a dict of POOLED_COLUMNS.

    The test of k = 0 is the wild cluster restricted bootstrap (`draws` Mammen draws from
    `rng`, default seeded with SEED)."""
    rng = np.random.default_rng(SEED) if rng is None else rng
    return _pooled(rows, alpha, rng, draws)[0]


def _pooled(
    rows: pd.DataFrame, alpha: float, rng: np.random.Generator, draws: int
) -> tuple[dict[str, Any], WildParts | None]:
    """The fit of `pooled_reaction` and the bootstrap parts of k (None if not identified)."""
    rows = rows.dropna(subset=["d_own", "own", "rival"]).reset_index(drop=True)
    n_runs = int(rows["run_id"].nunique())
    n_eq = int(rows[EQ].drop_duplicates().shape[0])
    n = len(rows)
    if n_runs < MIN_RUNS or n < MIN_REGRESSION_POINTS:
        return _empty(n_runs, n_eq, n, float("inf"), float("inf")), None
    z = _design(rows, ["d_own", "rival", "own"])
    y, x = z[:, 0], z[:, 1:]
    cond = regressor_condition(x, rows[["rival", "own"]].to_numpy(dtype="float64"))
    cond_growth = _growth_cond(rows)
    if not (cond <= COND_MAX and cond_growth <= COND_MAX):
        return _empty(n_runs, n_eq, n, cond, cond_growth), None
    cluster = _codes(rows, ["run_id"])
    cr1 = sm.OLS(y, x).fit(
        cov_type="cluster",
        cov_kwds={"groups": cluster, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    groups = [_codes(rows, EQ), _codes(rows, ["i", "j", "round"])]
    fit = cr2_fit(x, y, cluster, *groups)
    b, se, dof = fit.params, fit.se, fit.dof
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2.0 * stats.t.sf(np.abs(b / se), dof)
    parts = wild_parts(fit, x, y, cluster, groups, coef=0)
    weights = cluster_weights(fit.n_clusters, draws, rng, WEIGHTS)
    boot = parts.wild_t(weights)
    crit = boot.critical(alpha)
    p_k = boot.p_value
    ci_low, ci_high = parts.interval(weights, alpha)
    row: dict[str, Any] = {
        "k": b[0],
        "se_k": se[0],
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_k": p_k,
        "dof_k": dof[0],
        "p_k_bm": p[0],
        "crit_k": crit,
        "k_mde": (crit + stats.t.ppf(POWER, dof[0])) * se[0],
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
        "verdict": REACTION if p_k < alpha else NOT_DETECTED,
    }
    return row, parts


def pooled_reactions(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: Sequence[str],
    *,
    alpha: float = ALPHA,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """One pooled fit per condition: the runs with the same values of the columns `by`.

    `rows` are `reaction_rows` (e.g. `Scores.reaction_rows`), `runs` a runs table with run_id
    and the `by` columns (e.g. with their conditions). Returns the `by` columns and
    POOLED_COLUMNS, one row per condition. The conditions' bootstraps draw from `rng` (default
    seeded with SEED) one after the other, in the order of the table.
    """
    return _cells(rows, runs, by, alpha, rng)[0]


@dataclass(frozen=True)
class CellData:
    """What a contrast needs of one cell beyond its fit: its reaction rows and the bootstrap
    parts of k (None if not identified)."""

    rows: pd.DataFrame
    parts: WildParts | None


def _cells(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: Sequence[str],
    alpha: float,
    rng: np.random.Generator | None,
) -> tuple[pd.DataFrame, list[CellData]]:
    """`pooled_reactions` and the rows and bootstrap parts of every cell, row for row."""
    rng = np.random.default_rng(SEED) if rng is None else rng
    by = list(by)
    labelled = rows.merge(runs[["run_id", *by]], on="run_id", how="inner")
    out = []
    data = []
    for key, part in labelled.groupby(by, sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        fit, wild = _pooled(part, alpha, rng, DRAWS)
        out.append({**dict(zip(by, values, strict=True)), **fit})
        data.append(CellData(part, wild))
    return pd.DataFrame(out, columns=[*by, *POOLED_COLUMNS]), data


CONTRAST_COLUMNS = (
    "level_a", "level_b", "diff", "se", "dof", "ci_low", "ci_high", "p_value", "p_relabel",
    "p_exact", "se_perm", "p_boot", "p_welch", "strata", "n_runs_a", "n_runs_b",
)  # fmt: skip


def reaction_contrasts(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: str,
    strata: Sequence[str] = (),
    *,
    alpha: float = ALPHA,
    rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Tests of the difference of the pooled reaction coefficient k between levels of `by`.

    Every cell (level x stratum of the `strata` columns) has its own pooled fit (k, own-level
    term, equation and role x round effects: the fully interacted model). The contrast of
    levels a and b is the mean over the strata holding both of k(a, s) - k(b, s) (never pooled
    over the strata). Runs are nested in cells, so the cells' estimates are independent: se is
    the root of the sum of the cells' CR2 variances (times the weights squared).

    The test of diff = 0 calls a difference only when two tests both reject (p_value is the
    larger of their p-values, the interval the hull of their intervals), so that its
    false-positive rate is at most the smaller of theirs under any null:
    - p_relabel: runs relabelled between the two cells of every stratum
      (`dilemma.evaluation.reaction_permutation`; every relabelling counted when there are at
      most 1,000, p_exact; otherwise 999 random ones from `rng`), studentized by the cells'
      CR1 standard errors (se_perm). At most alpha when the factor changes nothing (runs
      exchangeable); above it when the levels differ in their dynamics but not in k.
    - p_boot: the wild cluster restricted bootstrap of t = diff / se, k imposed at the cells'
      common value in every stratum, each cell's runs with their own Mammen weights. Valid
      when the levels' dynamics differ, slightly above alpha when they do not.
    p_welch is the t test with Welch-Satterthwaite degrees of freedom (dof) from the cells'
    Bell-McCaffrey ones. Returns CONTRAST_COLUMNS.
    """
    strata = [s for s in strata if s != by]
    rng = np.random.default_rng(SEED) if rng is None else rng
    cells, data = _cells(rows, runs[runs[by].notna()], [by, *strata], alpha, rng)
    return contrasts_from_cells(cells, by, strata, alpha=alpha, data=data, rng=rng)


def contrasts_from_cells(
    cells: pd.DataFrame,
    by: str,
    strata: Sequence[str] = (),
    *,
    alpha: float = ALPHA,
    data: Sequence[CellData] | None = None,
    rng: np.random.Generator | None = None,
    draws: int = DRAWS,
) -> pd.DataFrame:
    """The contrasts of k between every pair of levels of `by` from the cells' fits (a
    `pooled_reactions` table by `by` and `strata`); see `reaction_contrasts`. `data` are the
    cells' rows and bootstrap parts, row for row (`_cells`); without them p_value and the
    interval are the Welch t test's (p_welch)."""
    fits: dict[tuple[Any, Any], dict[str, Any]] = {}
    cell_data: dict[tuple[Any, Any], CellData] = {}
    for n, record in enumerate(cells.to_dict("records")):
        key = (record[by], tuple(record[s] for s in strata))
        fits[key] = {str(c): v for c, v in record.items()}
        if data is not None:
            cell_data[key] = data[n]
    rng = np.random.default_rng(SEED) if rng is None else rng
    levels = sorted({lv for lv, _ in fits})
    out = [
        _contrast(fits, cell_data if data is not None else None, a, b, alpha, rng, draws)
        for a, b in itertools.combinations(levels, 2)
    ]
    return pd.DataFrame(out, columns=list(CONTRAST_COLUMNS))


def cell_pool(a: pd.DataFrame, b: pd.DataFrame) -> CellPool:
    """The complete reaction rows of cells a and b of one stratum, pooled for relabelling
    (a's runs first)."""
    shared = set(a["run_id"]) & set(b["run_id"])
    if shared:
        raise ValueError(f"runs in both cells of a contrast: {', '.join(sorted(shared)[:3])}")
    both = pd.concat([a, b], ignore_index=True).dropna(subset=["d_own", "own", "rival"])
    run_ids = list(dict.fromkeys([*a["run_id"], *b["run_id"]]))
    present = set(both["run_id"])
    run_ids = [r for r in run_ids if r in present]
    order = {r: n for n, r in enumerate(run_ids)}
    return CellPool(
        values=both[["d_own", "rival", "own"]].to_numpy(dtype="float64"),
        equation=_codes(both, EQ),
        role_round=_codes(both, ["i", "j", "round"]),
        run=both["run_id"].map(order).to_numpy(dtype="int64"),
        n_a=len(present & set(a["run_id"])),
    )


def _contrast_draws(
    cells: Sequence[tuple[WildParts, WildParts]],
    weight: float,
    rng: np.random.Generator,
    draws: int,
) -> np.ndarray:
    """Bootstrap t of the contrast under the null: per stratum the pair (a, b) of cells' parts,
    k imposed at their common value, independent weights per cell."""
    diff = np.zeros(draws)
    var = np.zeros(draws)
    for pa, pb in cells:
        null = (pa.num + pb.num) / (pa.den + pb.den)
        for part, sign in ((pa, 1.0), (pb, -1.0)):
            dev, se = part.draws(cluster_weights(part.clusters, draws, rng, WEIGHTS), null)
            diff += sign * weight * dev
            var += (weight * se) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(var > 0, diff / np.sqrt(var), 0.0)
    return out


_UNTESTED = ("ci_low", "ci_high", "p_value", "p_relabel", "se_perm", "p_boot")


def _contrast(
    fits: dict[tuple[Any, Any], dict[str, Any]],
    data: dict[tuple[Any, Any], CellData] | None,
    a: Any,
    b: Any,
    alpha: float,
    rng: np.random.Generator,
    draws: int,
) -> dict[str, Any]:
    """mean over shared strata of k(a, s) - k(b, s), its variance, Welch-Satterthwaite dof and
    (with the cells' `data`) the relabelling and bootstrap tests, combined."""
    shared = [
        s
        for (lv, s) in fits
        if lv == a and (b, s) in fits and fits[(a, s)]["identified"] and fits[(b, s)]["identified"]
    ]
    n_a = sum(int(fits[(a, s)]["n_runs"]) for s in shared)
    n_b = sum(int(fits[(b, s)]["n_runs"]) for s in shared)
    row: dict[str, Any] = {"level_a": a, "level_b": b, "strata": len(shared)}
    row |= {"n_runs_a": n_a, "n_runs_b": n_b, "p_exact": False}
    nan = float("nan")
    if not shared:
        return row | dict.fromkeys(("diff", "se", "dof", "p_welch", *_UNTESTED), nan)
    weight = 1.0 / len(shared)
    parts = [fits[(lv, s)] for s in shared for lv in (a, b)]
    diff = weight * sum(fits[(a, s)]["k"] - fits[(b, s)]["k"] for s in shared)
    var_parts = np.array([(weight * f["se_k"]) ** 2 for f in parts])
    var = float(var_parts.sum())
    dof = var**2 / float(np.sum(var_parts**2 / np.array([f["dof_k"] for f in parts])))
    se = float(np.sqrt(var))
    p_welch = float(2.0 * stats.t.sf(abs(diff) / se, dof)) if se > 0 else nan
    row |= {"diff": diff, "se": se, "dof": dof if se > 0 else nan, "p_welch": p_welch}
    row |= {"p_relabel": nan, "se_perm": nan, "p_boot": nan}
    wild = [(data[(a, s)].parts, data[(b, s)].parts) for s in shared] if data else []
    if data is None or not se > 0 or any(pa is None or pb is None for pa, pb in wild):
        q = stats.t.ppf(1 - alpha / 2, dof) if se > 0 else nan
        return row | {"ci_low": diff - q * se, "ci_high": diff + q * se, "p_value": p_welch}
    pools = [cell_pool(data[(a, s)].rows, data[(b, s)].rows) for s in shared]
    relabel = permutation_test(pools, rng, draws)
    q_relabel = relabel.critical(alpha)
    t_star = np.abs(_contrast_draws(wild, weight, rng, draws))  # type: ignore[arg-type]
    p_boot = float(np.mean(t_star >= abs(diff) / se))
    q_boot = float(np.quantile(t_star, 1.0 - alpha))
    return row | {
        "ci_low": min(diff - q_relabel * relabel.se, diff - q_boot * se),
        "ci_high": max(diff + q_relabel * relabel.se, diff + q_boot * se),
        "p_value": max(relabel.p_value, p_boot),
        "p_relabel": relabel.p_value,
        "p_exact": relabel.exact,
        "se_perm": relabel.se,
        "p_boot": p_boot,
    }


def compare_reaction(
    rows: pd.DataFrame,
    runs: pd.DataFrame,
    by: str,
    strata: Sequence[str] = (),
    *,
    seed: int = SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled reaction per cell (level of `by` x `strata`) and the contrasts of k between
    the levels of `by` (`reaction_contrasts`). `runs` are the runs compared, with run_id, `by`
    and the strata columns; `seed` seeds every bootstrap (the same seed, the same p)."""
    strata = [s for s in strata if s != by and s in runs.columns]
    runs = runs[runs[by].notna()]
    rng = np.random.default_rng(seed)
    cells, data = _cells(rows, runs, [by, *strata], ALPHA, rng)
    return cells, contrasts_from_cells(cells, by, strata, data=data, rng=rng)
