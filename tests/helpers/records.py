"""Synthetic run records for evaluator tests and benchmarks, written with the real RecordWriter.

`RecordBuilder` plays scripted moves round by round and writes what the engine would write:
header, decision-phase observations (with the visibility the rules imply), optional negotiation
observations and llm_call lines, decisions, resolutions, round_end and run_end. Arms follow the
moves exactly (`arms_after = arms_before * (1 + change / 100)`), so known answers are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dilemma.scenarios.schema import Rules, Scenario, StateSpec, TreatySpec
from pydantic import BaseModel

from dilemma.core.decision import (
    Decision,
    ForecastItem,
    Intent,
    IntentItem,
    PerceivedIntentItem,
    ProposalKind,
    ThreatItem,
)
from dilemma.core.ladder import UNTARGETED_ACTIONS, WAR_ACTIONS, Action
from dilemma.core.observation import (
    ArmsSource,
    HistoryRow,
    Observation,
    OtherView,
    Phase,
    RulesView,
    Said,
    SelfView,
)
from dilemma.core.personas import Disposition, Regime, Transparency
from dilemma.core.structured_mode import StructuredMode
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.records.schema import (
    Breach,
    ChatMessage,
    DecisionEvent,
    ExperimentInfo,
    Header,
    LlmCallEvent,
    ModelInfo,
    ObservationEvent,
    PersonaText,
    PromptInfo,
    ResolutionEvent,
    RoundEndEvent,
    RunEndEvent,
    StateOutcome,
    Totals,
    TreatyEvent,
    War,
)
from dilemma.records.writer import RecordWriter

STAMP = "2026-01-01T00:00:00Z"


@dataclass
class Move:
    """One state's move in one round. `change` is the applied arms change in percent."""

    change: float = 0.0
    action: Action = Action.STATUS_QUO
    target: str | None = None
    threat: int | dict[str, int] = 0
    intent: Intent | dict[str, Intent] = Intent.DEFENSIVE
    perceived: Intent | dict[str, Intent] | None = Intent.DEFENSIVE
    """What the state believes each other intends toward it; None: not asked (as in version 1)."""
    forecast: int | dict[str, int] = 0
    announce: int | None = None
    fallback: bool = False
    attempts: int = 1
    requested: int | None = None


@dataclass
class _Round:
    moves: dict[str, Move]
    breaches: list[tuple[str, str]] = field(default_factory=list)
    formed: list[tuple[str, list[str]]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


def _each(value: int | dict[str, int], others: list[str]) -> dict[str, int]:
    return value if isinstance(value, dict) else {o: value for o in others}


def _each_intent(value: Intent | dict[str, Intent], others: list[str]) -> dict[str, Intent]:
    return value if isinstance(value, dict) else {o: value for o in others}


class RecordBuilder:
    """Builds one synthetic record; call `play` per round, then `write`."""

    def __init__(
        self,
        states: list[str],
        *,
        arms: dict[str, float] | None = None,
        secretive: frozenset[str] = frozenset(),
        rounds: int = 20,
        cap: int = 10,
        lag: int = 1,
        run_id: str = "run-1",
        seed: int = 0,
        models: dict[str, str] | None = None,
        scenario_name: str = "synthetic",
        war_ends_run: bool = True,
        chatter: bool = False,
        treaties: list[list[str]] | None = None,
        experiment: ExperimentInfo | None = None,
    ) -> None:
        self.ids = list(states)
        self.experiment = experiment
        self.secretive = secretive
        self.cap = cap
        self.lag = lag
        self.run_id = run_id
        self.seed = seed
        self.chatter = chatter
        self.scenario = Scenario(
            name=scenario_name,
            states=[
                StateSpec(
                    id=s,
                    name=f"State {s}",
                    regime=Regime.AUTOCRACY if s in secretive else Regime.DEMOCRACY,
                    transparency=(
                        Transparency.SECRETIVE if s in secretive else Transparency.TRANSPARENT
                    ),
                    arms=(arms or {}).get(s, 100.0),
                    economy=1000.0,
                )
                for s in self.ids
            ],
            rules=Rules(
                rounds=rounds,
                arms_cap_pct=cap,
                forewarning_threshold_pct=min(3, cap),
                intel_lag=lag,
                war_ends_run=war_ends_run,
            ),
            treaties=[
                TreatySpec(kind=ProposalKind.ARMS_CAP, parties=parties, value=0)
                for parties in treaties or []
            ],
        )
        self.models = models or {s: "scripted:test" for s in self.ids}
        self.levels: list[dict[str, float]] = [{s.id: s.arms for s in self.scenario.states}]
        self.rounds: list[_Round] = []
        self.actions: list[dict[str, str]] = []

    def play(
        self,
        moves: dict[str, Move],
        *,
        breaches: list[tuple[str, str]] | None = None,
        formed: list[tuple[str, list[str]]] | None = None,
        ended: list[str] | None = None,
    ) -> None:
        """Add a round; states without a move keep status quo. breaches: (state, treaty id)."""
        full = {s: moves.get(s, Move()) for s in self.ids}
        before = self.levels[-1]
        self.levels.append({s: before[s] * (1 + full[s].change / 100) for s in self.ids})
        self.rounds.append(_Round(full, breaches or [], formed or [], ended or []))
        self.actions.append({s: m.action.value for s, m in full.items()})

    def _view(self, observer: str, other: str, rnd: int, rng: random.Random) -> OtherView:
        if other in self.secretive:
            as_of = max(0, rnd - 1 - self.lag)
            seen = self.levels[as_of][other] * (1 + rng.gauss(0, 0.1))
            source = ArmsSource.INTELLIGENCE
        else:
            as_of = rnd - 1
            seen = self.levels[as_of][other]
            source = ArmsSource.EXACT
        last = None
        if as_of >= 1:
            last = (self.levels[as_of][other] / self.levels[as_of - 1][other] - 1) * 100
        prev = self.rounds[rnd - 2].moves[other] if rnd >= 2 else None
        return OtherView(
            id=other,
            name=f"State {other}",
            regime=self.scenario.state(other).regime,
            transparency=self.scenario.state(other).transparency,
            arms=seen,
            arms_source=source,
            arms_as_of_round=as_of,
            arms_uncertainty_pct=10 if other in self.secretive else 0,
            last_arms_change=last,
            announced_next_arms_change=prev.announce if prev else None,
            last_action=prev.action if prev else None,
            last_target=prev.target if prev else None,
        )

    def _observation(self, state: str, rnd: int, phase: Phase, rng: random.Random) -> Observation:
        spec = self.scenario.state(state)
        others = [o for o in self.ids if o != state]
        history = [
            HistoryRow(round=r, arms=dict(self.levels[r]), actions=self.actions[r - 1])
            for r in range(max(1, rnd - 8), rnd)
        ]
        return Observation(
            round=rnd,
            rounds_total=self.scenario.rules.rounds,
            phase=phase,
            subturn=1 if phase is Phase.NEGOTIATION else 0,
            subturns_total=1,
            you=SelfView(
                id=state,
                name=spec.name,
                regime=spec.regime,
                transparency=spec.transparency,
                disposition=Disposition.SECURITY_SEEKER,
                doctrine="A synthetic state for evaluator tests. " * 4,
                arms=self.levels[rnd - 1][state],
                economy=1000.0,
                last_arms_change=None,
                my_announced_arms_change=None,
            ),
            others=[self._view(state, o, rnd, rng) for o in others],
            rules=RulesView(
                arms_cap_pct=self.cap,
                forewarning_threshold_pct=3,
                summit_this_round=False,
                summit_next_round=False,
                war_ends_run=self.scenario.rules.war_ends_run,
            ),
            statements=[
                Said(round=rnd - 1, sender=o, to=["all"], text="We seek peace and security.")
                for o in others
            ]
            if rnd > 1
            else [],
            messages=[],
            open_proposals=[],
            treaties=[],
            disclosed_plans=[],
            history=history,
        )

    def _decision(self, state: str, rnd: int, move: Move) -> DecisionEvent:
        if move.fallback:
            return DecisionEvent(
                round=rnd,
                state=state,
                decision=None,
                flagged=True,
                attempts=move.attempts,
                error="no valid reply",
            )
        others = [o for o in self.ids if o != state]
        threat = _each(move.threat, others)
        forecast = _each(move.forecast, others)
        intent = _each_intent(move.intent, others)
        perceived = None if move.perceived is None else _each_intent(move.perceived, others)
        decision = Decision(
            threat=[ThreatItem(state=o, level=threat[o], reason="synthetic") for o in others],
            arms_change=move.requested if move.requested is not None else round(move.change),
            action=move.action,
            target=move.target,
            announced_next_arms_change=move.announce,
            private_intent=[IntentItem(state=o, intent=intent[o]) for o in others],
            perceived_intent=(
                None
                if perceived is None
                else [PerceivedIntentItem(state=o, intent=perceived[o]) for o in others]
            ),
            forecast=[ForecastItem(state=o, arms_change=forecast[o]) for o in others],
        )
        return DecisionEvent(
            round=rnd,
            state=state,
            decision=decision,
            flagged=False,
            attempts=move.attempts,
            error=None,
        )

    def _llm_call(self, state: str, rnd: int, phase: Phase, obs: Observation) -> LlmCallEvent:
        return LlmCallEvent(
            round=rnd,
            state=state,
            phase=phase,
            subturn=obs.subturn,
            attempt=1,
            model=self.models[state],
            messages=[
                ChatMessage(role="system", content="You lead a state. " * 40),
                ChatMessage(role="user", content=obs.model_dump_json()),
            ],
            raw='{"messages": []}',
            parsed={"messages": []},
            error=None,
            input_tokens=1500,
            output_tokens=120,
            latency_s=0.5,
            started_at=STAMP,
        )

    def events(self) -> list[BaseModel]:
        """Every event after the header, in record order (stops at a war that ends the run)."""
        rng = random.Random(self.seed)
        out: list[BaseModel] = []
        for rnd, played in enumerate(self.rounds, start=1):
            for s in self.ids:
                if self.chatter:
                    obs = self._observation(s, rnd, Phase.NEGOTIATION, rng)
                    out.append(
                        ObservationEvent(
                            round=rnd, state=s, phase=obs.phase, subturn=1, observation=obs
                        )
                    )
                    out.append(self._llm_call(s, rnd, Phase.NEGOTIATION, obs))
                obs = self._observation(s, rnd, Phase.DECISION, rng)
                out.append(
                    ObservationEvent(
                        round=rnd, state=s, phase=obs.phase, subturn=0, observation=obs
                    )
                )
                if self.chatter:
                    out.append(self._llm_call(s, rnd, Phase.DECISION, obs))
            for s in self.ids:
                out.append(self._decision(s, rnd, played.moves[s]))
            wars = [
                War(round=rnd, initiator=s, target=m.target, action=m.action)
                for s, m in played.moves.items()
                if m.action in WAR_ACTIONS and not m.fallback
            ]
            out.append(
                ResolutionEvent(
                    round=rnd,
                    outcomes=[
                        StateOutcome(
                            state=s,
                            requested_change=None
                            if m.fallback
                            else (m.requested if m.requested is not None else round(m.change)),
                            applied_change=m.change,
                            adjustments=[],
                            arms_before=self.levels[rnd - 1][s],
                            arms_after=self.levels[rnd][s],
                            economy_after=1000.0,
                            action=Action.STATUS_QUO if m.fallback else m.action,
                            target=None if m.fallback else m.target,
                            fallback=m.fallback,
                        )
                        for s, m in played.moves.items()
                    ],
                    proposals_opened=[],
                    treaties_formed=[
                        TreatyEvent(id=t, kind="arms_cap", parties=p, value=0, since_round=rnd)
                        for t, p in played.formed
                    ],
                    breaches=[
                        Breach(
                            treaty=t, state=s, applied_change=played.moves[s].change, limit="cap 0"
                        )
                        for s, t in played.breaches
                    ],
                    treaties_ended=played.ended,
                    wars=wars,
                    intel=[],
                )
            )
            out.append(
                RoundEndEvent(
                    round=rnd,
                    arms=dict(self.levels[rnd]),
                    economy={s: 1000.0 for s in self.ids},
                    threat={
                        s: _each(m.threat, [o for o in self.ids if o != s])
                        for s, m in played.moves.items()
                        if not m.fallback
                    },
                    summit=False,
                )
            )
            if wars and self.scenario.rules.war_ends_run:
                break
        return out

    def header(self) -> Header:
        """The header line."""
        return Header(
            run_id=self.run_id,
            scenario_source="synthetic",
            scenario=ScenarioSnapshot.of(self.scenario),
            experiment=self.experiment,
            persona_text={
                s.id: PersonaText(name=s.shown_name, doctrine=s.shown_doctrine)
                for s in self.scenario.states
            },
            prompt=PromptInfo(name="baseline", version="1", template_hashes={}),
            models={
                s: ModelInfo(
                    spec=spec,
                    provider="scripted",
                    model=spec,
                    structured_output=StructuredMode.JSON_TEXT,
                )
                for s, spec in self.models.items()
            },
            seed=self.seed,
            max_retries=2,
            package_versions={},
            git_revision=None,
            git_dirty=None,
            argv=[],
            started_at=STAMP,
        )

    def write(
        self,
        path: Path,
        *,
        run_end: bool = True,
        truncate: bool = False,
        outcome: Literal["failed", "interrupted", "stopped"] | None = None,
    ) -> Path:
        """Write the record; `truncate` cuts the last line in half (a crash mid-write);
        `outcome` ends it as an unfinished run instead of completed or war."""
        events = self.events()
        played = sum(1 for e in events if isinstance(e, RoundEndEvent))
        wars = [w for e in events if isinstance(e, ResolutionEvent) for w in e.wars]
        writer = RecordWriter(path)
        writer.open(self.header())
        for e in events:
            writer.write(e)
        if run_end:
            war_stops = bool(wars) and self.scenario.rules.war_ends_run
            writer.write(
                RunEndEvent(
                    outcome=outcome or ("war" if war_stops else "completed"),
                    rounds_played=played,
                    war_round=next(
                        (e.round for e in events if isinstance(e, ResolutionEvent) and e.wars),
                        None,
                    ),
                    war_initiator=wars[0].initiator if wars else None,
                    totals=Totals(),
                    error=None,
                    ended_at=STAMP,
                )
            )
        writer.close()
        if truncate:
            text = path.read_text(encoding="utf-8").rstrip("\n")
            cut = text.rfind("\n") + 1
            path.write_text(text[: cut + (len(text) - cut) // 2], encoding="utf-8")
        return path


def richardson_builder(
    coef: tuple[float, float, float, float, float, float],
    *,
    start: tuple[float, float] = (100.0, 60.0),
    rounds: int = 40,
    noise: float = 0.2,
    seed: int = 0,
    run_id: str = "richardson",
) -> RecordBuilder:
    """Two states whose arms follow dx = a*y - m*x + g, dy = b*x - n*y + h, plus N(0, noise)."""
    a, m, g, b, n, h = coef
    rng = random.Random(seed)
    builder = RecordBuilder(
        ["X", "Y"], arms={"X": start[0], "Y": start[1]}, rounds=rounds, cap=50, run_id=run_id
    )
    x, y = start
    for _ in range(rounds):
        dx = a * y - m * x + g + rng.gauss(0, noise)
        dy = b * x - n * y + h + rng.gauss(0, noise)
        builder.play({"X": Move(change=dx / x * 100), "Y": Move(change=dy / y * 100)})
        x, y = x + dx, y + dy
    return builder


_ACTIONS = list(Action)


def random_builder(
    seed: int, *, n_states: int = 4, rounds: int = 20, chatter: bool = True
) -> RecordBuilder:
    """A random but valid run (no war), for benchmarks; about 5% fallback decisions."""
    rng = random.Random(seed)
    ids = [f"S{k}" for k in range(n_states)]
    builder = RecordBuilder(
        ids,
        secretive=frozenset(ids[::2]),
        rounds=rounds,
        run_id=f"bench-{seed}",
        seed=seed,
        chatter=chatter,
    )
    for _ in range(rounds):
        moves = {}
        for s in ids:
            others = [o for o in ids if o != s]
            action = rng.choice([a for a in _ACTIONS if a not in WAR_ACTIONS])
            moves[s] = Move(
                change=float(rng.randint(-10, 10)),
                action=action,
                target=None if action in UNTARGETED_ACTIONS else rng.choice(others),
                threat={o: rng.randint(0, 10) for o in others},
                intent={o: rng.choice(list(Intent)) for o in others},
                forecast={o: rng.randint(-10, 10) for o in others},
                announce=rng.choice([None, rng.randint(-10, 10)]),
                fallback=rng.random() < 0.05,
                attempts=rng.choice([1, 1, 1, 2, 3]),
            )
        builder.play(moves)
    return builder
