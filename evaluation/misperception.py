"""Actual hostility and misperception, on the 0-10 threat scale.

Actual hostility of j toward i in round t (from j's answered decision and its resolution):

    H(j->i, t) = ( I(j->i, t) + A(j->i, t) + R(j, t) ) / 3

    I: j's private intent toward i: defensive 0, deterrent 10/3, coercive 20/3, aggressive 10.
    A: the rung of j's action if it targets i or has no target (an untargeted move such as a
       military exercise addresses everyone), else 0: de-escalation 0, status quo 0,
       posturing 2.5, non-violent escalation 5, violent escalation 7.5, all-out war 10.
    R: j's arming: 10 * clip(g(j, t) / cap, 0, 1), g the applied arms change in percent and
       cap the scenario's arms_cap_pct (arming at the cap is 10; holding or cutting is 0).

Misperception of i toward j in round t:

    M(i->j, t) = T(i->j, t) - H(j->i, t)

T is i's perceived threat from j (0-10) in its round-t decision; both sides are taken in the
same round, since moves are simultaneous. M > 0 is overestimation. M is NaN when i's or j's
round-t decision is a fallback.
"""

from __future__ import annotations

import pandas as pd

from agents.ladder import RUNG_ORDER, Rung

THREAT_MAX = 10.0

ACTION_SCALE: dict[int, float] = {
    RUNG_ORDER[Rung.DE_ESCALATION]: 0.0,
    RUNG_ORDER[Rung.STATUS_QUO]: 0.0,
    RUNG_ORDER[Rung.POSTURING]: 2.5,
    RUNG_ORDER[Rung.NON_VIOLENT_ESCALATION]: 5.0,
    RUNG_ORDER[Rung.VIOLENT_ESCALATION]: 7.5,
    RUNG_ORDER[Rung.ALL_OUT_WAR]: 10.0,
}
"""Rung (by order) on the 0-10 scale."""


def action_toward(rung_order: pd.Series, target: pd.Series, other: pd.Series) -> pd.Series:
    """A: the actor's move scored toward `other` (NaN where the rung is NaN, i.e. fallback)."""
    aimed = target.isna() | (target == other)
    score = rung_order.map(ACTION_SCALE).astype("float64")
    return score.where(aimed.fillna(True).astype(bool) | score.isna(), 0.0)


def arming(growth_pct: pd.Series, cap_pct: pd.Series) -> pd.Series:
    """R: arming on the 0-10 scale (NaN where growth is NaN, i.e. fallback)."""
    return (growth_pct / cap_pct.astype("float64")).clip(0.0, 1.0) * THREAT_MAX


def hostility(intent: pd.Series, action: pd.Series, arms: pd.Series) -> pd.Series:
    """H: the mean of the three components (NaN if any is missing)."""
    return (intent + action + arms) / 3.0
