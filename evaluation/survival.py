"""Time to first use of force and time to war, as right-censored survival outcomes.

Per run: `time_to_force` is the first round in which some state's executed action is a use of
force (violent escalation or all-out war, `dilemma.core.ladder.FORCE_RUNGS`; accidents count,
since force was used), `force` whether that happened; `time_to_war` the round of the first war,
`war` whether it happened. A run without the event is censored at its realized horizon: the
rounds it resolved.

Across runs (`survival_contrasts`): Kaplan-Meier curves per level (statsmodels SurvfuncRight), a
log-rank test over the levels (survdiff), and for each pair of levels a Cox proportional-hazards
model (PHReg, Breslow ties) with the level as the only covariate: hazard ratio b vs a with a 95%
interval. Verdict per outcome, with the same logic as `compare`: `changes` when the log-rank p
(Holm-corrected over the outcomes) is below alpha; `equivalent` when the (1 - 2 alpha) interval of
the hazard ratio lies within [1/margin, margin] (two one-sided tests on log HR); else
`inconclusive`. With no event at either level the hazard ratio is not identified and the verdict
is inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dilemma.core.ladder import FORCE_RUNGS, RUNG_ORDER

FORCE_MIN = min(RUNG_ORDER[r] for r in FORCE_RUNGS)
OUTCOMES = {"force": "time_to_force", "war": "time_to_war"}
"""Each event column and its time column in the runs table."""
HR_MARGIN = 2.0
"""Default equivalence margin of a hazard ratio: equivalent when within [1/2, 2]."""


def add_run_survival(
    runs: pd.DataFrame, outcomes: pd.DataFrame, directed: pd.DataFrame
) -> pd.DataFrame:
    """Add time_to_force, force, time_to_war and mean_threat_at_peace to the runs."""
    out = runs.set_index("run_id")
    played = out["rounds"].astype("float64")
    force_rounds = outcomes[outcomes["rung"] >= FORCE_MIN].groupby("run_id")["round"].min()
    first_force = force_rounds.reindex(out.index)
    out["force"] = first_force.notna()
    out["time_to_force"] = first_force.fillna(played)
    out["time_to_war"] = out["war_round"].astype("float64").fillna(played)
    # decisions taken before any state had seen force: rounds up to the first use of force
    limit = first_force.reindex(directed["run_id"]).to_numpy()
    peace = directed[np.isnan(limit) | (directed["round"].to_numpy() <= limit)]
    out["mean_threat_at_peace"] = peace.groupby("run_id")["threat"].mean()
    return out.reset_index()


@dataclass(frozen=True)
class SurvivalResult:
    """Kaplan-Meier curves and the tests of one factor on both survival outcomes."""

    curves: pd.DataFrame
    """level, outcome, time, survival (step values at each event time, from time 0)."""
    tests: pd.DataFrame
    """One row per outcome and pair of levels: events, log-rank p, hazard ratio, verdict."""
    margin: float


def km_curves(runs: pd.DataFrame, by: str) -> pd.DataFrame:
    """Kaplan-Meier survival per level of `by` for both outcomes, as step points."""
    from statsmodels.duration.survfunc import SurvfuncRight

    rows: list[dict[str, object]] = []
    for outcome, time_col in OUTCOMES.items():
        for level, g in runs.groupby(by, sort=True):
            time = g[time_col].to_numpy(dtype="float64")
            event = g[outcome].to_numpy(dtype="float64")
            rows.append({"level": level, "outcome": outcome, "time": 0.0, "survival": 1.0})
            if len(time) == 0:
                continue
            sf = SurvfuncRight(time, event)
            for t, s in zip(sf.surv_times, sf.surv_prob, strict=True):
                rows.append(
                    {"level": level, "outcome": outcome, "time": float(t), "survival": float(s)}
                )
            rows.append(
                {
                    "level": level,
                    "outcome": outcome,
                    "time": float(time.max()),
                    "survival": float(sf.surv_prob[-1]) if len(sf.surv_prob) else 1.0,
                }
            )
    return pd.DataFrame(rows, columns=["level", "outcome", "time", "survival"])


def restricted_mean(time: np.ndarray, event: np.ndarray, tau: float) -> float:
    """Restricted mean survival time up to `tau`: the area under the Kaplan-Meier curve."""
    from statsmodels.duration.survfunc import SurvfuncRight

    if len(time) == 0:
        return math.nan
    sf = SurvfuncRight(time, event)
    times = np.concatenate([[0.0], sf.surv_times[sf.surv_times < tau], [tau]])
    probs = np.concatenate([[1.0], sf.surv_prob[sf.surv_times < tau]])
    return float(np.sum(np.diff(times) * probs))


def _cox(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, alpha: float
) -> tuple[float, float, float, float, float]:
    """Hazard ratio of group 1 vs 0: (hr, lo95, hi95, lo_eq, hi_eq); NaN when not identified."""
    from statsmodels.duration.hazard_regression import PHReg

    nan = (math.nan,) * 5
    if event[group == 1].sum() == 0 or event[group == 0].sum() == 0:
        return nan  # a level with no event: the ratio is 0 or infinite, not estimable
    try:
        fit = PHReg(time, group.reshape(-1, 1).astype("float64"), status=event, ties="breslow").fit(
            disp=0
        )
    except (np.linalg.LinAlgError, ValueError):
        return nan
    b, se = float(fit.params[0]), float(fit.bse[0])
    if not (math.isfinite(b) and math.isfinite(se)):
        return nan
    z95, zeq = 1.959963984540054, float(_z(1 - alpha))
    return (
        math.exp(b),
        math.exp(b - z95 * se),
        math.exp(b + z95 * se),
        math.exp(b - zeq * se),
        math.exp(b + zeq * se),
    )


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def survival_contrasts(
    runs: pd.DataFrame, by: str, *, alpha: float = 0.05, margin: float = HR_MARGIN
) -> SurvivalResult:
    """Kaplan-Meier curves, log-rank tests and Cox hazard ratios of `by` on both outcomes."""
    from statsmodels.duration.survfunc import survdiff

    if margin <= 1:
        raise ValueError(f"hazard-ratio margin must be above 1, not {margin}")
    runs = runs[runs[by].notna()]
    levels = sorted(runs[by].unique())
    rows: list[dict[str, object]] = []
    for outcome, time_col in OUTCOMES.items():
        time = runs[time_col].to_numpy(dtype="float64")
        event = runs[outcome].to_numpy(dtype="float64")
        for i, a in enumerate(levels):
            for b in levels[i + 1 :]:
                pick = (runs[by] == a).to_numpy() | (runs[by] == b).to_numpy()
                t, e = time[pick], event[pick]
                group = (runs[by][pick] == b).to_numpy().astype(int)
                p = math.nan
                if e.sum() > 0:
                    p = float(survdiff(t, e, group)[1])
                hr, lo, hi, lo_eq, hi_eq = _cox(t, e, group, alpha)
                tau = float(t.max()) if len(t) else math.nan
                rows.append(
                    {
                        "outcome": outcome,
                        "level_a": a,
                        "level_b": b,
                        "n_a": int((group == 0).sum()),
                        "n_b": int((group == 1).sum()),
                        "events_a": int(e[group == 0].sum()),
                        "events_b": int(e[group == 1].sum()),
                        "rmst_a": restricted_mean(t[group == 0], e[group == 0], tau),
                        "rmst_b": restricted_mean(t[group == 1], e[group == 1], tau),
                        "logrank_p": float(p),
                        "hazard_ratio": hr,
                        "hr_ci_low": lo,
                        "hr_ci_high": hi,
                        "equivalent": bool(lo_eq >= 1 / margin and hi_eq <= margin),
                    }
                )
    return SurvivalResult(km_curves(runs, by), _with_verdicts(pd.DataFrame(rows), alpha), margin)


def _with_verdicts(tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Holm-correct the log-rank p-values over outcomes x pairs and add each verdict."""
    from dilemma.evaluation.verdicts import holm  # statsmodels: not needed to score runs

    if tests.empty:
        return tests
    pvals = tests["logrank_p"].to_numpy(dtype="float64")
    tested = ~np.isnan(pvals)
    adjusted = np.full(len(pvals), np.nan)
    if tested.any():
        adjusted[tested] = holm(pvals[tested], alpha)
    tests["logrank_p_holm"] = adjusted
    tests["verdict"] = [
        "changes" if h < alpha else "equivalent" if eq else "inconclusive"
        for h, eq in zip(adjusted, tests["equivalent"], strict=True)
    ]
    return tests
