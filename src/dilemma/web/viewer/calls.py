"""Every model call of one run, by turn, for the run page's drill-down (`/api/calls`).

    turns = run_calls(Path("runs/x.jsonl"), round_=2)   # one round (None: every round)
    turns[0]["calls"][1]["error"]   # the validation error that made the model be asked again

A turn is one state's decision in a round, or its reply in one negotiation sub-turn: the calls
made for it in attempt order (the first, then each re-ask after a validation error), with the
messages sent, the raw reply, the parsed result (as indented JSON), tokens, latency and cost,
and whether the turn ended in a fallback. Text is returned as written, with secrets redacted
and control characters made visible (`run.clean`); the page inserts it as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dilemma.core.observation import Phase
from dilemma.records.reader import iter_events
from dilemma.records.schema import DecisionEvent, LlmCallEvent, NegotiationEvent
from dilemma.web.viewer.run import clean

TurnKey = tuple[int, str, int, str]
"""(round, phase, sub-turn, state)."""


def _call(event: LlmCallEvent) -> dict[str, Any]:
    parsed = (
        None
        if event.parsed is None
        else clean(json.dumps(event.parsed, indent=2, ensure_ascii=False))
    )
    return {
        "attempt": event.attempt,
        "model": clean(event.model),
        "messages": [{"role": clean(m.role), "content": clean(m.content)} for m in event.messages],
        "raw": clean(event.raw),
        "parsed": parsed,
        "error": None if event.error is None else clean(event.error),
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "cost_usd": event.cost_usd,
        "latency_s": event.latency_s,
        "started_at": event.started_at.isoformat(),
    }


def run_calls(path: Path, round_: int | None = None) -> list[dict[str, Any]]:
    """The run's turns (of round `round_`, or all) in record order, each with its calls.

    Raises dilemma.records.schema.RecordError for an unreadable record.
    """
    turns: dict[TurnKey, dict[str, Any]] = {}
    for event in iter_events(path, ("llm_call", "decision", "negotiation")):
        if round_ is not None and getattr(event, "round", None) != round_:
            continue
        if isinstance(event, LlmCallEvent):
            key: TurnKey = (event.round, str(event.phase), event.subturn, event.state)
            turn = turns.setdefault(
                key,
                {
                    "round": event.round,
                    "phase": str(event.phase),
                    "subturn": event.subturn,
                    "state": event.state,
                    "fallback": False,
                    "error": None,
                    "calls": [],
                },
            )
            turn["calls"].append(_call(event))
        elif isinstance(event, DecisionEvent):
            found = turns.get((event.round, str(Phase.DECISION), 0, event.state))
            if found is not None:
                found["fallback"] = event.flagged
                found["error"] = None if event.error is None else clean(event.error)
        elif isinstance(event, NegotiationEvent):
            for state in event.flagged:
                found = turns.get((event.round, str(Phase.NEGOTIATION), event.subturn, state))
                if found is not None:
                    found["fallback"] = True
    for turn in turns.values():
        turn["calls"].sort(key=lambda c: c["attempt"])
        turn["reasks"] = max(0, len(turn["calls"]) - 1)
    return list(turns.values())


def call_totals(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls, re-asks, fallbacks, tokens in and out, cost and latency summed over `turns`
    (a sum over calls that report it; None when no call does)."""

    def total(field: str) -> float | None:
        values = [c[field] for t in turns for c in t["calls"] if c[field] is not None]
        return sum(values) if values else None

    return {
        "calls": sum(len(t["calls"]) for t in turns),
        "reasks": sum(t["reasks"] for t in turns),
        "fallbacks": sum(1 for t in turns if t["fallback"]),
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        "cost_usd": total("cost_usd"),
        "latency_s": total("latency_s"),
    }
