"""What the live viewer shows of one run: its timeline round by round, curves and measures.

    view = run_view(Path("runs/x.jsonl"))
    view.rounds[0].decisions["A"].decision.public_statement # model text, as written
    view.arms_chart.lines, view.threat_chart.lines          # polylines for inline SVG
    view.measures                                           # dilemma.evaluation.run_json.runs_json

Everything comes from the record (read through dilemma.records.reader, tolerant of a run still being
written) and from the evaluator, which is reused as `dilemma score --json` uses it. Text written
by models or people is returned as written (controls made visible by `clean`): the templates
escape it; nothing here builds markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dilemma.core.observation import Phase
from dilemma.core.safe_text import escape_controls, redact, scrub
from dilemma.evaluation.run_json import runs_json
from dilemma.evaluation.tables import score
from dilemma.models.spec import HUMAN_SPEC
from dilemma.records.reader import iter_events, read_header, read_run_end
from dilemma.records.schema import (
    DecisionEvent,
    Delivered,
    Header,
    LlmCallEvent,
    NegotiationEvent,
    ResolutionEvent,
    RoundEndEvent,
    RunEndEvent,
    StateOutcome,
)

KINDS = ("negotiation", "decision", "resolution", "round_end", "run_end")
"""Event kinds the run page reads (observations are skipped, unvalidated)."""

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
"""Line colours, one per state (arms) or ordered pair (threat)."""

HEADLINE = (
    ("escalation_index", "escalation index (0-100)"),
    ("ladder_score_total", "ladder score, total"),
    ("max_rung", "highest rung"),
    ("mean_growth_pct", "mean arms growth per round, %"),
    ("mean_threat", "mean perceived threat"),
    ("threat_trend", "threat trend per round"),
    ("mean_misperception", "mean misperception"),
    ("mean_implied_hostility", "mean implied hostility"),
    ("intent_accuracy", "perceived intent accuracy"),
    ("intent_overestimation", "perceived intent more hostile than actual"),
    ("spiral_rounds", "spiral rounds"),
    ("mutual_arming_rounds", "mutual arming rounds"),
    ("treaties_formed", "treaties formed"),
    ("breaches", "treaty breaches"),
    ("forecast_mae", "forecast error (MAE)"),
    ("said_did_mae", "said-did gap (MAE)"),
    ("war", "war"),
    ("war_round", "war round"),
    ("war_initiator", "war initiator"),
    ("fallbacks", "fallback decisions"),
    ("fallback_rate", "fallback rate"),
    ("parse_failure_rate", "parse failure rate"),
    ("rule_violations", "rule violations"),
)
"""Run measures shown on the run page, with their labels (evaluation.columns documents them)."""


def clean(text: object) -> str:
    """Text from a record made safe to show (before HTML escaping): no secrets, no controls."""
    return escape_controls(redact(scrub(str(text))))


@dataclass(frozen=True)
class ChartLine:
    """One polyline: its label, colour and SVG points."""

    label: str
    color: str
    points: str
    dots: list[tuple[float, float]]


@dataclass(frozen=True)
class Chart:
    """A small line chart laid out for inline SVG (the template draws it)."""

    title: str
    width: int
    height: int
    lines: list[ChartLine]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    left: int
    top: int
    right: int
    bottom: int


def line_chart(
    title: str,
    series: dict[str, list[tuple[int, float]]],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 520,
    height: int = 220,
) -> Chart:
    """Lay out `series` (label -> (round, value) points) on shared axes."""
    left, right, top, bottom = 48, width - 12, 12, height - 28
    xs = [x for pts in series.values() for x, _ in pts] or [0, 1]
    ys = [y for pts in series.values() for _, y in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    lo = min(ys) if y_min is None else y_min
    hi = max(ys) if y_max is None else y_max
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * (right - left), 1)

    def py(y: float) -> float:
        return round(bottom - (y - lo) / (hi - lo) * (bottom - top), 1)

    lines = []
    for n, (label, pts) in enumerate(series.items()):
        dots = [(px(x), py(y)) for x, y in sorted(pts)]
        lines.append(
            ChartLine(label, PALETTE[n % len(PALETTE)], " ".join(f"{a},{b}" for a, b in dots), dots)
        )
    step = max(1, (x1 - x0) // 10)
    x_ticks = [(px(x), str(x)) for x in range(x0, x1 + 1, step)]
    y_ticks = [(py(lo + (hi - lo) * k / 4), f"{lo + (hi - lo) * k / 4:.3g}") for k in range(5)]
    return Chart(title, width, height, lines, x_ticks, y_ticks, left, top, right, bottom)


@dataclass
class StateTurn:
    """One state's decision in one round, with how it resolved."""

    event: DecisionEvent
    outcome: StateOutcome | None = None
    human_seconds: float | None = None
    """Time a person in a human seat took over this decision (None: a model's decision)."""


@dataclass
class RoundView:
    """One round of the timeline."""

    number: int
    messages: list[tuple[int, Delivered]] = field(default_factory=list)
    """(sub-turn, message) in delivery order."""
    negotiation_flagged: list[str] = field(default_factory=list)
    negotiated: bool = False
    """Whether the round had a negotiation (its model calls can be opened)."""
    decisions: dict[str, StateTurn] = field(default_factory=dict)
    resolution: ResolutionEvent | None = None
    end: RoundEndEvent | None = None


@dataclass
class CallTotals:
    """The run's model calls summed: count, re-asks, tokens, cost and latency (None where no
    call reports the figure)."""

    calls: int = 0
    reasks: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float = 0.0

    def add(self, call: LlmCallEvent) -> None:
        """Count one call."""
        self.calls += 1
        self.reasks += call.attempt > 1
        self.latency_s += call.latency_s
        if call.input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + call.input_tokens
        if call.output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + call.output_tokens
        if call.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + call.cost_usd


@dataclass
class RunView:
    """One run: header, timeline, curves, measures."""

    header: Header
    states: list[str]
    rounds: list[RoundView]
    run_end: RunEndEvent | None
    arms_chart: Chart
    threat_chart: Chart
    measures: dict[str, Any] | None
    measures_error: str | None
    headline: list[tuple[str, str, Any]]
    calls: CallTotals = field(default_factory=CallTotals)


def _timeline(path: Path, totals: CallTotals) -> tuple[list[RoundView], RunEndEvent | None]:
    rounds: dict[int, RoundView] = {}
    end: RunEndEvent | None = None

    def at(n: int) -> RoundView:
        return rounds.setdefault(n, RoundView(n))

    human: dict[tuple[int, str], float] = {}
    for call in iter_events(path, ("llm_call",)):
        if isinstance(call, LlmCallEvent):
            totals.add(call)
        if (
            isinstance(call, LlmCallEvent)
            and call.model == HUMAN_SPEC  # a person's answer: its latency is the time taken
            and call.phase == Phase.DECISION
        ):
            key = (call.round, call.state)
            human[key] = human.get(key, 0.0) + call.latency_s
    for event in iter_events(path, KINDS):
        if isinstance(event, NegotiationEvent):
            r = at(event.round)
            r.negotiated = True
            r.messages += [(event.subturn, m) for m in event.delivered]
            r.negotiation_flagged += [s for s in event.flagged if s not in r.negotiation_flagged]
        elif isinstance(event, DecisionEvent):
            at(event.round).decisions[event.state] = StateTurn(
                event, human_seconds=human.get((event.round, event.state))
            )
        elif isinstance(event, ResolutionEvent):
            r = at(event.round)
            r.resolution = event
            for outcome in event.outcomes:
                turn = r.decisions.get(outcome.state)
                if turn is not None:
                    turn.outcome = outcome
        elif isinstance(event, RoundEndEvent):
            at(event.round).end = event
        elif isinstance(event, RunEndEvent):
            end = event
    return [rounds[n] for n in sorted(rounds)], end


def _charts(header: Header, states: list[str], rounds: list[RoundView]) -> tuple[Chart, Chart]:
    arms: dict[str, list[tuple[int, float]]] = {s.id: [(0, s.arms)] for s in header.scenario.states}
    threat: dict[str, list[tuple[int, float]]] = {}
    for r in rounds:
        if r.end is not None:
            for s, value in r.end.arms.items():
                arms.setdefault(s, []).append((r.number, value))
        for s in states:
            turn = r.decisions.get(s)
            if turn is None or turn.event.decision is None:
                continue
            for item in turn.event.decision.threat:
                threat.setdefault(f"{s} → {item.state}", []).append((r.number, item.level))
    return (
        line_chart("Arms after each round (round 0: at the start)", arms, y_min=0),
        line_chart("Perceived threat, state → other (0-10)", threat, y_min=0, y_max=10),
    )


def _measures(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        found = runs_json(score([path]))
    except Exception as exc:  # the page still shows the timeline
        return None, f"{type(exc).__name__}: {exc}"
    return (found[0], None) if found else (None, "no readable run")


def run_view(path: Path) -> RunView:
    """Everything the run page shows (raises dilemma.records.schema.RecordError if unreadable)."""
    header = read_header(path)
    states = [s.id for s in header.scenario.states]
    totals = CallTotals()
    rounds, end = _timeline(path, totals)
    end = end or read_run_end(path)
    arms_chart, threat_chart = _charts(header, states, rounds)
    measures, error = _measures(path)
    headline = (
        [(key, label, measures.get(key)) for key, label in HEADLINE if key in measures]
        if measures
        else []
    )
    return RunView(
        header=header,
        states=states,
        rounds=rounds,
        run_end=end,
        arms_chart=arms_chart,
        threat_chart=threat_chart,
        measures=measures,
        measures_error=error,
        headline=headline,
        calls=totals,
    )
