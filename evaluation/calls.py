"""Every model call of records as one table: tokens, latency, cost, re-asks, errors, fallbacks.

    calls_table([read_record(p) for p in paths])   # columns: dilemma.evaluation.columns.CALLS

One row per `llm_call` line. A call is a re-ask when its attempt number is above 1; it is
`valid` when the reply parsed and validated; `fallback` marks every call of a step (a decision,
or a state's negotiation sub-turn) that ended without a valid reply, as the decision or
negotiation event of that step records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from dilemma.evaluation.columns import CALLS, conform

from dilemma.records.reader import Record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, NegotiationEvent


def fallback_steps(record: Record) -> set[tuple[str, int, int | None, str]]:
    """(phase, round, subturn or None for decisions, state) of the steps that fell back."""
    out: set[tuple[str, int, int | None, str]] = set()
    for ev in record.events:
        if isinstance(ev, DecisionEvent) and ev.flagged:
            out.add(("decision", ev.round, None, ev.state))
        elif isinstance(ev, NegotiationEvent):
            out.update(("negotiation", ev.round, ev.subturn, s) for s in ev.flagged)
    return out


def is_fallback(call: LlmCallEvent, steps: set[tuple[str, int, int | None, str]]) -> bool:
    """Whether `call` belongs to a step that fell back."""
    phase = str(call.phase)
    subturn = call.subturn if phase == "negotiation" else None
    return (phase, call.round, subturn, call.state) in steps


def record_calls(record: Record) -> list[dict[str, Any]]:
    """The rows of one record, in record order."""
    steps = fallback_steps(record)
    rows: list[dict[str, Any]] = []
    for ev in record.events:
        if not isinstance(ev, LlmCallEvent):
            continue
        rows.append(
            {
                "run_id": record.header.run_id,
                "round": ev.round,
                "state": ev.state,
                "phase": str(ev.phase),
                "subturn": ev.subturn,
                "attempt": ev.attempt,
                "model": ev.model,
                "input_tokens": ev.input_tokens,
                "output_tokens": ev.output_tokens,
                "latency_s": ev.latency_s,
                "cost_usd": ev.cost_usd,
                "reask": ev.attempt > 1,
                "valid": ev.parsed is not None and ev.error is None,
                "error": ev.error,
                "fallback": is_fallback(ev, steps),
                "started_at": ev.started_at.isoformat(),
            }
        )
    return rows


def calls_table(records: Iterable[Record]) -> pd.DataFrame:
    """Every model call of the records, typed as documented in `CALLS`."""
    rows = [row for record in records for row in record_calls(record)]
    frame = pd.DataFrame(rows, columns=[c.name for c in CALLS])
    frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="raise").astype("float64")
    return conform(frame, CALLS)
