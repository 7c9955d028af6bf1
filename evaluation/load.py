"""Load run records into flat, columnar tables (one loop over lines; all scoring is vectorised).

The loader reads records through `dilemma.records.reader` like `read_record` and validates every
line it keeps with the record's own pydantic models, so it cannot drift from the schema. It only
skips what the evaluator never needs: `llm_call` lines and negotiation-phase observations
(recognised by the prefix `model_dump_json` writes; any other line is parsed in full; see
`dilemma.evaluation.record_lines`). Like `read_record`, it
drops an unparseable last line and flags the record as truncated; an unparseable line elsewhere
is an error.

Rows of all records are gathered into shared column lists and become one DataFrame per table,
keyed by `run_id`, so the measures run once over every record at the same time.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from dilemma.evaluation.record_lines import DecisionObservation, read_events

from dilemma.core.decision import Intent
from dilemma.core.ladder import ACTION_RUNG, RUNG_ORDER, RUNG_WEIGHT
from dilemma.core.observation import Phase
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.records.schema import (
    DecisionEvent,
    Header,
    NegotiationEvent,
    RecordError,
    ResolutionEvent,
    RunEndEvent,
)

log = logging.getLogger("dilemma.evaluation")

INTENT_SCORE: dict[Intent, float] = {
    Intent.DEFENSIVE: 0.0,
    Intent.DETERRENT: 10.0 / 3.0,
    Intent.COERCIVE: 20.0 / 3.0,
    Intent.AGGRESSIVE: 10.0,
}
"""Private intent on the 0-10 threat scale, evenly spaced from defensive (0) to aggressive (10)."""
INTENT_LEVEL: dict[Intent, int] = {intent: n for n, intent in enumerate(Intent)}
"""Intent as a level: defensive 0, deterrent 1, coercive 2, aggressive 3 (evaluation.intent)."""

_DTYPES: dict[str, str] = {
    "run_id": "string",
    "path": "string",
    "scenario": "string",
    "state": "string",
    "i": "string",
    "j": "string",
    "action": "string",
    "target": "string",
    "source": "string",
    "treaty": "string",
    "event": "string",
    "parties": "string",
    "initiator": "string",
    "regime": "string",
    "transparency": "string",
    "disposition": "string",
    "model": "string",
    "end_outcome": "string",
    "end_war_initiator": "string",
    "horizon": "string",
    "communication": "string",
    "end_ended_by": "string",
    "actor": "string",
    "round": "int64",
    "subturn": "int64",
    "pos": "int64",
    "n_states": "int64",
    "rounds_planned": "int64",
    "arms_cap_pct": "int64",
    "forewarning_threshold_pct": "int64",
    "kind": "string",
    "schema_version": "int64",
    "seed": "int64",
    "attempts": "int64",
    "rung": "int64",
    "weight": "int64",
    "as_of": "int64",
    "war_ends_run": "bool",
    "truncated": "bool",
    "has_run_end": "bool",
    "fallback": "bool",
    "end_war_round": "Int64",
    "signal": "int64",
    "intended_rung": "int64",
    "executed_rung": "int64",
}
"""dtype of each loaded column; any other column is float64 (None becomes NaN)."""


@dataclass
class _Columns:
    """Rows of one table, gathered as tuples."""

    names: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        self.rows.append(values)

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with fixed dtypes, also when there are none."""
        cols = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(self.names)
        return pd.DataFrame(
            {
                n: pd.Series(list(col), dtype=_DTYPES.get(n, "float64"))
                for n, col in zip(self.names, cols, strict=True)
            },
            columns=list(self.names),
        )


@dataclass(frozen=True)
class Tables:
    """Everything the measures need, flattened from records. Rounds start at 1.

    runs: one row per record (header, rules and run_end facts).
    states: one row per state of each run, in scenario order (`pos`).
    decisions: one row per decision event (fallbacks included, `fallback` True).
    directed: one row per answered decision and other state j (threat, intent, forecast of i->j;
        intent_level and perceived_level on 0-3, perceived NaN when the decision did not ask).
    outcomes: one row per state and resolved round (what actually happened).
    views: decision-phase observations: what observer i saw of j's arms and as of which round.
    breaches, treaties, wars, negotiation_fallbacks: resolution and negotiation facts.
    signals, accidents: public signals of decisions and accidents of resolutions (version 4).
    skipped: records that could not be read, with the reason.
    """

    runs: pd.DataFrame
    states: pd.DataFrame
    decisions: pd.DataFrame
    directed: pd.DataFrame
    outcomes: pd.DataFrame
    views: pd.DataFrame
    breaches: pd.DataFrame
    treaties: pd.DataFrame
    wars: pd.DataFrame
    negotiation_fallbacks: pd.DataFrame
    skipped: list[tuple[Path, str]]
    signals: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per public signal: i declared rung `signal` (0-5) toward j in the round."""
    accidents: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per accident: actor, target, intended and executed rung (0-5)."""


class _Loader:
    """Accumulates the rows of many records."""

    def __init__(self) -> None:
        self.runs = _Columns(
            (
                "run_id",
                "path",
                "scenario",
                "n_states",
                "rounds_planned",
                "arms_cap_pct",
                "forewarning_threshold_pct",
                "arms_cost",
                "war_ends_run",
                "schema_version",
                "seed",
                "truncated",
                "has_run_end",
                "end_outcome",
                "end_war_round",
                "end_war_initiator",
                "horizon",
                "communication",
                "end_ended_by",
                "accident_rate",
            )
        )
        self.states = _Columns(
            (
                "run_id",
                "state",
                "pos",
                "regime",
                "transparency",
                "disposition",
                "model",
                "initial_arms",
                "initial_economy",
            )
        )
        self.decisions = _Columns(
            (
                "run_id",
                "round",
                "state",
                "fallback",
                "attempts",
                "requested",
                "action",
                "target",
                "announced_next",
            )
        )
        self.directed = _Columns(
            (
                "run_id",
                "round",
                "i",
                "j",
                "threat",
                "intent",
                "forecast",
                "intent_level",
                "perceived_level",
            )
        )
        self.outcomes = _Columns(
            (
                "run_id",
                "round",
                "state",
                "requested",
                "applied_change",
                "arms_before",
                "arms_after",
                "economy_after",
                "action",
                "target",
                "fallback",
                "rung",
                "weight",
            )
        )
        self.views = _Columns(("run_id", "round", "i", "j", "seen_arms", "source", "as_of"))
        self.breaches = _Columns(("run_id", "round", "state", "treaty"))
        self.treaties = _Columns(("run_id", "round", "event", "treaty", "parties", "kind", "value"))
        self.wars = _Columns(("run_id", "round", "initiator", "target", "action"))
        self.neg = _Columns(("run_id", "round", "subturn", "state"))
        self.signals = _Columns(("run_id", "round", "i", "j", "signal"))
        self.accidents = _Columns(
            ("run_id", "round", "actor", "target", "intended_rung", "executed_rung")
        )
        self.skipped: list[tuple[Path, str]] = []
        self._ids: set[str] = set()

    def load(self, path: Path) -> None:
        """Read one record; unreadable records are skipped and listed."""
        try:
            header, scenario, events, truncated = read_events(path)
        except (OSError, UnicodeDecodeError, RecordError) as exc:
            log.warning("skipped %s: %s", path, exc)
            self.skipped.append((path, str(exc)))
            return
        run_id = header.run_id
        n = 2
        while run_id in self._ids:
            run_id = f"{header.run_id}#{n}"
            n += 1
        self._ids.add(run_id)
        self._header(run_id, path, header, scenario, truncated, events)
        for event in events:
            if isinstance(event, DecisionEvent):
                self._decision(run_id, event)
            elif isinstance(event, ResolutionEvent):
                self._resolution(run_id, event)
            elif isinstance(event, DecisionObservation):
                self._observation(run_id, event)
            elif isinstance(event, NegotiationEvent):
                for state in event.flagged:
                    self.neg.add(run_id, event.round, event.subturn, state)

    def _header(
        self,
        run_id: str,
        path: Path,
        header: Header,
        scenario: ScenarioSnapshot,
        truncated: bool,
        events: list[Any],
    ) -> None:
        end = events[-1] if events and isinstance(events[-1], RunEndEvent) else None
        rules = scenario.rules
        self.runs.add(
            run_id,
            str(path),
            scenario.name,
            len(scenario.states),
            rules.rounds,
            rules.arms_cap_pct,
            rules.forewarning_threshold_pct,
            rules.arms_cost,
            rules.war_ends_run,
            header.schema_version,
            header.seed,
            truncated,
            end is not None,
            end.outcome if end else None,
            end.war_round if end else None,
            end.war_initiator if end else None,
            rules.horizon,
            rules.communication,
            end.ended_by if end else None,
            rules.accident_rate,
        )
        for n, treaty in enumerate(scenario.treaties, start=1):
            # in force from round 1; the engine names them T0-1, T0-2, ... in its events
            self.treaties.add(
                run_id,
                0,
                "formed",
                f"T0-{n}",
                ",".join(treaty.parties),
                treaty.kind.value,
                treaty.value,
            )
        for pos, s in enumerate(scenario.states):
            info = header.models.get(s.id)
            model = info.spec if info else (s.model or scenario.model or "unknown")
            self.states.add(
                run_id,
                s.id,
                pos,
                s.regime.value,
                s.transparency.value,
                s.disposition.value,
                model,
                s.arms,
                s.economy,
            )

    def _decision(self, run_id: str, e: DecisionEvent) -> None:
        d = e.decision
        fallback = e.flagged or d is None
        if d is None or fallback:
            self.decisions.add(run_id, e.round, e.state, True, e.attempts, None, None, None, None)
            return
        self.decisions.add(
            run_id,
            e.round,
            e.state,
            False,
            e.attempts,
            d.arms_change,
            d.action.value,
            d.target,
            d.announced_next_arms_change,
        )
        for signal in d.signals or []:
            self.signals.add(run_id, e.round, e.state, signal.state, RUNG_ORDER[signal.rung])
        intent = {item.state: item.intent for item in d.private_intent}
        forecast = {item.state: item.arms_change for item in d.forecast}
        perceived = {item.state: INTENT_LEVEL[item.intent] for item in d.perceived_intent or []}
        for item in d.threat:
            mine = intent.get(item.state)
            self.directed.add(
                run_id,
                e.round,
                e.state,
                item.state,
                item.level,
                None if mine is None else INTENT_SCORE[mine],
                forecast.get(item.state),
                None if mine is None else INTENT_LEVEL[mine],
                perceived.get(item.state),
            )

    def _resolution(self, run_id: str, e: ResolutionEvent) -> None:
        for o in e.outcomes:
            rung = ACTION_RUNG[o.action]
            self.outcomes.add(
                run_id,
                e.round,
                o.state,
                o.requested_change,
                o.applied_change,
                o.arms_before,
                o.arms_after,
                o.economy_after,
                o.action.value,
                o.target,
                o.fallback,
                RUNG_ORDER[rung],
                RUNG_WEIGHT[rung],
            )
        for b in e.breaches:
            self.breaches.add(run_id, e.round, b.state, b.treaty)
        for t in e.treaties_formed:
            self.treaties.add(
                run_id, e.round, "formed", t.id, ",".join(t.parties), t.kind.value, t.value
            )
        for tid in e.treaties_ended:
            self.treaties.add(run_id, e.round, "ended", tid, None, None, None)
        for w in e.wars:
            self.wars.add(run_id, e.round, w.initiator, w.target, w.action.value)
        for a in e.accidents:
            self.accidents.add(
                run_id,
                e.round,
                a.actor,
                a.target,
                RUNG_ORDER[a.intended_rung],
                RUNG_ORDER[a.executed_rung],
            )

    def _observation(self, run_id: str, e: DecisionObservation) -> None:
        if e.phase is not Phase.DECISION:
            return
        for o in e.observation.others:
            self.views.add(
                run_id, e.round, e.state, o.id, o.arms, o.arms_source.value, o.arms_as_of_round
            )

    def tables(self) -> Tables:
        return Tables(
            runs=self.runs.frame(),
            states=self.states.frame(),
            decisions=self.decisions.frame(),
            directed=self.directed.frame(),
            outcomes=self.outcomes.frame(),
            views=self.views.frame(),
            breaches=self.breaches.frame(),
            treaties=self.treaties.frame(),
            wars=self.wars.frame(),
            negotiation_fallbacks=self.neg.frame(),
            skipped=list(self.skipped),
            signals=self.signals.frame(),
            accidents=self.accidents.frame(),
        )


def load_tables(paths: Iterable[Path]) -> Tables:
    """Flatten every record in `paths` (files, read in the order given) into shared tables.

    The cyclic garbage collector is paused while rows pile up: they hold no cycles, and its
    repeated scans of a growing heap would make loading cost grow faster than the record count.
    """
    loader = _Loader()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for p in paths:
            loader.load(p)
    finally:
        if was_enabled:
            gc.enable()
    return loader.tables()
