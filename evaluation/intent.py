"""Misperception of intentions, measured directly (Jervis: defensive intent misread as hostile).

Each decision states, for every other state, what the deciding state believes that state intends
toward it (`perceived_intent`), on the four levels of `private_intent`, in order:

    defensive 0, deterrent 1, coercive 2, aggressive 3.

A judgement of i about j in round t is scored against j's own `private_intent` toward i in its
round-t decision (moves are simultaneous, so both belong to the same round):

    e(i->j, t) = P(i->j, t) - I(j->i, t)        (in levels, -3 .. 3)

P is i's perceived intent of j, I is j's private intent toward i. A judgement is scored only when
both i's and j's round-t decisions were answered (not fallbacks) and i's decision asked the
question (records of schema version 1 did not). Over the scored judgements of a dyad direction
or a run:

    intent_accuracy        share with e = 0
    intent_overestimation  share with e > 0 (j judged more hostile than it was)
    intent_underestimation share with e < 0
    intent_error           mean of e (signed; > 0 overestimation)
    intent_n               number of scored judgements
    intent_kappa           Cohen's kappa of the perceived against the actual levels (four
                           unordered categories): (p_o - p_e) / (1 - p_e), p_o = intent_accuracy,
                           p_e = sum_k (share of actual k) * (share of perceived k). Guessing
                           at random scores about 0 whatever the number of levels (accuracy
                           about 25% over four); perfect reading scores 1. NaN when p_e = 1
                           (every judgement and every actual intent the same level: agreement
                           beyond chance is undefined) or with no scored judgement.

With no scored judgement the shares, the mean and kappa are NaN. `intent_n` is <NA> (missing, not 0)
for a run whose decisions never state a perceived intent, such as a version-1 record.
`intent_confusion` counts judgements by (actual, perceived) level for the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dilemma.evaluation.columns import INTENT_MEASURES

from dilemma.core.decision import Intent

LEVELS: tuple[Intent, ...] = tuple(Intent)
"""Intent levels in order, mildest first; a level's number is its position."""
LEVEL: dict[Intent, int] = {intent: n for n, intent in enumerate(LEVELS)}

MEASURES = INTENT_MEASURES
"""Summary columns, in order, for a dyad direction (suffixed _ab / _ba) or a run."""

_KEY = ["run_id", "round", "i", "j"]


def add_judgements(p: pd.DataFrame) -> pd.DataFrame:
    """Pair rounds with `perceived_intent` (i's belief of j's intent toward i, 0-3),
    `actual_intent` (j's private intent toward i, 0-3) and `intent_error` (perceived - actual).

    Reads the directed columns `intent_level` and `perceived_level` that `dilemma.evaluation.load`
    adds
    for answered decisions; NaN where a decision was a fallback or did not ask.
    """
    out = p.copy()
    answered = ~out["fallback_i"].astype(bool)
    out["perceived_intent"] = out["perceived_level"].astype("float64").where(answered)
    own = out["intent_level"].astype("float64").where(answered)
    back = pd.DataFrame(
        {"run_id": out["run_id"], "round": out["round"], "i": out["j"], "j": out["i"], "_a": own}
    )
    out = out.merge(back, on=_KEY, how="left")
    out["actual_intent"] = out.pop("_a").astype("float64")
    out["intent_error"] = out["perceived_intent"] - out["actual_intent"]
    return out


def _summary(p: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The MEASURES of the judgements in `p`, grouped by `keys`."""
    err = p["intent_error"]
    scored = err.notna()
    frame = p[keys].assign(
        _n=scored.astype("int64"),
        _asked=p["perceived_intent"].notna(),
        _ok=(err == 0).astype("float64").where(scored),
        _over=(err > 0).astype("float64").where(scored),
        _under=(err < 0).astype("float64").where(scored),
        _err=err,
    )
    g = frame.groupby(keys, sort=False)
    out = pd.DataFrame(
        {
            "intent_n": g["_n"].sum().astype("Int64").where(g["_asked"].any()),
            "intent_accuracy": g["_ok"].mean(),
            "intent_overestimation": g["_over"].mean(),
            "intent_underestimation": g["_under"].mean(),
            "intent_error": g["_err"].mean(),
        }
    )
    out["intent_kappa"] = _kappa(p, keys).reindex(out.index)
    return out


def _kappa(p: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Cohen's kappa of perceived against actual intent levels per group of `keys`."""
    scored = p.loc[p["intent_error"].notna(), [*keys, "perceived_intent", "actual_intent"]]
    n = scored.groupby(keys, sort=False).size().astype("float64")
    agree = (
        (scored["perceived_intent"] == scored["actual_intent"])
        .groupby([scored[k] for k in keys], sort=False)
        .sum()
    )
    actual = scored.groupby([*keys, "actual_intent"], sort=False).size().rename("_na")
    perceived = scored.groupby([*keys, "perceived_intent"], sort=False).size().rename("_np")
    both = pd.merge(
        actual.reset_index().rename(columns={"actual_intent": "_k"}),
        perceived.reset_index().rename(columns={"perceived_intent": "_k"}),
        on=[*keys, "_k"],
        how="inner",
    )
    chance = (both["_na"] * both["_np"]).groupby([both[k] for k in keys], sort=False).sum()
    p_o = agree.astype("float64") / n
    p_e = chance.reindex(n.index).fillna(0.0).astype("float64") / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (p_o - p_e) / (1.0 - p_e)
    return kappa.where(p_e < 1.0 - 1e-12)


def run_intent(p: pd.DataFrame) -> pd.DataFrame:
    """Per run (index run_id): the MEASURES over every judgement of the run."""
    return _summary(p, ["run_id"])


def dyad_intent(p: pd.DataFrame) -> pd.DataFrame:
    """Per run and ordered pair (index run_id, i, j): the MEASURES of i's judgements of j."""
    return _summary(p, ["run_id", "i", "j"])


def add_dyad_intent(dyads: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Dyads (columns run_id, a, b) with the MEASURES of a about b (_ab) and b about a (_ba)."""
    per = dyad_intent(p)
    out = dyads.copy()
    for first, second, suffix in (("a", "b", "ab"), ("b", "a", "ba")):
        idx = pd.MultiIndex.from_frame(
            out[["run_id", first, second]].set_axis(["run_id", "i", "j"], axis=1)
        )
        found = per.reindex(idx)
        for col in MEASURES:
            out[f"{col}_{suffix}"] = found[col].to_numpy()
    return out


def add_state_intent(states: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """States (columns run_id, state) with intent_n, intent_accuracy and intent_kappa of the
    state as observer, over its judgements of every other state."""
    per = _summary(p, ["run_id", "i"])
    idx = pd.MultiIndex.from_frame(states[["run_id", "state"]].set_axis(["run_id", "i"], axis=1))
    found = per.reindex(idx)
    out = states.copy()
    for col in ("intent_n", "intent_accuracy", "intent_kappa"):
        out[col] = found[col].to_numpy()
    return out


def add_run_intent(runs: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Runs (column run_id) with the run MEASURES."""
    per = run_intent(p).reindex(pd.Index(runs["run_id"], name="run_id"))
    out = runs.copy()
    for col in MEASURES:
        out[col] = per[col].to_numpy()
    return out


def intent_confusion(p: pd.DataFrame) -> pd.DataFrame:
    """Counts of scored judgements: rows the actual intent, columns the perceived intent."""
    scored = p.dropna(subset=["perceived_intent", "actual_intent"])
    names = [lv.value for lv in LEVELS]
    counts = np.zeros((len(LEVELS), len(LEVELS)), dtype="int64")
    rows = scored["actual_intent"].astype("int64").to_numpy()
    cols = scored["perceived_intent"].astype("int64").to_numpy()
    np.add.at(counts, (rows, cols), 1)
    return pd.DataFrame(
        counts,
        index=pd.Index(names, name="actual"),
        columns=pd.Index(names, name="perceived"),
    )
