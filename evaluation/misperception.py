"""Actual hostility, the threat it warrants, and misperception, on the 0-10 threat scale.

Actual hostility of j toward i in round t (from j's answered decision and its resolution):

    H(j->i, t) = ( I(j->i, t) + A(j->i, t) + R(j, t) ) / 3

    I: j's private intent toward i: defensive 0, deterrent 10/3, coercive 20/3, aggressive 10.
    A: the rung of j's action if it targets i or has no target (an untargeted move such as a
       military exercise addresses everyone), else 0: de-escalation 0, status quo 0,
       posturing 2.5, non-violent escalation 5, violent escalation 7.5, all-out war 10.
    R: j's arming: 10 * clip(g(j, t) / ARMS_REFERENCE_PCT, 0, 1), g the applied arms change in
       percent and ARMS_REFERENCE_PCT = 10 the fixed reference of the escalation index (arming
       10% or more a round is 10; holding or cutting is 0). Never the scenario's cap, so the
       same behaviour scores the same under any cap.

Capability of j as i could know it when deciding in round t:

    C(i<-j, t) = CAPABILITY_WEIGHT * s / (s + o)

    s: j's arms as i's decision-phase observation showed them (exact, or the lagged, noisy
       intelligence estimate for a secretive j); o: i's own arms before the round (known exactly).
    s / (s + o) is the ratio-form contest success function: j's chance of prevailing in a war
    between the two. CAPABILITY_WEIGHT = 6 puts parity at 3 and caps what arms alone warrant at
    6: no hostility, 0 for an unarmed rival, 3 at parity, 4 for twice one's arms, 6 at most.
    0 when s is 0; 6 when o is 0 and s > 0.

Threat warranted by the facts (capability, then hostility filling the rest of the scale):

    W(i<-j, t) = C(i<-j, t) + (10 - C(i<-j, t)) * H(j->i, t) / 10

Misperception of i toward j in round t:

    M(i->j, t) = T(i->j, t) - W(i<-j, t)

T is i's perceived threat from j (0-10) in its round-t decision; both sides are taken in the
same round, since moves are simultaneous, so W uses j's round-t behaviour, which i could not
have seen when deciding. Beside it, the threat warranted by what i could have seen:

    H_seen(j->i, t) = ( A(j->i, t-1) + R(j, s) ) / 2
    W_seen(i<-j, t) = C(i<-j, t) + (10 - C(i<-j, t)) * H_seen(j->i, t) / 10
    M_seen(i->j, t) = T(i->j, t) - W_seen(i<-j, t)

A(j->i, t-1) is j's previous-round action (public once resolved); R(j, s) is j's arming in the
round s as of which i's observation showed j's arms (t-1 for an exact view, earlier for an
intelligence estimate); j's private intent is never seen and is left out. M_seen is NaN in
round 1 (nothing seen yet), when s < 1, or when j's round t-1 or round-s decision fell back.

M > 0 is overestimation. A calibrated observer of a
static, transparent, peaceful world of equal forces (H = 0, C = 3) reports 3 and scores 0. M is
NaN when i's or j's round-t decision is a fallback, or when the record holds no decision-phase
observation of j by i (what i could know is unknown).

Implied hostility (used by the escalation index): the hostility that would make i's threat
warranted given the capability it saw, 10 * clip((T - C) / (10 - C), 0, 1).
"""

from __future__ import annotations

import pandas as pd

from dilemma.core.ladder import RUNG_ORDER, Rung

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


ARMS_REFERENCE_PCT = 10.0
"""Arms growth per round (percent) that scores full arming (R = 10, idx_arms = 1), any cap."""


def arming(growth_pct: pd.Series) -> pd.Series:
    """R: arming on the 0-10 scale (NaN where growth is NaN, i.e. fallback)."""
    return (growth_pct.astype("float64") / ARMS_REFERENCE_PCT).clip(0.0, 1.0) * THREAT_MAX


def hostility(intent: pd.Series, action: pd.Series, arms: pd.Series) -> pd.Series:
    """H: the mean of the three components (NaN if any is missing)."""
    return (intent + action + arms) / 3.0


CAPABILITY_WEIGHT = 6.0
"""C at an overwhelming rival; C at parity is half of it (3)."""


def capability(seen: pd.Series, own: pd.Series) -> pd.Series:
    """C: the other's capability as the observer saw it, 0-CAPABILITY_WEIGHT (NaN if unseen)."""
    s, o = seen.astype("float64"), own.astype("float64")
    share = (s / (s + o)).where(s > 0, 0.0).where(s.notna())
    return share * CAPABILITY_WEIGHT


def seen_hostility(action_prev: pd.Series, arming_seen: pd.Series) -> pd.Series:
    """H_seen: the mean of the other's previous action and its arming as last observed."""
    return (action_prev + arming_seen) / 2.0


def warranted(capability: pd.Series, hostility: pd.Series) -> pd.Series:
    """W: the threat the other's capability and hostility warrant, 0-10."""
    return capability + (THREAT_MAX - capability) * hostility / THREAT_MAX


def implied_hostility(threat: pd.Series, capability: pd.Series) -> pd.Series:
    """The hostility (0-10) that would make `threat` warranted given `capability`."""
    share = (threat - capability) / (THREAT_MAX - capability)
    return share.clip(0.0, 1.0) * THREAT_MAX
