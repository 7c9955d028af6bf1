"""Resume a run from its record: replay the recorded turns, then play on live.

The engine is seeded, so giving every state the replies its record holds, turn by turn, rebuilds
the same world. `Replay.of(record)` keeps each turn that was answered completely (a reply that
validated, a timeout of a human seat, or every re-ask spent); `ReplayingAgent` answers such a
turn from the record (re-logging its calls, so the new record is whole) and any other turn
through the live agent. Each replayed observation must equal the recorded one; a difference
(another scenario, seed, model or code) raises ReplayMismatch rather than mixing two runs.
A person's submitted answer is written to the record the moment it is accepted, so a server
that stops mid-phase loses no submitted decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from dilemma.agents.human_seat import TIMEOUT
from dilemma.core.agent import Agent, AskResult, CallLog, Log
from dilemma.core.observation import Observation, Phase
from dilemma.core.versions import package_versions, version_differences
from dilemma.records.reader import Record
from dilemma.records.schema import LlmCallEvent, ObservationEvent

Turn = tuple[str, int, Phase, int]
"""(state, round, phase, sub-turn)."""


class ReplayMismatch(RuntimeError):
    """The resumed run does not retrace its record (different inputs or code)."""


@dataclass
class Replay:
    """The complete turns of a record and the observations they answered."""

    calls: dict[Turn, list[LlmCallEvent]] = field(default_factory=dict)
    observations: dict[Turn, Observation] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    """The package versions that wrote the record (its header's)."""

    @classmethod
    def of(cls, record: Record) -> Replay:
        """The turns of `record` that were answered completely."""
        tries = record.header.max_retries + 1
        grouped: dict[Turn, list[LlmCallEvent]] = {}
        for call in record.of_kind(LlmCallEvent):
            assert isinstance(call, LlmCallEvent)
            turn = (call.state, call.round, call.phase, call.subturn)
            grouped.setdefault(turn, []).append(call)
        replay = cls(versions=dict(record.header.package_versions))
        for turn, calls in grouped.items():
            last = calls[-1]
            failed_call = (last.error or "").startswith("call failed")
            if failed_call:
                continue  # the run failed on it: ask again live
            if (
                last.parsed is not None
                or (last.error or "").startswith(TIMEOUT)
                or len(calls) >= tries
            ):
                replay.calls[turn] = calls
        for event in record.of_kind(ObservationEvent):
            assert isinstance(event, ObservationEvent)
            key = (event.state, event.round, event.phase, event.subturn)
            replay.observations[key] = event.observation
        return replay

    @property
    def turns(self) -> int:
        """How many turns the record answers."""
        return len(self.calls)


def _log_of(call: LlmCallEvent) -> CallLog:
    return CallLog(
        attempt=call.attempt,
        messages=[(m.role, m.content) for m in call.messages],
        raw=call.raw,
        parsed=call.parsed,
        error=call.error,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=call.cost_usd,
        latency_s=call.latency_s,
        started_at=call.started_at,
    )


class ReplayingAgent:
    """An `Agent` that answers the turns its replay holds from the record, the others through
    `live` (whose spec and seat it takes)."""

    def __init__(self, live: Agent, replay: Replay) -> None:
        self.live = live
        self.replay = replay
        self.replayed = 0

    @property
    def spec(self) -> str:
        """The live agent's spec."""
        return self.live.spec

    @property
    def is_human(self) -> bool:
        """Whether the live agent is a person."""
        return self.live.is_human

    async def ask(self, obs: Observation, schema: type[BaseModel], log: Log) -> AskResult:
        """The recorded answer of this turn, or the live agent's."""
        turn = (obs.you.id, obs.round, obs.phase, obs.subturn)
        calls = self.replay.calls.get(turn)
        if calls is None:
            return await self.live.ask(obs, schema, log)
        recorded = self.replay.observations.get(turn)
        if recorded is not None and recorded != obs:
            differ = version_differences(self.replay.versions, package_versions())
            note = f"; package versions differ from the record's: {', '.join(differ)}"
            raise ReplayMismatch(
                f"{obs.you.id} round {obs.round} {obs.phase.value}: the resumed run sees another"
                " observation than its record (other scenario, seed, models or code)"
                + (note if self.replay.versions and differ else "")
            )
        for call in calls:
            log(_log_of(call))
        self.replayed += 1
        last = calls[-1]
        if last.parsed is None:
            return AskResult(None, len(calls), last.error)
        return AskResult(schema.model_validate(last.parsed), len(calls), None)
