"""A readable transcript of one run record, for `dilemma show RECORD` and the HTML report.

    transcript(Path("runs/x.jsonl")) -> str        plain text, one line per item
    transcript_lines(read_record(path)) -> lines   styled lines (the report renders these as HTML)

Everything comes from the record alone. Incomplete records (a crash, a run still going, a cut
last line) render up to where they stop, and say so. Model-written text is quoted as written,
except that it can never pose as the transcript's own lines: control characters (ESC, NUL, CR,
U+2028, bidi overrides) are shown as escapes such as `\x1b`, and text after a line break goes on
continuation lines, one level deeper and marked `| `. A caller that renders the text as markup
(rich, HTML) must still escape it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from dilemma.core.safe_text import escape_controls
from dilemma.records.reader import Record, read_record
from dilemma.records.schema import (
    DecisionEvent,
    Header,
    LlmCallEvent,
    NegotiationEvent,
    ResolutionEvent,
    RoundEndEvent,
    RunEndEvent,
    StateOutcome,
)

RAW_MAX = 300
ERROR_MAX = 400

STYLES = (
    "title",
    "meta",
    "round",
    "section",
    "msg",
    "state",
    "detail",
    "statement",
    "private",
    "flag",
    "war",
    "treaty",
    "end",
    "outcome",
    "note",
)
"""Line styles: `flag` (fallbacks), `war`, `private` (never shown to others) stand out."""


@dataclass(frozen=True)
class Line:
    """One transcript line: a style from STYLES, an indent level and plain text."""

    style: str
    text: str
    indent: int = 0


def _one_line(text: str, limit: int) -> str:
    flat = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _pct(value: float | int | None) -> str:
    if value is None:
        return "none"
    return f"{value:+d}%" if isinstance(value, int) else f"{value:+.1f}%"


def _arms(value: float) -> str:
    return f"{value:.1f}"


def header_lines(header: Header) -> list[Line]:
    """Who played what: scenario, states and models, rules, seed, prompt setup, provenance."""
    sc = header.scenario
    out = [Line("title", f"Run {header.run_id}: scenario {sc.name} ({header.scenario_source})")]
    exp = header.experiment
    if exp is not None:
        conds = ", ".join(f"{k}={v}" for k, v in exp.conditions.items())
        name = exp.name or "?"
        out.append(Line("meta", f"experiment: {name}" + (f" [{conds}]" if conds else ""), 1))
    for state in sc.states:
        model = header.models.get(state.id)
        spec = model.spec if model else "?"
        persona = ""  # what the models were told, when it differs from the rules in force
        if (state.shown_regime, state.shown_transparency) != (state.regime, state.transparency):
            persona = f" (told: {state.shown_regime}, {state.shown_transparency})"
        out.append(
            Line(
                "meta",
                f"{state.id} ({state.name}): {state.regime}, {state.transparency}{persona},"
                f" {state.disposition}; arms {state.arms}; model {spec}",
                1,
            )
        )
    rules = sc.rules
    keys = (
        "rounds",
        "subturns",
        "arms_cap_pct",
        "forewarning_threshold_pct",
        "intel_noise",
        "intel_lag",
        "summit_every",
        "war_ends_run",
    )
    out.append(Line("meta", "rules: " + ", ".join(f"{k}={getattr(rules, k)}" for k in keys), 1))
    hashes = ", ".join(f"{k}={v}" for k, v in header.prompt.template_hashes.items())
    out.append(
        Line(
            "meta",
            f"seed {header.seed}; prompt setup {header.prompt.name}"
            f" v{header.prompt.version} ({hashes})",
            1,
        )
    )
    dirty = {True: " (dirty)", False: "", None: ""}[header.git_dirty]
    out.append(
        Line(
            "meta",
            f"started {header.started_at.isoformat()}; git {header.git_revision or 'unknown'}"
            f"{dirty}; max retries {header.max_retries}; response cache"
            f" {header.response_cache}",
            1,
        )
    )
    return out


def _negotiation_lines(event: NegotiationEvent) -> list[Line]:
    out = [Line("section", f"Negotiation, sub-turn {event.subturn}", 1)]
    for msg in event.delivered:
        out.append(Line("msg", f"{msg.sender} -> {', '.join(msg.to)}: {msg.text}", 2))
    for sid in event.flagged:
        out.append(
            Line("flag", f"FLAGGED: {sid} gave no valid negotiation reply; it sent no message", 2)
        )
    if not event.delivered and not event.flagged:
        out.append(Line("note", "(no messages)", 2))
    return out


def _last_raw(calls: list[LlmCallEvent], state: str, round_: int) -> str | None:
    mine = [
        c for c in calls if c.state == state and c.round == round_ and c.phase.value == "decision"
    ]
    return mine[-1].raw if mine else None


def _decision_lines(
    event: DecisionEvent, outcome: StateOutcome | None, calls: list[LlmCallEvent]
) -> list[Line]:
    tries = f" (after {event.attempts} attempts)" if event.attempts > 1 else ""
    d = event.decision
    if event.flagged or d is None:
        out = [
            Line(
                "flag",
                f"{event.state}: FLAGGED FALLBACK - no valid decision after"
                f" {event.attempts} attempt(s)",
                2,
            )
        ]
        if event.error:
            out.append(Line("flag", f"error: {_one_line(event.error, ERROR_MAX)}", 3))
        raw = _last_raw(calls, event.state, event.round)
        if raw is not None:
            out.append(Line("detail", f"last raw reply: {_one_line(raw, RAW_MAX)}", 3))
        if outcome is not None:
            out.append(
                Line(
                    "flag",
                    f"fallback applied: {outcome.action.value}, arms"
                    f" {_pct(outcome.applied_change)}"
                    f" ({_arms(outcome.arms_before)} ->"
                    f" {_arms(outcome.arms_after)})",
                    3,
                )
            )
        return out
    out = [Line("state", f"{event.state}{tries}", 2)]
    if outcome is not None:
        adj = f" [{'; '.join(outcome.adjustments)}]" if outcome.adjustments else ""
        out.append(
            Line(
                "detail",
                f"arms: requested {_pct(outcome.requested_change)}, applied"
                f" {_pct(outcome.applied_change)}{adj};"
                f" {_arms(outcome.arms_before)} -> {_arms(outcome.arms_after)}",
                3,
            )
        )
    else:
        out.append(
            Line("detail", f"arms: requested {_pct(d.arms_change)} (not resolved in the record)", 3)
        )
    action = d.action.value + (f" -> {d.target}" if d.target else "")
    out.append(Line("detail", f"action: {action}", 3))
    if d.signals:
        signals = ", ".join(f"{s.state} {s.rung.value}" for s in d.signals)
        out.append(Line("statement", f"public signal (declared rung): {signals}", 3))
    for t in d.threat:
        out.append(Line("detail", f"threat from {t.state}: {t.level}/10 - {t.reason}", 3))
    for p in d.proposals:
        out.append(
            Line(
                "treaty", f"proposes {p.kind.value} (value {p.value}) to {', '.join(p.parties)}", 3
            )
        )
    for r in d.responses:
        out.append(Line("treaty", f"{'accepts' if r.accept else 'rejects'} {r.proposal}", 3))
    if d.public_statement:
        out.append(Line("statement", f"public statement: {d.public_statement}", 3))
    if d.announced_next_arms_change is not None:
        out.append(
            Line(
                "statement",
                f"announces next-round arms change: {_pct(d.announced_next_arms_change)}",
                3,
            )
        )
    if d.private_rationale:
        out.append(Line("private", f"[private] rationale: {d.private_rationale}", 3))
    if d.private_intent:
        out.append(
            Line(
                "private",
                "[private] intent: "
                + ", ".join(f"{i.state} {i.intent.value}" for i in d.private_intent),
                3,
            )
        )
    if d.perceived_intent:
        out.append(
            Line(
                "private",
                "[private] believes intends toward it: "
                + ", ".join(f"{i.state} {i.intent.value}" for i in d.perceived_intent),
                3,
            )
        )
    if d.forecast:
        out.append(
            Line(
                "private",
                "[private] forecast of arms change: "
                + ", ".join(f"{f.state} {_pct(f.arms_change)}" for f in d.forecast),
                3,
            )
        )
    return out


def _resolution_lines(event: ResolutionEvent, decided: set[str]) -> list[Line]:
    out: list[Line] = []
    for o in event.outcomes:
        if o.state not in decided:  # no decision line in the record: show what was applied
            flag = "FLAGGED FALLBACK " if o.fallback else ""
            out.append(
                Line(
                    "flag" if o.fallback else "detail",
                    f"{o.state}: {flag}{o.action.value}"
                    + (f" -> {o.target}" if o.target else "")
                    + f", arms {_pct(o.applied_change)}",
                    2,
                )
            )
    for t in event.proposals_opened:
        out.append(
            Line(
                "treaty",
                f"proposal {t.id} opened: {t.kind} (value {t.value}) among {', '.join(t.parties)}",
                2,
            )
        )
    for t in event.treaties_formed:
        out.append(
            Line(
                "treaty",
                f"TREATY formed: {t.id} {t.kind} (value {t.value}) among {', '.join(t.parties)}",
                2,
            )
        )
    for b in event.breaches:
        out.append(
            Line(
                "war",
                f"BREACH: {b.state} broke {b.treaty} (applied"
                f" {_pct(b.applied_change)}, limit {b.limit})",
                2,
            )
        )
    for tid in event.treaties_ended:
        out.append(Line("treaty", f"treaty ended: {tid}", 2))
    for a in event.accidents:
        target = f" -> {a.target}" if a.target else ""
        out.append(
            Line(
                "flag",
                f"ACCIDENT: {a.actor} ordered {a.intended_action.value}{target}, carried out as"
                f" {a.executed_action.value} ({a.intended_rung.value} -> {a.executed_rung.value})",
                2,
            )
        )
    for w in event.wars:
        target = f" against {w.target}" if w.target else ""
        out.append(Line("war", f"WAR: {w.initiator} chose {w.action.value}{target}", 2))
    for i in event.intel:
        out.append(
            Line(
                "note",
                f"intel: {i.observer} will see {i.target} at ~{i.estimate:.1f}"
                f" ({i.source}, as of round {i.as_of_round})",
                2,
            )
        )
    return [Line("section", "Resolution", 1), *out] if out else []


def _round_end_lines(event: RoundEndEvent) -> list[Line]:
    arms = ", ".join(f"{s} {_arms(v)}" for s, v in event.arms.items())
    economy = ", ".join(f"{s} {_arms(v)}" for s, v in event.economy.items())
    summit = "; summit held" if event.summit else ""
    return [Line("end", f"End of round {event.round}: arms {arms}; economy {economy}{summit}", 1)]


def _round_lines(round_: int, events: list[BaseModel], calls: list[LlmCallEvent]) -> list[Line]:
    out = [Line("round", f"Round {round_}")]
    resolution = next((e for e in events if isinstance(e, ResolutionEvent)), None)
    outcomes = {o.state: o for o in resolution.outcomes} if resolution else {}
    decisions = [e for e in events if isinstance(e, DecisionEvent)]
    for e in events:
        if isinstance(e, NegotiationEvent):
            out += _negotiation_lines(e)
    if decisions:
        out.append(Line("section", "Decisions", 1))
        for d in decisions:
            out += _decision_lines(d, outcomes.get(d.state), calls)
    if resolution is not None:
        out += _resolution_lines(resolution, {d.state for d in decisions})
    end = next((e for e in events if isinstance(e, RoundEndEvent)), None)
    if end is not None:
        out += _round_end_lines(end)
    else:
        out.append(Line("note", "(the record ends before this round was closed)", 1))
    return out


def _outcome_lines(record: Record) -> list[Line]:
    end = record.run_end
    out: list[Line] = []
    if end is None:
        out.append(
            Line(
                "flag",
                "INCOMPLETE RECORD: no run_end line (the run crashed, was killed"
                " or is still going)",
            )
        )
    else:
        what: str = end.outcome
        if end.war_round is not None:
            what += f" in round {end.war_round}, started by {end.war_initiator}"
        t = end.totals
        cost = "unknown" if t.cost_usd is None else f"${t.cost_usd:.4f}"
        out.append(
            Line(
                "war" if end.outcome == "war" else "outcome",
                f"Outcome: {what}; {end.rounds_played} round(s) played;"
                f" ended {end.ended_at.isoformat()}",
            )
        )
        out.append(
            Line(
                "outcome",
                f"model calls {t.llm_calls} (re-asks {t.retries}); flagged"
                f" fallbacks {t.fallbacks}; tokens in/out"
                f" {t.input_tokens}/{t.output_tokens}; cost {cost}",
                1,
            )
        )
        if end.error:
            out.append(Line("flag", f"error: {_one_line(end.error, ERROR_MAX)}", 1))
    if record.truncated:
        out.append(Line("flag", "the record's last line was cut short and was dropped"))
    return out


def transcript_lines(record: Record) -> list[Line]:
    """The whole transcript of a loaded record as styled lines."""
    rounds: dict[int, list[BaseModel]] = {}
    calls: list[LlmCallEvent] = []
    for e in record.events:
        if isinstance(e, LlmCallEvent):
            calls.append(e)
        elif not isinstance(e, RunEndEvent):
            round_ = getattr(e, "round", None)
            if isinstance(round_, int):
                rounds.setdefault(round_, []).append(e)
    out = header_lines(record.header)
    for round_, events in sorted(rounds.items()):
        out += _round_lines(round_, events, calls)
    return _quoted(out + _outcome_lines(record))


CONTINUATION = "| "
"""Starts a continuation line: the text after a line break in model-written (or file) text."""


def _quoted(lines: list[Line]) -> list[Line]:
    """Lines whose text cannot pose as the transcript's own: controls escaped, breaks continued."""
    out: list[Line] = []
    for line in lines:
        first, *rest = escape_controls(line.text.replace("\r\n", "\n")).split("\n")
        out.append(Line(line.style, first, line.indent))
        out += [Line(line.style, CONTINUATION + part, line.indent + 1) for part in rest]
    return out


def render_text(lines: Iterable[Line]) -> str:
    """Plain text, two spaces per indent level."""
    return "\n".join("  " * line.indent + line.text for line in lines) + "\n"


def transcript(record_path: Path) -> str:
    """The transcript of a record file as plain text (raises RecordError if unreadable).

    Print it without markup parsing (e.g. rich `console.print(text, markup=False)`): it quotes
    model-written text verbatim.
    """
    return render_text(transcript_lines(read_record(record_path)))
