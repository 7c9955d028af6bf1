"""The directed pair grain: one row per run, resolved round and ordered pair i -> j."""

from __future__ import annotations

import pandas as pd
from dilemma.evaluation.load import Tables
from dilemma.evaluation.misperception import (
    action_toward,
    arming,
    capability,
    hostility,
    implied_hostility,
    seen_hostility,
    warranted,
)

PAIR_KEY = ["run_id", "round", "i", "j"]


def _side(sr: pd.DataFrame, who: str) -> pd.DataFrame:
    cols = [
        "run_id",
        "round",
        "state",
        "pos",
        "fallback",
        "growth_pct",
        "arms_before",
        "arms_after",
        "rung_order",
        "target",
        "arms_cap_pct",
    ]
    return sr[cols].rename(columns={c: f"{c}_{who}" for c in cols[2:]})


def pair_rounds(t: Tables, sr: pd.DataFrame) -> pd.DataFrame:
    """Every ordered pair of states in every resolved round, with i's view of and moves toward j.

    Columns: threat, intent, forecast (i's answered decision), action_toward (A), arming (R of
    i), hostility (H of i toward j), as_of / seen_arms / source (what i saw of j's arms when
    deciding), capability (C of j as i saw it), warranted_threat (W: what j's capability and
    hostility toward i warrant), misperception (i's threat of j minus W), implied_hostility,
    and warranted_threat_seen / misperception_seen (W and M from j's behaviour as i could have
    seen it: its previous action and its arming as last observed).
    """
    p = _side(sr, "i").merge(_side(sr, "j"), on=["run_id", "round"])
    p = p[p["state_i"] != p["state_j"]].rename(columns={"state_i": "i", "state_j": "j"})
    p = p.merge(t.directed, on=PAIR_KEY, how="left")
    for col in ("threat", "intent", "forecast"):
        p[col] = p[col].astype("float64").where(~p["fallback_i"])
    p["action_toward"] = action_toward(p["rung_order_i"], p["target_i"], p["j"])
    p["arming"] = arming(p["growth_pct_i"])
    p["hostility"] = hostility(p["intent"], p["action_toward"], p["arming"])
    back = p[[*PAIR_KEY, "hostility"]].rename(
        columns={"i": "j", "j": "i", "hostility": "hostility_back"}
    )
    p = p.merge(back, on=PAIR_KEY, how="left")
    views = t.views.drop_duplicates(PAIR_KEY, keep="last")
    p = p.merge(views, on=PAIR_KEY, how="left")
    p["capability"] = capability(p["seen_arms"], p["arms_before_i"])
    p["warranted_threat"] = warranted(p["capability"], p["hostility_back"])
    p["misperception"] = p["threat"] - p["warranted_threat"]
    p["implied_hostility"] = implied_hostility(p["threat"], p["capability"])
    p = _add_seen(p)
    return p.sort_values(["run_id", "round", "pos_i", "pos_j"]).reset_index(drop=True)


def _add_seen(p: pd.DataFrame) -> pd.DataFrame:
    """warranted_threat_seen and misperception_seen: W and M from what i could have seen of j."""
    prev = p[["run_id", "round", "i", "j", "action_toward"]].rename(
        columns={"i": "j", "j": "i", "action_toward": "_a_prev"}
    )
    prev["round"] = prev["round"] + 1
    out = p.merge(prev, on=PAIR_KEY, how="left")
    armed = p[["run_id", "round", "i", "arming"]].drop_duplicates(["run_id", "round", "i"])
    armed = armed.rename(columns={"round": "_as_of", "i": "j", "arming": "_r_seen"})
    out["_as_of"] = out["as_of"].astype("float64")
    armed["_as_of"] = armed["_as_of"].astype("float64")
    out = out.merge(armed, on=["run_id", "j", "_as_of"], how="left")
    seen = seen_hostility(out.pop("_a_prev"), out.pop("_r_seen"))
    out = out.drop(columns="_as_of")
    out["warranted_threat_seen"] = warranted(out["capability"], seen)
    out["misperception_seen"] = out["threat"] - out["warranted_threat_seen"]
    return out
