"""Upgrades of older records, in memory: a registry of small functions keyed by version.

`MIGRATIONS[n]` turns the raw lines (JSON objects as dicts) of a version-n record into
version n+1 lines: `header(raw_header)` and `event(raw_event, raw_header)`, where the header
passed to `event` is the record's header at version n. Reading a version-n record runs every
step from n up to `SCHEMA_VERSION`, then validates the result with today's models. Files on disk
are never rewritten, and the header keeps the version the record was written in.

To change the format: bump `SCHEMA_VERSION`, add `MIGRATIONS[old]`, regenerate the JSON Schema
snapshot (`python -m dilemma.records.json_schema`); docs/records.md has the checklist.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dilemma.records.schema import SCHEMA_VERSION, RecordError

RawLine = dict[str, Any]
"""One line of a record as parsed JSON."""


@dataclass(frozen=True)
class Migration:
    """One step, from version `n` (its key in MIGRATIONS) to `n + 1`."""

    header: Callable[[RawLine], RawLine]
    event: Callable[[RawLine, RawLine], RawLine]
    """(event at version n, header at version n) -> event at version n + 1."""


def _aware(value: Any) -> Any:
    """An ISO time with a zone; a naive one is taken as UTC (records always wrote UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value  # left for validation to report
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC).isoformat()
    return value


def _v1_header(raw: RawLine) -> RawLine:
    """Version 2 types the experiment (name, source, declared runs, conditions as labels)."""
    raw["schema_version"] = 2
    experiment = raw.get("experiment")
    if isinstance(experiment, dict):
        conditions = experiment.get("conditions") or {}
        experiment.setdefault("name", None)
        experiment.setdefault("source", None)
        experiment.setdefault("runs", None)
        if isinstance(conditions, dict):
            conditions = {str(k): str(v) for k, v in conditions.items()}
        experiment["conditions"] = conditions
    raw["started_at"] = _aware(raw.get("started_at"))
    return raw


def _v1_event(raw: RawLine, header: RawLine) -> RawLine:
    """Version 2 gives every war its round (the resolution's round) and zones to times."""
    kind = raw.get("kind")
    if kind == "resolution":
        for war in raw.get("wars") or []:
            if isinstance(war, dict):
                war.setdefault("round", raw.get("round"))
    elif kind == "llm_call":
        raw["started_at"] = _aware(raw.get("started_at"))
    elif kind == "run_end":
        raw["ended_at"] = _aware(raw.get("ended_at"))
    return raw


def _v2_header(raw: RawLine) -> RawLine:
    """Version 3 records the name and doctrine each state was shown (`persona_text`). Before,
    a state's text was its scenario's `name` and `doctrine`, whatever the factors set."""
    raw["schema_version"] = 3
    scenario = raw.get("scenario")
    states = scenario.get("states") if isinstance(scenario, dict) else None
    if "persona_text" not in raw and isinstance(states, list):
        raw["persona_text"] = {
            str(s.get("id")): {"name": s.get("name"), "doctrine": s.get("doctrine", "")}
            for s in states
            if isinstance(s, dict)
        }
    return raw


def _v3_header(raw: RawLine) -> RawLine:
    """Version 4 (release 0.3.0) only adds fields whose defaults describe older runs."""
    raw["schema_version"] = 4
    return raw


def _v3_event(raw: RawLine, header: RawLine) -> RawLine:
    """Version 4 says why a run ended (`ended_by`): before it, a finished run ended at its last
    round (the horizon was always known) or by a war that ended the run."""
    if raw.get("kind") == "run_end" and "ended_by" not in raw:
        scenario = header.get("scenario")
        rules = scenario.get("rules") if isinstance(scenario, dict) else None
        war_ends = rules.get("war_ends_run", True) if isinstance(rules, dict) else True
        outcome = raw.get("outcome")
        if outcome == "war" and war_ends:
            raw["ended_by"] = "war"
        elif outcome in ("war", "completed"):
            raw["ended_by"] = "last_round"
    return raw


def _v4_header(raw: RawLine) -> RawLine:
    """Version 5 (release 0.4.0) writes an observation after a state's first as a delta
    against the state's previous one; a version-4 observation, always whole, is still one."""
    raw["schema_version"] = 5
    return raw


def _unchanged(raw: RawLine, header: RawLine) -> RawLine:
    """An event whose shape did not change."""
    return raw


MIGRATIONS: dict[int, Migration] = {
    1: Migration(header=_v1_header, event=_v1_event),
    2: Migration(header=_v2_header, event=_unchanged),
    3: Migration(header=_v3_header, event=_v3_event),
    4: Migration(header=_v4_header, event=_unchanged),
}
"""Version n -> the step to version n + 1. Every version below SCHEMA_VERSION has one."""


class Upgrade:
    """The migration steps of one record, from the version it was written in to today's."""

    def __init__(self, raw_header: RawLine, version: int, path: Path) -> None:
        self.written_version = version
        self._steps: list[tuple[Migration, RawLine]] = []
        header = raw_header
        for n in range(version, SCHEMA_VERSION):
            step = MIGRATIONS.get(n)
            if step is None:
                raise RecordError(
                    f"{path}: no migration from record schema_version {n} to {n + 1}"
                    f" (this code writes version {SCHEMA_VERSION})"
                )
            self._steps.append((step, header))
            header = step.header(copy.deepcopy(header))
        header["schema_version"] = version
        self.header = header
        """The header migrated to today's shape; `schema_version` stays the written one."""
        self.events_unchanged = all(step.event is _unchanged for step, _ in self._steps)
        """Whether every step leaves events as they are (then lines are read as written)."""

    def event(self, raw: RawLine) -> RawLine:
        """An event line migrated to today's shape (the dict is changed in place)."""
        for step, header in self._steps:
            raw = step.event(raw, header)
        return raw


def record_version(raw_header: RawLine, path: Path) -> int:
    """The header's schema_version, checked: an int from 1 up to SCHEMA_VERSION."""
    version = raw_header.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError(
            f"{path}: line 1: header field schema_version must be a positive integer,"
            f" got {version!r}"
        )
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{path}: the record has schema_version {version}, newer than this code knows"
            f" ({SCHEMA_VERSION}); read it with a newer security-dilemma-sandbox"
        )
    return version


def upgrade_for(raw_header: RawLine, path: Path) -> Upgrade | None:
    """The upgrade of a record with this raw header; None when it is already current."""
    version = record_version(raw_header, path)
    return None if version == SCHEMA_VERSION else Upgrade(raw_header, version, path)
