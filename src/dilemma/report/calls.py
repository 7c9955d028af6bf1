"""A run's call history as HTML: what each model call was sent, what it replied, what came of it.

    call_history(read_record(path))   # -> HTML: one collapsible entry per model call

For every decision and negotiation call, in record order and grouped by round: the messages sent
(each role collapsible), the raw reply, the parsed result, the validation error of a refused
reply (the next attempt is the re-ask that quotes it), tokens in and out, latency, cost, and
whether the step ended in a fallback. Every piece of model or prompt text is HTML-escaped.
"""

from __future__ import annotations

import json
from itertools import groupby

from dilemma.core.safe_text import escape_controls
from dilemma.evaluation.calls import fallback_steps, is_fallback
from dilemma.records.reader import Record
from dilemma.records.schema import LlmCallEvent
from dilemma.report.html import esc

CSS = """
.calls h4{margin:.8em 0 .2em}.call summary{font-size:.82em}
.call pre,.calls pre{white-space:pre-wrap;overflow-wrap:anywhere;max-height:28em;overflow:auto;
background:#fafafa;border:1px solid #eee;padding:.4em;margin:.2em 0;font-size:.8em}
.call .err{background:#fdecea;border-color:#f5c6cb}.call h5{margin:.5em 0 .1em;font-size:.85em}
.badge{display:inline-block;padding:0 .35em;border-radius:3px;font-weight:700;font-size:.85em}
.badge.reask{background:#fff3cd}.badge.invalid{background:#fdecea}
.badge.fallback{background:#c0392b;color:#fff}
"""


def text(value: str) -> str:
    """Model or prompt text for the page: control characters shown as escapes (`\\x1b`), line
    breaks kept, then HTML-escaped."""
    return esc(escape_controls(value))


def _tokens(value: int | None) -> str:
    return "?" if value is None else str(value)


def _cost(value: float | None) -> str:
    return "cost unknown" if value is None else f"${value:.6f}"


def _summary(call: LlmCallEvent, fallback: bool) -> str:
    where = str(call.phase) + (f" {call.subturn}" if str(call.phase) == "negotiation" else "")
    parts = [
        f"{call.state} · {where} · attempt {call.attempt}",
        f"{_tokens(call.input_tokens)} in / {_tokens(call.output_tokens)} out tokens",
        f"{call.latency_s:.2f} s",
        _cost(call.cost_usd),
    ]
    badges = []
    if call.attempt > 1:
        badges.append('<span class="badge reask">re-ask</span>')
    if call.error is not None or call.parsed is None:
        badges.append('<span class="badge invalid">invalid</span>')
    if fallback:
        badges.append('<span class="badge fallback">FALLBACK</span>')
    return esc(" · ".join(parts)) + (" " + " ".join(badges) if badges else "")


def call_html(call: LlmCallEvent, fallback: bool) -> str:
    """One call: a collapsible entry with messages, raw reply, parsed result and error."""
    messages = "".join(
        f"<details><summary>{text(m.role)} · {len(m.content)} characters</summary>"
        f"<pre>{text(m.content)}</pre></details>"
        for m in call.messages
    )
    parsed = (
        "<p class=note>none: the reply was refused</p>"
        if call.parsed is None
        else f"<pre>{text(json.dumps(call.parsed, indent=2, ensure_ascii=False))}</pre>"
    )
    error = (
        ""
        if call.error is None
        else f"<h5>Validation error (sent back in the re-ask, if any)</h5>"
        f'<pre class="err">{text(call.error)}</pre>'
    )
    meta = f"model {call.model}; started {call.started_at.isoformat()}"
    return (
        f'<details class="call" data-round="{call.round}" data-state="{esc(call.state)}"'
        f' data-attempt="{call.attempt}" data-fallback="{str(fallback).lower()}">'
        f"<summary>{_summary(call, fallback)}</summary>"
        f"<p class=note>{esc(meta)}</p>"
        f"<h5>Messages sent ({len(call.messages)})</h5>{messages}"
        f"<h5>Raw reply</h5><pre>{text(call.raw)}</pre>"
        f"<h5>Parsed result</h5>{parsed}{error}</details>"
    )


def call_history(record: Record) -> str:
    """Every model call of the record, grouped by round, with totals first."""
    calls = [e for e in record.events if isinstance(e, LlmCallEvent)]
    if not calls:
        return "<p class=note>No model calls recorded (a human seat, or an old record).</p>"
    steps = fallback_steps(record)
    flags = [is_fallback(c, steps) for c in calls]
    costs = [c.cost_usd for c in calls]
    cost = _cost(None if any(c is None for c in costs) else sum(c or 0.0 for c in costs))
    tokens_in = sum(c.input_tokens or 0 for c in calls)
    tokens_out = sum(c.output_tokens or 0 for c in calls)
    pairs = list(zip(calls, flags, strict=True))
    fell_back = {(str(c.phase), c.round, c.subturn, c.state) for c, f in pairs if f}
    head = (
        f"{len(calls)} calls; {sum(c.attempt > 1 for c in calls)} re-asks;"
        f" {sum(c.error is not None for c in calls)} refused replies;"
        f" steps that fell back: {len(fell_back)}; {tokens_in} / {tokens_out} tokens in / out;"
        f" {sum(c.latency_s for c in calls):.1f} s of calls; {cost}"
    )
    out = [f"<p class=note>{esc(head)}</p>"]
    for round_, group in groupby(pairs, key=lambda p: p[0].round):
        out.append(f"<h4>Round {round_}</h4>")
        out += [call_html(c, f) for c, f in group]
    return "".join(out)
