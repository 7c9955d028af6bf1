"""The world's mutable state and the simultaneous resolution of a round.

The order of resolution and why moves are simultaneous: docs/design.md §3.4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dilemma.core.decision import Decision, ProposalKind
from dilemma.core.ladder import ACCIDENT_ESCALATION, ACTION_RUNG, WAR_ACTIONS, Action, Rung
from dilemma.core.observation import ArmsSource, HistoryRow, OrderNotice, Said
from dilemma.core.personas import Regime, Transparency
from dilemma.records.schema import (
    Accident,
    Breach,
    IntelEstimate,
    ResolutionEvent,
    StateOutcome,
    TreatyEvent,
    War,
    WarLosses,
)
from dilemma.scenarios.schema import Communication, Rules, Scenario, StateSpec
from dilemma.simulation.horizon import realized_rounds


@dataclass
class Nation:
    """One state's true condition."""

    spec: StateSpec
    arms: float
    economy: float
    arms_history: list[float]
    """Arms at the end of each round; index 0 is the initial value."""
    last_change: float | None = None
    announced: int | None = None
    """Arms change announced in the last decision, for the coming round."""
    last_action: Action | None = None
    last_target: str | None = None
    last_signals: dict[str, Rung] | None = None
    """The rung declared last round toward each other state (None: no signal given)."""
    last_order: OrderNotice | None = None
    """Set when last round's order misfired: what was ordered and what was carried out."""


@dataclass
class Proposal:
    """An arms-control offer open for one round."""

    id: str
    proposer: str
    kind: ProposalKind
    parties: list[str]
    value: int
    round: int


@dataclass
class Treaty:
    """A treaty in force."""

    id: str
    kind: ProposalKind
    parties: list[str]
    value: int
    since_round: int

    def event(self) -> TreatyEvent:
        """Record form."""
        return TreatyEvent(
            id=self.id,
            kind=self.kind,
            parties=self.parties,
            value=self.value,
            since_round=self.since_round,
        )


@dataclass
class World:
    """Everything true about the world between rounds."""

    scenario: Scenario
    nations: dict[str, Nation]
    rng: np.random.Generator
    round: int = 0
    treaties: list[Treaty] = field(default_factory=list)
    open_proposals: list[Proposal] = field(default_factory=list)
    intel: dict[tuple[str, str], IntelEstimate] = field(default_factory=dict)
    said: list[Said] = field(default_factory=list)
    """Public statements and negotiation messages, in order."""
    actions: dict[int, dict[str, Action]] = field(default_factory=dict)
    threat: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)
    seen: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    """Arms each observer was shown at each round's decision (own arms included)."""
    history_rows: dict[tuple[str, int], HistoryRow] = field(default_factory=dict)
    """(observer, finished round) -> its history-table row, made once (`visibility._history`)."""
    round_views: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """observer -> (round, the observation fields that change only when a round is resolved),
    made once per round (`visibility.observe`); emptied by `resolve_round`."""
    war: War | None = None
    last_round: int = 0
    """The last round the horizon allows (`simulation.horizon.realized_rounds`); 0 means
    `rules.rounds` (a world built without `new_world`)."""

    seed: int = 0
    """The run's seed; accidents draw from their own generators derived from it."""

    @property
    def final_round(self) -> int:
        """The round after which the run ends unless a war ends it first."""
        return self.last_round or self.rules.rounds

    @property
    def rules(self) -> Rules:
        """The scenario's rules."""
        return self.scenario.rules

    def is_summit(self, round_: int) -> bool:
        """Whether `round_` is a summit round (every `summit_every` rounds)."""
        k = self.rules.summit_every
        return k > 0 and round_ % k == 0

    def verified(self, observer: str, target: str) -> bool:
        """Whether a verification treaty lets `observer` see `target` exactly."""
        return any(
            t.kind is ProposalKind.VERIFICATION and observer in t.parties and target in t.parties
            for t in self.treaties
        )


def new_world(scenario: Scenario, seed: int) -> World:
    """The world before round 1, with initial treaties and the first intelligence draw."""
    nations = {
        s.id: Nation(spec=s, arms=s.arms, economy=s.economy, arms_history=[s.arms])
        for s in scenario.states
    }
    world = World(
        scenario=scenario,
        nations=nations,
        rng=np.random.default_rng(seed),
        last_round=realized_rounds(scenario.rules, seed),
        seed=seed,
    )
    for n, t in enumerate(scenario.treaties):
        world.treaties.append(
            Treaty(
                id=f"T0-{n + 1}", kind=t.kind, parties=list(t.parties), value=t.value, since_round=0
            )
        )
    draw_intel(world, next_round=1)
    return world


def draw_intel(world: World, next_round: int) -> list[IntelEstimate]:
    """Draw what each state will know of each secretive state's arms in `next_round`.

    Draws happen in a fixed order (observer, then target, scenario order) from the run's seeded
    generator, so the same seed gives the same estimates.
    """
    rules = world.rules
    drawn: list[IntelEstimate] = []
    for observer in world.nations:
        for target, nation in world.nations.items():
            if target == observer or nation.spec.transparency is Transparency.TRANSPARENT:
                continue
            noise = float(world.rng.normal(0.0, rules.intel_noise)) if rules.intel_noise else 0.0
            as_of = max(0, next_round - 1 - rules.intel_lag)
            true = nation.arms_history[min(as_of, len(nation.arms_history) - 1)]
            estimate = IntelEstimate(
                observer=observer,
                target=target,
                estimate=round(true * max(0.05, 1.0 + noise), 3),
                source=ArmsSource.INTELLIGENCE,
                as_of_round=as_of,
            )
            world.intel[(observer, target)] = estimate
            drawn.append(estimate)
    return drawn


def _apply_rules(
    world: World, nation: Nation, requested: int | None, fallback: bool
) -> tuple[float, list[str]]:
    rules = world.rules
    adjustments: list[str] = []
    if fallback or requested is None:
        return 0.0, ["fallback: no valid decision, arms unchanged"]
    change = float(requested)
    cap = rules.arms_cap_pct
    if abs(change) > cap:
        change = float(max(-cap, min(cap, change)))
        adjustments.append(f"cap: {requested}% limited to {change:g}%")
    threshold = rules.forewarning_threshold_pct
    if nation.spec.regime is Regime.DEMOCRACY and change > threshold:
        announced = nation.announced if nation.announced is not None else threshold
        allowed = max(threshold, announced)
        if change > allowed:
            adjustments.append(
                f"forewarning: {change:g}% limited to {allowed}% (announced last round:"
                f" {nation.announced})"
            )
            change = float(allowed)
    if change > 0 and rules.arms_cost > 0:
        affordable = nation.economy / rules.arms_cost / max(nation.arms, 1e-9) * 100
        if change > affordable:
            adjustments.append(f"economy: {change:g}% limited to {affordable:.2f}% (cannot pay)")
            change = affordable
    return change, adjustments


WAR_SEVERITY = 0.4
"""Arms share a side loses in one round of war when its opponent holds all the effective force."""
WAR_ECONOMY_DAMAGE = 0.5
"""Economy share lost per unit of arms share lost."""


def war_losses(
    initiator_arms: float,
    target_arms: float,
    initiator_economy: float,
    target_economy: float,
    offense_defense: float,
) -> WarLosses:
    """What one round of war between an initiator and its target destroys.

    With b the offense-defense balance, the initiator's arms count b times over (it strikes
    first) and its share of effective force is s = b*x_i / (b*x_i + x_t) (1/2 when both have no
    arms). Each side loses the share of its own arms WAR_SEVERITY times the opponent's force
    share, and WAR_ECONOMY_DAMAGE times that share of its economy:

        target loses    0.4 * s       of its arms and 0.2 * s       of its economy
        initiator loses 0.4 * (1 - s) of its arms and 0.2 * (1 - s) of its economy

    With offense ahead (b > 1) a first strike pays and the side struck first loses more; with
    defense ahead (b < 1) attacking costs the initiator more.
    """
    effective = offense_defense * initiator_arms
    total = effective + target_arms
    share = effective / total if total > 0 else 0.5
    target_share, initiator_share = WAR_SEVERITY * share, WAR_SEVERITY * (1 - share)
    return WarLosses(
        offense_defense=offense_defense,
        force_share=round(share, 6),
        initiator_arms_lost=round(initiator_arms * initiator_share, 6),
        target_arms_lost=round(target_arms * target_share, 6),
        initiator_economy_lost=round(initiator_economy * WAR_ECONOMY_DAMAGE * initiator_share, 6),
        target_economy_lost=round(target_economy * WAR_ECONOMY_DAMAGE * target_share, 6),
    )


def _fight(world: World, wars: list[War]) -> tuple[list[War], dict[str, tuple[float, float]]]:
    """Apply the losses of this round's wars (when war does not end the run).

    Every war's losses are computed from the arms and economy before any war of the round, so
    the result does not depend on their order; a state in several wars loses the sum, but
    never more than it has (arms and economy stop at 0). Returns the wars with their losses and
    each state's (arms lost, economy lost) as actually applied.
    """
    lost: dict[str, tuple[float, float]] = {}
    if world.rules.war_ends_run:
        return wars, lost
    before = {sid: (n.arms, n.economy) for sid, n in world.nations.items()}
    out: list[War] = []
    for war in wars:
        target = war.target
        if target is None or target == war.initiator or target not in world.nations:
            out.append(war)
            continue
        (xi, ei), (xt, et) = before[war.initiator], before[target]
        losses = war_losses(xi, xt, ei, et, world.rules.offense_defense)
        for sid, arms, economy in (
            (war.initiator, losses.initiator_arms_lost, losses.initiator_economy_lost),
            (target, losses.target_arms_lost, losses.target_economy_lost),
        ):
            a, e = lost.get(sid, (0.0, 0.0))
            lost[sid] = (a + arms, e + economy)
        out.append(war.model_copy(update={"losses": losses}))
    applied: dict[str, tuple[float, float]] = {}
    for sid, (arms, economy) in lost.items():
        nation = world.nations[sid]
        nation.arms = round(max(0.0, nation.arms - arms), 6)
        nation.economy = round(max(0.0, nation.economy - economy), 6)
        x, e = before[sid]
        applied[sid] = (round(x - nation.arms, 6), round(e - nation.economy, 6))
    return out, applied


def _breaches(world: World, applied: dict[str, float]) -> tuple[list[Breach], list[str]]:
    breaches: list[Breach] = []
    ended: list[str] = []
    for treaty in world.treaties:
        broken = False
        for party in treaty.parties:
            change = applied[party]
            if treaty.kind is ProposalKind.ARMS_CAP and change > treaty.value:
                limit = f"arms change <= {treaty.value}%"
            elif treaty.kind is ProposalKind.MUTUAL_REDUCTION and change > -treaty.value:
                limit = f"arms change <= -{treaty.value}%"
            else:
                continue
            breaches.append(
                Breach(treaty=treaty.id, state=party, applied_change=change, limit=limit)
            )
            broken = True
        if broken:
            ended.append(treaty.id)
    world.treaties = [t for t in world.treaties if t.id not in ended]
    return breaches, ended


def _treaties(
    world: World, decisions: dict[str, Decision | None], round_: int
) -> tuple[list[TreatyEvent], list[TreatyEvent]]:
    accepted: dict[str, set[str]] = {}
    for sid, decision in decisions.items():
        if decision is None:
            continue
        for response in decision.responses:
            if response.accept:
                accepted.setdefault(response.proposal, set()).add(sid)
    formed: list[TreatyEvent] = []
    for p in world.open_proposals:
        needed = set(p.parties) - {p.proposer}
        if not needed <= accepted.get(p.id, set()):
            continue
        duplicate = any(
            t.kind is p.kind and set(t.parties) == set(p.parties) and t.value == p.value
            for t in world.treaties
        )
        if duplicate:
            continue
        treaty = Treaty(
            id=f"T{round_}-{p.id}",
            kind=p.kind,
            parties=p.parties,
            value=p.value,
            since_round=round_,
        )
        world.treaties.append(treaty)
        formed.append(treaty.event())
    opened: list[Proposal] = []
    for sid, decision in decisions.items():
        if decision is None:
            continue
        for n, offer in enumerate(decision.proposals, start=1):
            parties = [sid] + [p for p in dict.fromkeys(offer.parties) if p != sid]
            if len(parties) < 2:
                continue
            opened.append(
                Proposal(
                    id=f"P{round_}-{sid}-{n}",
                    proposer=sid,
                    kind=offer.kind,
                    parties=parties,
                    value=offer.value,
                    round=round_,
                )
            )
    world.open_proposals = opened
    return formed, [
        TreatyEvent(id=p.id, kind=p.kind, parties=p.parties, value=p.value, since_round=round_)
        for p in opened
    ]


ACCIDENT_STREAM = 0xACC1DE
"""Mixed into the seed of every accident draw, apart from the intelligence draws' stream."""


def accident_draw(seed: int, round_: int, position: int) -> float:
    """The uniform draw that decides whether the order of the state at `position` (scenario
    order) misfires in `round_`.

    Each state-round has its own generator, seeded from the run's seed, so whether an order
    misfires depends neither on the model calls nor on what the other states did, and the same
    seed gives the same accidents."""
    return float(np.random.default_rng([seed, ACCIDENT_STREAM, round_, position]).random())


def _misfire(
    world: World, position: int, sid: str, action: Action, target: str | None
) -> Accident | None:
    """The accident of this order, if the rules and the state's draw make it misfire."""
    rate = world.rules.accident_rate
    higher = ACCIDENT_ESCALATION.get(ACTION_RUNG[action])
    if rate <= 0 or higher is None or accident_draw(world.seed, world.round, position) >= rate:
        return None
    return Accident(
        round=world.round,
        actor=sid,
        target=target,
        intended_action=action,
        intended_rung=ACTION_RUNG[action],
        executed_action=higher,
        executed_rung=ACTION_RUNG[higher],
    )


def resolve_round(world: World, decisions: dict[str, Decision | None]) -> ResolutionEvent:
    """Apply every state's decision at once and advance the world to the end of the round."""
    round_ = world.round
    rules = world.rules
    world.round_views.clear()  # what every state sees changes from here on
    applied: dict[str, float] = {}
    outcomes: list[StateOutcome] = []
    accidents: list[Accident] = []
    for position, (sid, nation) in enumerate(world.nations.items()):
        decision = decisions[sid]
        requested = decision.arms_change if decision is not None else None
        change, adjustments = _apply_rules(world, nation, requested, decision is None)
        applied[sid] = change
        before = nation.arms
        nation.arms = round(before * (1 + change / 100), 6)
        cost = rules.arms_cost * max(0.0, nation.arms - before)
        nation.economy = round(nation.economy * (1 + rules.economy_growth_pct / 100) - cost, 6)
        nation.last_change = change
        action = decision.action if decision is not None else Action.STATUS_QUO
        target = decision.target if decision is not None else None
        accident = _misfire(world, position, sid, action, target)
        nation.last_order = None
        if accident is not None:
            accidents.append(accident)
            nation.last_order = OrderNotice(
                round=round_, target=target, ordered=action, executed=accident.executed_action
            )
            action = accident.executed_action
        nation.last_action, nation.last_target = action, target
        signals = decision.signals if decision is not None else None
        nation.last_signals = {s.state: s.rung for s in signals} if signals is not None else None
        nation.announced = decision.announced_next_arms_change if decision is not None else None
        outcomes.append(
            StateOutcome(
                state=sid,
                requested_change=requested,
                applied_change=change,
                adjustments=adjustments,
                arms_before=before,
                arms_after=nation.arms,
                economy_after=nation.economy,
                action=action,
                target=target,
                fallback=decision is None,
            )
        )
    breaches, ended = _breaches(world, applied)
    formed, opened = _treaties(world, decisions, round_)
    wars, lost = _fight(
        world,
        [
            War(round=round_, initiator=o.state, target=o.target, action=o.action)
            for o in outcomes
            if o.action in WAR_ACTIONS
        ],
    )
    for n, o in enumerate(outcomes):
        nation = world.nations[o.state]
        nation.arms_history.append(nation.arms)
        if o.state in lost:
            arms_lost, economy_lost = lost[o.state]
            outcomes[n] = o.model_copy(
                update={
                    "arms_after": nation.arms,
                    "economy_after": nation.economy,
                    "war_arms_lost": arms_lost,
                    "war_economy_lost": economy_lost,
                }
            )
    if wars and world.war is None:
        world.war = wars[0]
    world.actions[round_] = {o.state: o.action for o in outcomes}
    world.threat[round_] = {
        sid: {t.state: t.level for t in d.threat} for sid, d in decisions.items() if d is not None
    }
    statements_open = rules.communication in (Communication.FULL, Communication.PUBLIC)
    for sid, decision in decisions.items():
        if statements_open and decision is not None and decision.public_statement:
            world.said.append(
                Said(round=round_, sender=sid, to=["public"], text=decision.public_statement)
            )
    intel = draw_intel(world, next_round=round_ + 1)
    return ResolutionEvent(
        round=round_,
        outcomes=outcomes,
        proposals_opened=opened,
        treaties_formed=formed,
        breaches=breaches,
        treaties_ended=ended,
        wars=wars,
        intel=intel,
        accidents=accidents,
    )
