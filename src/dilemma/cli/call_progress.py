"""Per-call progress of `dilemma run` and `dilemma sweep`: which states wait on a model and for
how long, the calls completed, and an ETA from the calls' measured pace.

`CallTracker.on_event` follows a run's events: a state waits from its observation (the engine
emits it just before asking) until its turn is answered (a parsed reply, its decision, or the
sub-turn's negotiation event); each `llm_call` is a completed call. The tracker renders one line
(`line`), shown live under a rich progress bar; `--verbose` prints each call (`call_line`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from rich.progress import ProgressColumn, Task
from rich.text import Text

from dilemma.models.latency import remember_latency
from dilemma.records.schema import (
    DecisionEvent,
    LlmCallEvent,
    NegotiationEvent,
    ObservationEvent,
)

Clock = Callable[[], float]


def duration(seconds: float) -> str:
    """`42s`, `3m05s` or `2h07m`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class CallTracker:
    """What the model calls of one run or a sweep are doing (see the module docstring)."""

    expected_calls: float | None = None
    """Calls the command expects to make (an estimate); None when unknown (no ETA)."""
    clock: Clock = time.monotonic
    started: float = field(default=-1.0)
    calls: int = 0
    waiting: dict[tuple[str, str], float] = field(default_factory=dict)
    """(run, state) -> when the state began waiting on its model."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Model spec -> the latency of each completed call."""
    per_call: bool = True
    """Whether the executor streams each call's events; False under Ray, whose workers only
    report a run's calls when it finishes (`count`), so nobody can be shown waiting."""

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def on_event(self, event: BaseModel, run: str = "") -> None:
        """Follow one event of run `run` (any key that tells concurrent runs apart)."""
        if isinstance(event, ObservationEvent):
            self.waiting.setdefault((run, event.state), self.clock())
        elif isinstance(event, LlmCallEvent):
            self.calls += 1
            self.latencies.setdefault(event.model, []).append(event.latency_s)
            if event.parsed is not None:
                self.waiting.pop((run, event.state), None)
        elif isinstance(event, DecisionEvent):
            self.waiting.pop((run, event.state), None)
        elif isinstance(event, NegotiationEvent):
            for state in event.replies:
                self.waiting.pop((run, state), None)

    def count(self, calls: int) -> None:
        """The calls the executor has counted so far (under Ray: those of finished runs)."""
        self.calls = max(self.calls, calls)

    def elapsed(self) -> float:
        """Seconds since the tracker started."""
        return self.clock() - self.started

    def eta_s(self) -> float | None:
        """Seconds left at the pace of the calls completed so far; None before the first call
        or without an expected number of calls."""
        if self.expected_calls is None or self.calls == 0:
            return None
        left = max(0.0, self.expected_calls - self.calls)
        return left * self.elapsed() / self.calls

    def waiting_text(self, most: int = 4) -> str:
        """`waiting: Nord 12s, Ost 12s` (longest waits first), `waiting: none`, or, when the
        executor does not stream calls, that calls are counted as runs finish."""
        if not self.per_call:
            return "calls counted as runs finish"
        if not self.waiting:
            return "waiting: none"
        now = self.clock()
        longest = sorted(self.waiting.items(), key=lambda kv: kv[1])
        shown = [f"{state} {duration(now - since)}" for (_, state), since in longest[:most]]
        more = len(longest) - most
        return "waiting: " + ", ".join(shown) + (f" +{more} more" if more > 0 else "")

    def line(self) -> str:
        """The live progress line."""
        expected = f"/~{self.expected_calls:,.0f}" if self.expected_calls else ""
        eta = self.eta_s()
        eta_text = "ETA after the first call" if eta is None else f"ETA ~{duration(eta)}"
        return (
            f"{self.calls}{expected} calls | {self.waiting_text()} |"
            f" elapsed {duration(self.elapsed())} | {eta_text}"
        )

    def remember(self) -> None:
        """Keep the measured latency of the embedded model for later time estimates."""
        for spec, seconds in self.latencies.items():
            remember_latency(spec, seconds)


def call_line(event: LlmCallEvent, run: str = "") -> str:
    """One completed call, as `--verbose` prints it."""
    where = f"{run} " if run else ""
    tokens = f"{event.input_tokens or 0}/{event.output_tokens or 0} tokens"
    status = "ok" if event.parsed is not None else f"invalid: {event.error or 'no reply'}"
    return (
        f"{where}round {event.round} {event.state} {event.phase.value}"
        f"{f' {event.subturn}' if event.subturn else ''} attempt {event.attempt}"
        f" ({event.model}): {event.latency_s:.1f}s, {tokens}, {status}"
    )


class TrackerColumn(ProgressColumn):
    """A progress-bar column showing the tracker's line, re-rendered on every refresh (so the
    waiting times keep counting between events)."""

    def __init__(self, tracker: CallTracker) -> None:
        super().__init__()
        self.tracker = tracker

    def render(self, task: Task) -> Text:
        """The tracker's line."""
        return Text(self.tracker.line())
