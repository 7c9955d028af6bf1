"""Signals against actions: how far what a state declared lies from what it did.

A state's decision holds a public signal toward each other state: the rung (0 de-escalation ..
5 all-out war, `dilemma.core.ladder.rung_index`) it declares it takes toward it this round. Its
action counts toward j with its rung when it is directed at j (or has no target, in old records),
and as status quo (1) toward every other state.

- divergence: |intended action rung toward j - signal toward j|, from the decision (deception
  measures what was chosen, not what an accident made of it);
- above: the intended rung toward j is higher than the signal;
- seen divergence: the same with the executed action (what every state observed);
- perceived shift: how j's perceived intent of i (0-3) moves from the round i's signal and
  executed action toward j were revealed to the next round, split by whether i acted above its
  signal (breach) or exactly at it (kept).

Records without signals (version 3 and older) have no rows here: every signal measure is then
missing (NaN / NA), never zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dilemma.core.ladder import ACTION_RUNG, RUNG_ORDER, Action, Rung

STATUS_QUO = RUNG_ORDER[Rung.STATUS_QUO]
_DERIVED = ("divergence", "above", "seen_divergence")
_RUNG_OF_ACTION = {a.value: RUNG_ORDER[ACTION_RUNG[a]] for a in Action}


def rung_toward(action: pd.Series, target: pd.Series, other: pd.Series) -> pd.Series:
    """The rung (0-5) of each action toward `other`: its own rung when aimed at `other` or at no
    one, status quo (1) otherwise; NaN where there is no action (a fallback)."""
    rung = action.map(_RUNG_OF_ACTION).astype("float64")
    aimed = target.isna() | (target == other)
    return rung.where(aimed.fillna(False).astype(bool), STATUS_QUO).where(action.notna())


def signal_rows(
    decisions: pd.DataFrame, outcomes: pd.DataFrame, signals: pd.DataFrame
) -> pd.DataFrame:
    """Every signal of i toward j with i's intended and executed rung toward j."""
    key = ["run_id", "round"]
    if signals.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="string" if c in ("run_id", "i", "j") else "float64")
                for c in (*key, "i", "j", "signal", "intended", "executed", *_DERIVED)
            }
        )
    d = decisions.loc[~decisions["fallback"], [*key, "state", "action", "target"]]
    o = outcomes[[*key, "state", "action", "target"]]
    s = signals.merge(d.rename(columns={"state": "i"}), on=[*key, "i"], how="left")
    s = s.merge(
        o.rename(columns={"state": "i", "action": "done", "target": "done_target"}),
        on=[*key, "i"],
        how="left",
    )
    s["intended"] = rung_toward(s["action"], s["target"], s["j"])
    s["executed"] = rung_toward(s["done"], s["done_target"], s["j"])
    s["divergence"] = (s["intended"] - s["signal"]).abs()
    s["above"] = (s["intended"] > s["signal"]).astype("float64").where(s["intended"].notna())
    s["seen_divergence"] = (s["executed"] - s["signal"]).abs()
    return s


def _divergence(s: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = s.groupby(keys, sort=False)
    return pd.DataFrame(
        {
            "signal_n": g["divergence"].count(),
            "signal_divergence": g["divergence"].mean(),
            "signal_above_share": g["above"].mean(),
            "signal_divergence_seen": g["seen_divergence"].mean(),
        }
    )


def perceived_shift(s: pd.DataFrame, directed: pd.DataFrame) -> pd.DataFrame:
    """Per signal of i toward j in round r: j's perceived intent of i in r+1 minus in r."""
    level = directed.set_index(["run_id", "round", "i", "j"])["perceived_level"]
    before = level.reindex(pd.MultiIndex.from_arrays([s["run_id"], s["round"], s["j"], s["i"]]))
    after = level.reindex(pd.MultiIndex.from_arrays([s["run_id"], s["round"] + 1, s["j"], s["i"]]))
    out = s[["run_id", "round", "i", "j", "signal", "executed"]].copy()
    out["shift"] = after.to_numpy() - before.to_numpy()
    out["breach"] = s["executed"] > s["signal"]
    out["kept"] = s["executed"] == s["signal"]
    return out


def add_run_signals(runs: pd.DataFrame, s: pd.DataFrame, directed: pd.DataFrame) -> pd.DataFrame:
    """Add the run-level signal measures (NaN / NA for runs without signals)."""
    out = runs.set_index("run_id")
    div = _divergence(s, ["run_id"])
    for col in div.columns:
        out[col] = div[col]
    shift = perceived_shift(s, directed)
    for flag, col in (
        ("breach", "perceived_shift_after_breach"),
        ("kept", "perceived_shift_after_kept"),
    ):
        out[col] = shift[shift[flag]].groupby("run_id")["shift"].mean()
    out["signal_n"] = out["signal_n"].astype("Int64")
    return out.reset_index()


def add_state_signals(states: pd.DataFrame, s: pd.DataFrame) -> pd.DataFrame:
    """Add each state's signal divergence and share acting above its signal."""
    div = _divergence(s, ["run_id", "i"])
    div.index = div.index.set_names(["run_id", "state"])
    out = states.set_index(["run_id", "state"]).join(
        div[["signal_n", "signal_divergence", "signal_above_share"]]
    )
    out["signal_n"] = out["signal_n"].astype("Int64")
    return out.reset_index()


def add_dyad_signals(dyads: pd.DataFrame, s: pd.DataFrame) -> pd.DataFrame:
    """Add the signal divergence of a toward b and of b toward a to each dyad."""
    div = _divergence(s, ["run_id", "i", "j"])
    out = dyads.copy()
    for first, second, suffix in (("a", "b", "ab"), ("b", "a", "ba")):
        idx = pd.MultiIndex.from_arrays([out["run_id"], out[first], out[second]])
        for col in ("signal_divergence", "signal_above_share"):
            out[f"{col}_{suffix}"] = (
                div[col].reindex(idx).to_numpy(dtype="float64", na_value=np.nan)
            )
    return out
