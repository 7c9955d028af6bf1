"""The seat's end page: how the run ended and what each state did in every round, read from the
run's record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dilemma.records.reader import read_record
from dilemma.records.schema import ResolutionEvent


@dataclass(frozen=True)
class Move:
    """What one state did in one round."""

    action: str
    change: str
    """The applied arms change, `+3.0%*` when the world adjusted the request."""
    arms: str


@dataclass(frozen=True)
class Debrief:
    """The outcome of a finished run and its rounds, one row per round."""

    outcome: str
    states: list[str]
    rounds: list[tuple[int, dict[str, Move]]]


def debrief(record: Path) -> Debrief:
    """The debrief of the run recorded in `record` (RecordError when it cannot be read)."""
    data = read_record(record)
    states = [s.id for s in data.header.scenario.states]
    end = data.run_end
    if end is None:
        outcome = "the run ended without a result"
    elif end.war_round:
        outcome = (
            f"war in round {end.war_round}, started by {end.war_initiator}"
            f" ({end.rounds_played} rounds played)"
        )
    else:
        outcome = f"{end.outcome} after {end.rounds_played} rounds"
    rounds: list[tuple[int, dict[str, Move]]] = []
    for event in data.of_kind(ResolutionEvent):
        assert isinstance(event, ResolutionEvent)
        moves = {}
        for o in event.outcomes:
            action = o.action.value + (f" toward {o.target}" if o.target else "")
            change = f"{o.applied_change:+.1f}%" + ("*" if o.adjustments else "")
            moves[o.state] = Move(action, change, f"{o.arms_after:.1f}")
        rounds.append((event.round, moves))
    return Debrief(outcome, states, rounds)
