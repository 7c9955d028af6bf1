"""The async round engine: negotiation sub-turns, decisions, resolution (docs/design.md §3).

Within a phase every state acts concurrently; the shared semaphore held by each agent bounds the
model calls in flight. Moves are simultaneous: decisions are resolved together, and events that
summarise a phase are written in scenario order so records are deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from dilemma.core.agent import Agent, AskResult, CallLog, Log
from dilemma.core.decision import (
    Decision,
    NegotiationReply,
    decision_channels,
    decision_reply_model,
    messages_open,
    negotiation_reply_model,
    to_decision,
    to_negotiation,
)
from dilemma.core.observation import Observation, Phase, Said
from dilemma.models.budget import SpendLimitReached
from dilemma.records.provenance import utc_now
from dilemma.records.schema import (
    ChatMessage,
    DecisionEvent,
    Delivered,
    LlmCallEvent,
    NegotiationEvent,
    ObservationEvent,
    ResolutionEvent,
    RoundEndEvent,
    RunEndEvent,
    Totals,
)
from dilemma.scenarios.schema import Communication
from dilemma.simulation.visibility import observe, remember
from dilemma.simulation.world import World, resolve_round

Emit = Callable[[BaseModel], None]


async def _every(calls: list[Awaitable[AskResult]]) -> list[AskResult]:
    """The results of one phase's calls, in order, each awaited to its end.

    When one raises, the others still finish (the calls in flight are paid for, and their
    events are written before the run's record is closed); then the first error is raised, a
    refused call (SpendLimitReached) only if nothing else went wrong. Cancelling cancels all.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise next((e for e in errors if not isinstance(e, SpendLimitReached)), errors[0])
    return [r for r in results if not isinstance(r, BaseException)]


@dataclass
class RoundReport:
    """What a progress display needs after each round."""

    round: int
    resolution: ResolutionEvent
    end: RoundEndEvent


class Engine:
    """Plays one run of a world with one agent per state, emitting record events."""

    def __init__(self, world: World, agents: Mapping[str, Agent], emit: Emit) -> None:
        self.world = world
        self.agents = agents
        self.emit = emit
        self.totals = Totals()

    def _logger(self, obs: Observation) -> Log:
        agent = self.agents[obs.you.id]
        spec, counted = agent.spec, not agent.is_human  # a person's turn is logged, not counted

        def log(call: CallLog) -> None:
            if counted:
                self.totals.llm_calls += 1
            self.totals.retries += 1 if call.attempt > 1 else 0
            self.totals.input_tokens += call.input_tokens or 0
            self.totals.output_tokens += call.output_tokens or 0
            if call.cost_usd is None or self.totals.cost_usd is None:
                self.totals.cost_usd = None
            else:
                self.totals.cost_usd += call.cost_usd
            self.emit(
                LlmCallEvent(
                    round=obs.round,
                    state=obs.you.id,
                    phase=obs.phase,
                    subturn=obs.subturn,
                    attempt=call.attempt,
                    model=spec,
                    messages=[ChatMessage(role=r, content=c) for r, c in call.messages],
                    raw=call.raw,
                    parsed=call.parsed,
                    error=call.error,
                    input_tokens=call.input_tokens,
                    output_tokens=call.output_tokens,
                    cost_usd=call.cost_usd,
                    latency_s=call.latency_s,
                    started_at=call.started_at,
                )
            )

        return log

    def _observe(self, phase: Phase, subturn: int) -> dict[str, Observation]:
        observations = {sid: observe(self.world, sid, phase, subturn) for sid in self.agents}
        for sid, obs in observations.items():
            self.emit(
                ObservationEvent(
                    round=obs.round, state=sid, phase=phase, subturn=subturn, observation=obs
                )
            )
        return observations

    async def _negotiate(self, subturn: int) -> None:
        observations = self._observe(Phase.NEGOTIATION, subturn)
        ids = list(self.agents)
        private = self.world.rules.communication is Communication.PRIVATE
        schemas = {
            sid: negotiation_reply_model([o for o in ids if o != sid], bilateral=private)
            for sid in ids
        }
        results = await _every(
            [
                self.agents[sid].ask(
                    observations[sid], schemas[sid], self._logger(observations[sid])
                )
                for sid in ids
            ]
        )
        replies: dict[str, NegotiationReply | None] = {}
        delivered: list[Delivered] = []
        flagged: list[str] = []
        for sid, result in zip(ids, results, strict=True):
            if result.reply is None:
                replies[sid] = None
                flagged.append(sid)
                self.totals.fallbacks += 1
                continue
            reply = to_negotiation(result.reply, result.data)
            replies[sid] = reply
            for m in reply.messages:
                to = ["all"] if "all" in m.to else sorted(set(m.to), key=ids.index)
                delivered.append(Delivered(sender=sid, to=to, text=m.text))
        round_ = self.world.round
        self.world.said.extend(
            Said(round=round_, sender=d.sender, to=d.to, text=d.text) for d in delivered
        )
        self.emit(
            NegotiationEvent(
                round=round_,
                subturn=subturn,
                replies=replies,
                delivered=delivered,
                flagged=flagged,
            )
        )

    async def _decide(self) -> dict[str, Decision | None]:
        observations = self._observe(Phase.DECISION, 0)
        for obs in observations.values():
            remember(self.world, obs)
        ids = list(self.agents)
        cap = self.world.rules.arms_cap_pct
        channels = decision_channels(self.world.rules.communication)

        def schema(sid: str) -> type[BaseModel]:
            offers = [p.id for p in observations[sid].open_proposals or () if p.proposer != sid]
            return decision_reply_model([o for o in ids if o != sid], cap, offers, channels)

        results = await _every(
            [
                self.agents[sid].ask(
                    observations[sid], schema(sid), self._logger(observations[sid])
                )
                for sid in ids
            ]
        )
        decisions: dict[str, Decision | None] = {}
        for sid, result in zip(ids, results, strict=True):
            decision = to_decision(result.reply, result.data) if result.reply is not None else None
            decisions[sid] = decision
            if decision is None:
                self.totals.fallbacks += 1
            self.emit(
                DecisionEvent(
                    round=self.world.round,
                    state=sid,
                    decision=decision,
                    flagged=decision is None,
                    attempts=result.attempts,
                    error=result.error,
                )
            )
        return decisions

    async def play_round(self) -> RoundReport:
        """Play the next round and resolve it."""
        self.world.round += 1
        if messages_open(self.world.rules.communication):
            for subturn in range(1, self.world.rules.subturns + 1):
                await self._negotiate(subturn)
        decisions = await self._decide()
        resolution = resolve_round(self.world, decisions)
        self.emit(resolution)
        round_ = self.world.round
        end = RoundEndEvent(
            round=round_,
            arms={sid: n.arms for sid, n in self.world.nations.items()},
            economy={sid: n.economy for sid, n in self.world.nations.items()},
            threat=self.world.threat[round_],
            summit=self.world.is_summit(round_),
        )
        self.emit(end)
        return RoundReport(round=round_, resolution=resolution, end=end)

    async def play(self, on_round: Callable[[RoundReport], None] | None = None) -> RunEndEvent:
        """Play every round (or until war ends the run); return the closing event."""
        rules = self.world.rules
        last = self.world.final_round
        ended_by: Literal["last_round", "continuation", "war"] = (
            "last_round" if last >= rules.rounds else "continuation"
        )
        while self.world.round < last:
            report = await self.play_round()
            if on_round is not None:
                on_round(report)
            if self.world.war is not None and rules.war_ends_run:
                ended_by = "war"
                break
        war = self.world.war
        return RunEndEvent(
            outcome="war" if war is not None else "completed",
            rounds_played=self.world.round,
            ended_by=ended_by,
            war_round=war.round if war is not None else None,
            war_initiator=war.initiator if war is not None else None,
            totals=self.totals,
            error=None,
            ended_at=utc_now(),
        )
