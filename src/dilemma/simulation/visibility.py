"""What each state sees: the only place where visibility rules live (docs/design.md §3.1).

Transparent states are seen exactly (arms, last change, announcement). Secretive states are seen
through the seeded, lagged, noisy intelligence estimate drawn at the previous resolution, unless a
verification treaty covers the pair or it is a summit round. Private rationale and intent never
enter an observation. Every state sees the executed actions and the public signals of the last
round; only the actor learns that its order misfired (`SelfView.last_order`), and the accident
rate is shown only when the scenario discloses it.

Persona and rules are kept apart: the regime and transparency labels of every state are its
persona (`StateSpec.shown_regime` / `shown_transparency`), while what is seen and which rules bind
the observer (exact or estimated arms, the forewarning threshold) follow the rules in force
(`regime` / `transparency`).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from dilemma.core.decision import decision_channels, messages_open
from dilemma.core.observation import (
    ArmsSource,
    HistoryRow,
    Observation,
    OtherView,
    Phase,
    Plan,
    ProposalView,
    RulesView,
    Said,
    SelfView,
    TreatyView,
)
from dilemma.core.personas import Regime, Transparency
from dilemma.scenarios.schema import Horizon
from dilemma.simulation.world import Nation, World


def _other_view(world: World, observer: str, other: Nation, summit: bool) -> OtherView:
    spec = other.spec
    last_round = world.round - 1
    if spec.transparency is Transparency.TRANSPARENT:
        source, arms, as_of, uncertainty = ArmsSource.EXACT, other.arms, last_round, 0
    elif world.verified(observer, spec.id):
        source, arms, as_of, uncertainty = ArmsSource.VERIFICATION, other.arms, last_round, 0
    elif summit:
        source, arms, as_of, uncertainty = ArmsSource.SUMMIT, other.arms, last_round, 0
    else:
        estimate = world.intel[(observer, spec.id)]
        source, arms, as_of = ArmsSource.INTELLIGENCE, estimate.estimate, estimate.as_of_round
        uncertainty = round(world.rules.intel_noise * 100)
    exact = source is not ArmsSource.INTELLIGENCE
    open_plans = spec.transparency is Transparency.TRANSPARENT or summit
    return OtherView(
        id=spec.id,
        name=spec.shown_name,
        regime=spec.shown_regime,
        transparency=spec.shown_transparency,
        arms=round(arms, 3),
        arms_source=source,
        arms_as_of_round=as_of,
        arms_uncertainty_pct=uncertainty,
        last_arms_change=other.last_change if exact else None,
        announced_next_arms_change=other.announced if open_plans else None,
        last_action=other.last_action,
        last_target=other.last_target,
        last_signals=other.last_signals,
    )


def _history(world: World, observer: str) -> list[HistoryRow]:
    rules = world.rules
    seen = world.seen.get(observer, {})
    rounds = [r for r in sorted(seen) if r < world.round][-rules.history_table_rows :]
    if rules.history_table_rows == 0:
        rounds = []
    rows = world.history_rows
    table = []
    for r in rounds:  # finished rounds: what was seen and done then no longer changes
        row = rows.get((observer, r))
        if row is None:
            row = rows[(observer, r)] = HistoryRow(
                round=r, arms=seen[r], actions=world.actions.get(r, {})
            )
        table.append(row)
    return table


def _said_round(said: Said) -> int:
    return said.round


def remember(world: World, obs: Observation) -> None:
    """Keep the arms a decision observation showed, for the observer's later history table."""
    arms = {o.id: o.arms for o in obs.others}
    arms[obs.you.id] = obs.you.arms
    world.seen.setdefault(obs.you.id, {})[obs.round] = arms


def observe(world: World, observer: str, phase: Phase, subturn: int) -> Observation:
    """Build what `observer` sees now; `subturn` is 0 in the decision phase.

    Within a round only the statements and messages change between calls (everything else
    changes when the round is resolved), so the rest is built once per observer and round.
    """
    rules = world.rules
    round_ = world.round
    oldest = round_ - rules.history_full_rounds
    said = world.said  # appended round by round, so the recent ones are a tail
    recent = said[bisect_left(said, oldest, key=_said_round) :]
    channels = decision_channels(rules.communication)
    statements = [s for s in recent if s.to == ["public"]] if channels.statement else None
    messages = (
        [
            s
            for s in recent
            if s.to != ["public"] and (s.sender == observer or "all" in s.to or observer in s.to)
        ]
        if messages_open(rules.communication)
        else None
    )
    standing = world.round_views.get(observer)
    if standing is None or standing[0] != round_:
        standing = world.round_views[observer] = (round_, _standing(world, observer))
    return Observation(
        round=round_,
        rounds_total=rules.rounds if rules.horizon is Horizon.KNOWN else None,
        phase=phase,
        subturn=subturn,
        subturns_total=rules.subturns,
        statements=statements,
        messages=messages,
        **standing[1],
    )


def _standing(world: World, observer: str) -> dict[str, Any]:
    """The fields of `observer`'s observation that stay the same until the round is resolved."""
    rules = world.rules
    me = world.nations[observer]
    round_ = world.round
    summit = world.is_summit(round_)
    geometric = rules.horizon is Horizon.GEOMETRIC
    plans = (
        [Plan(state=sid, announced_arms_change=n.announced) for sid, n in world.nations.items()]
        if summit
        else []
    )
    return {
        "you": SelfView(
            id=observer,
            name=me.spec.shown_name,
            regime=me.spec.shown_regime,
            transparency=me.spec.shown_transparency,
            disposition=me.spec.disposition,
            doctrine=me.spec.shown_doctrine,
            arms=round(me.arms, 3),
            economy=round(me.economy, 3),
            last_arms_change=me.last_change,
            my_announced_arms_change=me.announced,
            last_order=me.last_order,
        ),
        "others": [
            _other_view(world, observer, n, summit)
            for sid, n in world.nations.items()
            if sid != observer
        ],
        "rules": RulesView(
            arms_cap_pct=rules.arms_cap_pct,
            forewarning_threshold_pct=(
                rules.forewarning_threshold_pct if me.spec.regime is Regime.DEMOCRACY else None
            ),
            summit_this_round=summit,
            summit_next_round=world.is_summit(round_ + 1),
            war_ends_run=rules.war_ends_run,
            offense_defense=rules.offense_defense,
            continuation=rules.continuation if geometric else None,
            min_rounds=rules.min_rounds if geometric else None,
            accident_rate=rules.accident_rate if rules.accidents_disclosed else None,
        ),
        "open_proposals": [
            ProposalView(
                id=p.id, proposer=p.proposer, kind=p.kind, parties=p.parties, value=p.value
            )
            for p in world.open_proposals
            if observer in p.parties
        ]
        if decision_channels(rules.communication).proposals
        else None,
        "treaties": [
            TreatyView(
                id=t.id,
                kind=t.kind,
                parties=t.parties,
                value=t.value,
                since_round=t.since_round,
            )
            for t in world.treaties
            if observer in t.parties
        ],
        "disclosed_plans": plans,
        "history": _history(world, observer),
    }
