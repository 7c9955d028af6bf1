"""A factor's effect across several models or prompt paraphrases: a linear mixed model.

`compare` treats every other condition, `model` and `prompt_setup` included, as fixed strata:
its verdict is about these models. When the models (or paraphrases) are a sample of many that
could have been used, `mixed_compare(runs, by, across="model")` estimates the factor's effect
with statsmodels `MixedLM`: a random intercept per level of `across` (each model's own
baseline), a fixed effect of `by` (level a against level b, one fit per pair of levels) and
fixed effects of the other conditions that vary (never pooled over them). Fitted by REML; the
effect's interval and p are Wald (normal) from the fit; equivalence is two one-sided z tests
within the margin. Holm's correction runs over the primary measures x level pairs; the verdict
follows the same rules as `compare`'s.

Each measure also gets the pooled estimate (least squares that ignores `across`): where the
groups differ in baseline and in how their runs fall on the levels, pooling mixes the two and
the mixed model does not.

Limits: the effect is assumed the same in every group (random intercepts only, no random
slopes). With few groups (fewer than MIN_GROUPS) the group variance is poorly estimated, often
at the boundary 0, and the Wald interval can be too narrow; the result carries a warning, as it
does when the fit does not converge or the variance sits at 0. Binary measures are fitted as a
linear probability model.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from dilemma.evaluation.conditions import (
    CompareError,
    condition_columns,
    factors_of,
    unknown_factor,
)
from dilemma.evaluation.contrast import ALPHA
from dilemma.evaluation.designs import measure_values
from dilemma.evaluation.selection import select_runs, with_level
from dilemma.evaluation.verdicts import Verdict, holm
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

MIN_GROUPS = 5
"""Fewer groups than this: the group variance (and so the effect's interval) is unreliable."""

_NOT_STRATA = ("seed", "run_id", "path")


@dataclass(frozen=True)
class MixedComparison:
    """The mixed-model estimates of `by`'s effect across the groups of `across`."""

    by: str
    across: str
    verdict: Verdict
    summary: str
    effects: pd.DataFrame
    """One row per measure and pair of levels: the mixed and the pooled estimates."""
    groups: int
    n_runs: int
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Fit:
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    group_var: float
    resid_var: float
    converged: bool


def _fixed(frame: pd.DataFrame, strata: Sequence[str]) -> np.ndarray:
    """Dummy columns of the other varying conditions (one level of each left out)."""
    if not strata:
        return np.empty((len(frame), 0))
    dummies = pd.get_dummies(frame[list(strata)].astype(str), drop_first=True, dtype=float)
    return dummies.to_numpy(dtype="float64")


def _mixed_fit(y: np.ndarray, x: np.ndarray, groups: np.ndarray, alpha: float) -> _Fit | None:
    """The coefficient of column 1 of x in a random-intercept model (None: cannot be fitted)."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            fit = MixedLM(y, x, groups).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError):
            return None
    converged = bool(getattr(fit, "converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    est, se = float(fit.fe_params[1]), float(fit.bse_fe[1])
    if not math.isfinite(se) or se <= 0:
        return None
    z = stats.norm.isf(alpha / 2)
    return _Fit(
        est,
        se,
        est - z * se,
        est + z * se,
        float(2 * stats.norm.sf(abs(est / se))),
        float(np.asarray(fit.cov_re)[0, 0]),
        float(fit.scale),
        converged,
    )


def _pooled(y: np.ndarray, x: np.ndarray) -> tuple[float, float, float, float]:
    """Least squares ignoring the groups: estimate, interval and p of column 1 of x."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = sm.OLS(y, x).fit()
    lo, hi = (float(v) for v in fit.conf_int(alpha=ALPHA)[1])
    return float(fit.params[1]), lo, hi, float(fit.pvalues[1])


def _equivalence(fit: _Fit, margin: float) -> float:
    if not math.isfinite(margin):
        return math.nan
    return float(
        max(
            stats.norm.sf((fit.estimate + margin) / fit.se),
            stats.norm.cdf((fit.estimate - margin) / fit.se),
        )
    )


def _row(
    measure: str, pair: tuple[str, str], n: int, y: np.ndarray, x: np.ndarray
) -> dict[str, Any]:
    pooled = _pooled(y, x) if len(y) > x.shape[1] else (math.nan,) * 4
    return {
        "measure": measure,
        "level_a": pair[0],
        "level_b": pair[1],
        "n": n,
        "pooled_estimate": pooled[0],
        "pooled_ci_low": pooled[1],
        "pooled_ci_high": pooled[2],
        "pooled_p": pooled[3],
    }


_NAN_FIT = {
    "estimate": math.nan,
    "se": math.nan,
    "ci_low": math.nan,
    "ci_high": math.nan,
    "p_value": math.nan,
    "group_var": math.nan,
    "resid_var": math.nan,
    "converged": False,
}


def _check(runs: pd.DataFrame, by: str, across: str) -> None:
    for name, option in ((by, "--by"), (across, "--across")):
        if name not in factors_of(runs):
            raise unknown_factor(runs, name, option)
    if by == across:
        raise CompareError("--across names the same factor as --by")


def mixed_compare(
    runs: pd.DataFrame,
    by: str,
    across: str,
    primary: Sequence[str],
    margins: Mapping[str, float],
    alpha: float = ALPHA,
) -> MixedComparison:
    """The effect of `by` on each primary measure with a random intercept per `across` level
    (see the module docstring); `margins` per measure for the equivalence tests."""
    _check(runs, by, across)
    runs = select_runs(runs, by).runs
    runs, _ = with_level(runs, across)
    strata = [
        c
        for c in condition_columns(runs, primary)
        if c not in (by, across, *_NOT_STRATA) and runs[c].astype(str).nunique() > 1
    ]
    values = measure_values(runs, primary)
    level = runs[by].astype(str).to_numpy()
    groups_all = runs[across].astype(str).to_numpy()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for a, b in itertools.combinations(sorted(set(level)), 2):
        keep = (level == a) | (level == b)
        x_base = np.column_stack(
            [np.ones(keep.sum()), (level[keep] == a).astype(float), _fixed(runs[keep], strata)]
        )
        for i, measure in enumerate(primary):
            y = values[i, keep]
            ok = ~np.isnan(y)
            yy, xx, gg = y[ok], x_base[ok], groups_all[keep][ok]
            xx = xx[:, [0, 1, *(k for k in range(2, xx.shape[1]) if np.ptp(xx[:, k]) > 0)]]
            row = _row(measure, (a, b), int(ok.sum()), yy, xx)
            fit = (
                _mixed_fit(yy, xx, gg, alpha)
                if np.ptp(yy) > 0 and np.ptp(xx[:, 1]) > 0 and len(set(gg)) > 1
                else None
            )
            if fit is None:
                row |= _NAN_FIT
                notes.append(f"{measure} ({a} - {b}): the mixed model cannot be fitted")
            else:
                row |= fit.__dict__
                if not fit.converged:
                    notes.append(f"{measure} ({a} - {b}): MixedLM did not converge")
                elif fit.group_var <= 1e-8 * max(fit.resid_var, 1e-12):
                    notes.append(
                        f"{measure} ({a} - {b}): the {across} variance is estimated at 0 (the"
                        " boundary); the mixed estimate is the pooled one"
                    )
            row["margin"] = float(margins.get(measure, math.nan))
            row["p_equivalence"] = _equivalence(fit, row["margin"]) if fit else math.nan
            rows.append(row)
    n_groups = int(runs[across].nunique())
    if n_groups < MIN_GROUPS:
        notes.insert(
            0,
            f"only {n_groups} levels of {across}: with fewer than {MIN_GROUPS} groups MixedLM"
            " estimates the group variance poorly (often at 0) and its intervals can be too"
            " narrow; treat the mixed estimate as descriptive",
        )
    table = pd.DataFrame(rows)
    verdict, text = _verdict(table, by, across, alpha)
    return MixedComparison(by, across, verdict, text, table, n_groups, len(runs), tuple(notes))


def _verdict(table: pd.DataFrame, by: str, across: str, alpha: float) -> tuple[Verdict, str]:
    subject = f"{by} across {across} (mixed model, random intercepts by {across})"
    if table.empty or table["p_value"].isna().all():
        table["p_holm"] = math.nan
        return "inconclusive", f"{subject}: nothing can be fitted"
    p = table["p_value"].to_numpy(dtype="float64")
    adjusted = np.full(len(p), math.nan)
    tested = ~np.isnan(p)
    adjusted[tested] = holm(p[tested], alpha)
    table["p_holm"] = adjusted
    table["significant"] = adjusted < alpha
    table["equivalent"] = table["p_equivalence"] < alpha
    if table["significant"].any():
        which = ", ".join(dict.fromkeys(table.loc[table["significant"], "measure"]))
        return "changes", f"{subject} changes behaviour: {which} differ after Holm correction"
    if tested.all() and table["equivalent"].all():
        return "equivalent", f"{subject} is equivalent within the margins on every measure"
    return "inconclusive", (
        f"{subject} is inconclusive: no measure differs after Holm correction and equivalence"
        " within the margins is not shown"
    )
