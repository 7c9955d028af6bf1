"""Rule compliance: does each record obey its own scenario's rules, as the engine enforces them?

Every resolved state-round is checked against the rules in the record's header
(dilemma.simulation.world applies them in this order):

  fallback     a fallback (no valid decision) leaves arms unchanged: applied change 0.
  cap          |applied change| <= arms_cap_pct.
  forewarning  a democracy's applied rise above forewarning_threshold_pct is at most what it
               announced for this round in its previous decision (no announcement, a fallback
               decision or round 1: the threshold).
  economy      with arms_cost > 0, a rise costs arms_cost per unit of arms bought and cannot
               exceed what the economy before the round pays for:
               change <= economy_before / arms_cost / arms_before * 100, where economy_before is
               the state's economy after the previous round (round 1: its initial economy).
  treaty       a party to an arms_cap treaty in force (formed in an earlier round, scenario
               treaties from round 1, until the round a breach ends it) whose applied change
               exceeds the treaty value, or to a mutual_reduction treaty whose change exceeds
               -value, must have that breach recorded in the round's resolution. Breaking a
               treaty is allowed; leaving the breach unrecorded is not.

Comparisons allow RULE_TOLERANCE percentage points (records round arms and economy). Each
failed check is one violation; `rule_violations` counts them per state and per run, and the
state-round column `violations` names them with the figures (e.g. "cap: +37 > 10").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from dilemma.evaluation.load import Tables

RULE_TOLERANCE = 1e-4
"""Percentage points by which an applied change may exceed a limit before it is a violation."""

RULES = ("fallback", "cap", "forewarning", "economy", "treaty")

_KEY = ["run_id", "round", "state"]


def _treaty_violations(t: Tables, sr: pd.DataFrame) -> pd.DataFrame:
    """Per state-round with an unrecorded treaty breach: the treaties and limits exceeded."""
    tr = t.treaties
    formed = tr[(tr["event"] == "formed") & tr["kind"].isin(["arms_cap", "mutual_reduction"])]
    if formed.empty:
        return pd.DataFrame(columns=[*_KEY, "treaty_detail"])
    ended = tr[tr["event"] == "ended"].groupby(["run_id", "treaty"])["round"].min().rename("ended")
    spans = formed.merge(ended, on=["run_id", "treaty"], how="left")
    spans = spans.assign(state=spans["parties"].str.split(",")).explode("state")
    spans["limit"] = np.where(
        spans["kind"] == "arms_cap", spans["value"], -spans["value"].astype("float64")
    )
    rows = sr[[*_KEY, "applied_change"]].merge(
        spans[["run_id", "state", "treaty", "round", "ended", "limit"]].rename(
            columns={"round": "formed"}
        ),
        on=["run_id", "state"],
    )
    in_force = (rows["round"] > rows["formed"]) & (
        rows["ended"].isna() | (rows["round"] <= rows["ended"])
    )
    over = in_force & (rows["applied_change"] > rows["limit"] + RULE_TOLERANCE)
    rows = rows[over]
    recorded = t.breaches[["run_id", "round", "state", "treaty"]].assign(_recorded=True)
    rows = rows.merge(recorded, on=[*_KEY, "treaty"], how="left")
    rows = rows[rows["_recorded"].isna()]
    detail = [
        f"treaty: {tid} {change:+.6g} > {limit:g} unrecorded"
        for tid, change, limit in zip(
            rows["treaty"], rows["applied_change"], rows["limit"], strict=True
        )
    ]
    out = rows[_KEY].assign(treaty_detail=pd.Series(detail, index=rows.index, dtype=object))
    joined: pd.DataFrame = out.groupby(_KEY, as_index=False).agg(
        treaty_detail=("treaty_detail", "; ".join)
    )
    return joined


def add_violations(t: Tables, sr: pd.DataFrame) -> pd.DataFrame:
    """Add one boolean column per rule (`violates_<rule>`), `violations` and `rule_violations`.

    `sr` is the state-rounds frame (dilemma.evaluation.arms.state_rounds); it is returned with the
    new
    columns, row order unchanged.
    """
    runs = t.runs.set_index("run_id")
    states = t.states.set_index(["run_id", "state"])
    idx = pd.MultiIndex.from_frame(sr[["run_id", "state"]])
    change = sr["applied_change"].astype("float64")
    cap = sr["run_id"].map(runs["arms_cap_pct"]).astype("float64")
    threshold = sr["run_id"].map(runs["forewarning_threshold_pct"]).astype("float64")
    cost = sr["run_id"].map(runs["arms_cost"]).astype("float64")
    regime = pd.Series(states["regime"].reindex(idx).to_numpy(), index=sr.index)

    # the previous decision's announcement, also when that decision was a fallback (then None)
    dec = t.decisions[[*_KEY, "announced_next"]].assign(round=t.decisions["round"] + 1)
    dec = dec.drop_duplicates(_KEY, keep="last")
    announced = sr[_KEY].merge(dec, on=_KEY, how="left")["announced_next"].to_numpy()
    allowed = np.fmax(threshold.to_numpy(), np.where(np.isnan(announced), -np.inf, announced))

    econ = t.outcomes[[*_KEY, "economy_after"]].assign(round=t.outcomes["round"] + 1)
    econ = econ.drop_duplicates(_KEY, keep="last")
    before = sr[_KEY].merge(econ, on=_KEY, how="left")["economy_after"].to_numpy()
    initial = states["initial_economy"].reindex(idx).to_numpy()
    before = np.where(sr["round"].to_numpy() == 1, initial, before)
    arms = np.maximum(sr["arms_before"].to_numpy(dtype="float64"), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        affordable = before / cost.to_numpy() / arms * 100.0

    tol = RULE_TOLERANCE
    flags = {
        "fallback": sr["resolved_fallback"].astype(bool) & (change.abs() > tol),
        "cap": change.abs() > cap + tol,
        "forewarning": (regime == "democracy")
        & (change > threshold + tol)
        & (change.to_numpy() > allowed + tol),
        "economy": (change > tol)
        & (cost > 0)
        & pd.Series(change.to_numpy() > affordable * (1 + 1e-9) + tol, index=sr.index),
    }
    treaty = sr[_KEY].merge(_treaty_violations(t, sr), on=_KEY, how="left")["treaty_detail"]
    flags["treaty"] = pd.Series(treaty.notna().to_numpy(), index=sr.index)
    chg, limit = change.to_numpy(), cap.to_numpy()
    treaty_text = treaty.to_numpy()
    details: dict[str, Callable[[int], str]] = {
        "fallback": lambda k: f"fallback: {chg[k]:+.6g} != 0",
        "cap": lambda k: f"cap: {chg[k]:+.6g} > {limit[k]:g}",
        "forewarning": lambda k: f"forewarning: {chg[k]:+.6g} > {allowed[k]:g}",
        "economy": lambda k: f"economy: {chg[k]:+.6g} > affordable {affordable[k]:.6g}",
        "treaty": lambda k: str(treaty_text[k]),
    }

    parts: dict[int, list[str]] = {}
    count = np.zeros(len(sr), dtype="int64")
    for rule in RULES:
        on = flags[rule].fillna(False).astype(bool)
        sr[f"violates_{rule}"] = on
        count += on.to_numpy(dtype="int64")
        for k in np.flatnonzero(on.to_numpy()):
            parts.setdefault(int(k), []).append(details[rule](int(k)))
    sr["rule_violations"] = count
    text = [("; ".join(parts[k]) if k in parts else None) for k in range(len(sr))]
    sr["violations"] = pd.array(text, dtype="string")
    return sr
