"""What the live viewer (`dilemma view`) lists: one row per record of a folder, cached per file.

    index = RunIndex(Path("runs/2x2"))
    listing = index.scan()          # rescans cheaply: only records whose (mtime, size) changed
    listing.rows, listing.version   # RunRow per readable record; version changes with any file

Rows come from the record header (scenario, experiment conditions, models per state) and from
the evaluator (`dilemma.evaluation.tables.score`: outcome, escalation index, data-quality counts),
scored
in one batch for the records that changed since the last scan. When the score cache is in use
(`dilemma view` turns it on) each row's facts (RowFacts) are kept there too, keyed like the
scores (path, size, mtime, edges, evaluator version): a new index on an unchanged folder (a
restarted viewer) reads no record, only those rows. A record without its run_end line
is `running` while it is being written (changed in the last STALE_S seconds) and `incomplete`
after that; a truncated last line (a write in progress) is normal and dropped by the reader.
Needs no web dependency: the Starlette app is in `dilemma.web.viewer.app`.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from dilemma.evaluation import score_cache
from dilemma.evaluation.measure_sets import DEFAULT_PRIMARY
from dilemma.evaluation.score_cache import FileKey, file_key
from dilemma.evaluation.tables import Scores, score
from dilemma.records.reader import NoRecordsError, find_records, read_header
from dilemma.records.schema import Header, RecordError

RUNNING = "running"
INCOMPLETE = "incomplete"
STALE_S = 600.0
"""A record without run_end that has not changed for this long is `incomplete`, not `running`."""
NONE_LEVEL = "(none)"
"""The level shown for a factor a run's experiment does not have."""
OUTCOMES = ("completed", "war", RUNNING, "failed", "stopped", "interrupted", INCOMPLETE)
"""Outcomes in the order the filter lists them."""

Stamp = tuple[int, int]
"""(mtime in ns, size in bytes): a file whose stamp is unchanged is not read again."""


@dataclass(frozen=True)
class RunRow:
    """One run as the viewer lists it."""

    key: str
    """The record's path relative to the viewed folder (POSIX); identifies the run in URLs."""
    run_id: str
    scenario: str
    conditions: dict[str, str]
    models: dict[str, str]
    outcome: str
    rounds: int
    rounds_planned: int
    escalation_index: float | None
    flags: list[str] = field(default_factory=list)
    mtime: float = 0.0
    seed: int | None = None
    measures: dict[str, float | None] = field(default_factory=dict)
    """Primary measures (DEFAULT_PRIMARY and any the experiment declares); `war` as 0 or 1."""
    primary: tuple[str, ...] | None = None
    """Primary measures the run's experiment declares (None: the defaults)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the poller inserts every string with textContent)."""
        return {
            "key": self.key,
            "run_id": self.run_id,
            "scenario": self.scenario,
            "conditions": self.conditions,
            "models": self.models,
            "outcome": self.outcome,
            "rounds": self.rounds,
            "rounds_planned": self.rounds_planned,
            "escalation_index": self.escalation_index,
            "flags": self.flags,
            "seed": self.seed,
            "measures": self.measures,
        }


@dataclass(frozen=True)
class Unreadable:
    """A `*.jsonl` file that is not (yet) a readable record, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class Listing:
    """The result of one scan: rows (newest first), unreadable files, and a version string."""

    rows: list[RunRow]
    unreadable: list[Unreadable]
    version: str

    def factors(self) -> dict[str, list[str]]:
        """Every experiment factor with its levels (sorted), over all rows."""
        names = list(dict.fromkeys(f for r in self.rows for f in r.conditions))
        return {f: sorted({r.conditions.get(f, NONE_LEVEL) for r in self.rows}) for f in names}

    def outcomes(self) -> list[str]:
        """The outcomes present, in OUTCOMES order (others after)."""
        present = {r.outcome for r in self.rows}
        return [o for o in OUTCOMES if o in present] + sorted(present - set(OUTCOMES))

    def primary(self) -> list[str]:
        """The primary measures: those the runs' experiment declares when every run declares
        the same ones, else DEFAULT_PRIMARY (as `dilemma compare` would use them)."""
        declared = {r.primary for r in self.rows}
        if len(declared) == 1:
            only = next(iter(declared))
            if only:
                return list(only)
        return list(DEFAULT_PRIMARY)


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to: an outcome and factor levels (empty: everything)."""

    outcome: str = ""
    conditions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, items: Iterable[tuple[str, str]]) -> Filters:
        """From query parameters: `outcome=war`, and `c.FACTOR=LEVEL` for each factor."""
        outcome = ""
        conditions: dict[str, str] = {}
        for name, value in items:
            if name == "outcome":
                outcome = value
            elif name.startswith("c.") and value:
                conditions[name[2:]] = value
        return cls(outcome, conditions)

    def keep(self, row: RunRow) -> bool:
        """Whether a row passes every filter."""
        if self.outcome and row.outcome != self.outcome:
            return False
        return all(row.conditions.get(f, NONE_LEVEL) == v for f, v in self.conditions.items())


ROW_KIND = "viewer-row/1"
"""The kind of the list rows' summaries in the score cache (bump when RowFacts changes)."""


class RowFacts(BaseModel):
    """What a list row holds that comes from the record and its scores (stored in the score
    cache, keyed by the record's path, size, mtime and the evaluator's version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    scenario: str
    conditions: dict[str, str]
    models: dict[str, str]
    outcome: str
    """The evaluator's outcome (`incomplete` for a record without run_end: the list tells
    `running` from it by the file's age)."""
    rounds: int
    rounds_planned: int
    escalation_index: float | None
    flags: list[str]
    seed: int | None
    measures: dict[str, float | None]
    primary: list[str] | None


@dataclass
class _Entry:
    stamp: Stamp
    row: RunRow | None
    error: str | None = None


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _count(value: Any) -> int:
    number = _number(value)
    return 0 if number is None else int(number)


def _measures(run: Mapping[str, Any], declared: list[str] | None) -> dict[str, float | None]:
    """The run's primary measures (defaults and declared) as numbers; None where missing."""
    names = list(dict.fromkeys([*DEFAULT_PRIMARY, *(declared or [])]))
    return {name: _number(run.get(name)) for name in names}


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def flags_of(run: Mapping[str, Any], negotiation_fallbacks: int) -> list[str]:
    """The data-quality flags of one scored run (a row of `Scores.runs`)."""
    flags = []
    for column, what in (
        ("fallbacks", "fallback"),
        ("parse_failures", "parse failure"),
        ("rule_violations", "rule violation"),
    ):
        n = _count(run.get(column))
        if n:
            flags.append(_plural(n, what))
    if negotiation_fallbacks:
        flags.append(_plural(negotiation_fallbacks, "negotiation fallback"))
    if bool(run.get("truncated")):
        flags.append("truncated last line")
    return flags


def _outcome(scored: str, mtime: float, now: float) -> str:
    if scored != INCOMPLETE:
        return scored
    return RUNNING if now - mtime < STALE_S else INCOMPLETE


LIST_GRAINS = ("runs", "states")
"""The grains the list needs: the runs' measures and the states' negotiation fallbacks."""


def score_for_list(paths: list[Path]) -> Scores:
    """Scores of `paths` for the list: from the score cache when one is in use (`dilemma view`
    turns it on), which then reads only LIST_GRAINS; else every grain, scored afresh."""
    cache = score_cache.active()
    return cache.score(paths, grains=LIST_GRAINS) if cache is not None else score(paths)


class RunIndex:
    """The runs of one folder, rescanned on demand and cached per file by (mtime, size).

    Thread-safe: the web server calls `scan` from its worker threads.
    """

    def __init__(
        self,
        root: Path,
        *,
        scorer: Callable[[list[Path]], Scores] = score_for_list,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self._scorer = scorer
        self._clock = clock
        self._cache: dict[Path, _Entry] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """Records read and scored since the index was made (the cache test counts them)."""

    def _paths(self) -> list[Path]:
        try:
            found = find_records(self.root)
        except NoRecordsError:
            return []  # the folder went away while being viewed: nothing to list
        return [p for p in found if self.inside(p)]

    def inside(self, path: Path) -> bool:
        """Whether `path`, symlinks resolved, is the viewed record or a file inside the viewed
        folder (a symlink leading elsewhere is not)."""
        try:
            real, root = path.resolve(strict=True), self.root.resolve(strict=True)
        except (OSError, RuntimeError):
            return False
        return real == root if not root.is_dir() else real.is_relative_to(root)

    def shown(self, text: str, path: Path) -> str:
        """`text` (an error message) with the record's path written relative to the folder."""
        key = self._key(path)
        for form in {str(path), str(path.absolute()), str(path.resolve())}:
            text = text.replace(form, key)
        for base in {str(self.root), str(self.root.absolute()), str(self.root.resolve())}:
            text = text.replace(base.rstrip("/") + "/", "")
        return text

    def scan(self) -> Listing:
        """Stat every record; read and score only those that are new or changed."""
        with self._lock:
            stamps: dict[Path, Stamp] = {}
            for path in self._paths():
                try:
                    st = path.stat()
                except OSError:
                    continue
                stamps[path] = (st.st_mtime_ns, st.st_size)
            for gone in set(self._cache) - set(stamps):
                del self._cache[gone]
            changed = [
                p
                for p, s in stamps.items()
                if self._cache.get(p, None) is None or self._cache[p].stamp != s
            ]
            if changed:
                self._update(changed, stamps)
            return self._listing(stamps)

    def records(self) -> list[tuple[str, Path, Stamp]]:
        """(key, path, stamp) of every readable record found by the last scan, by key."""
        with self._lock:
            found = [
                (e.row.key, p, e.stamp)
                for p, e in self._cache.items()
                if e.row is not None and self.inside(p)
            ]
        return sorted(found, key=lambda item: item[0])

    def path_of(self, key: str) -> Path | None:
        """The record a listed key names (None for anything not listed: no path tricks, and
        None for a file that now leads outside the folder)."""
        with self._lock:
            for path, entry in self._cache.items():
                if entry.row is not None and entry.row.key == key:
                    return path if self.inside(path) else None
        return None

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if self.root.is_dir() else path.name

    def _update(self, paths: list[Path], stamps: dict[Path, Stamp]) -> None:
        """Rows of `paths`: from their summaries in the score cache when it is in use and they
        are unchanged, else read (header) and scored, and their summaries stored."""
        cache = score_cache.active()
        keys: dict[Path, FileKey | None] = {}
        stored: dict[str, str] = {}
        if cache is not None:
            keys = {p: file_key(p) for p in paths}
            stored = cache.summaries([k for k in keys.values() if k is not None], ROW_KIND)
        missing: list[Path] = []
        for path in paths:
            key = keys.get(path)
            facts = _facts(stored.get(key.path)) if key is not None else None
            if facts is None:
                missing.append(path)
            else:
                self._cache[path] = _Entry(stamps[path], self._row(path, facts, stamps[path]))
        if missing:
            fresh = self._read(missing, stamps)
            if cache is not None:
                cache.store_summaries(_unchanged(fresh, keys), ROW_KIND)

    def _row(self, path: Path, facts: RowFacts, stamp: Stamp) -> RunRow:
        mtime = stamp[0] / 1e9
        return RunRow(
            key=self._key(path),
            run_id=facts.run_id,
            scenario=facts.scenario,
            conditions=dict(facts.conditions),
            models=dict(facts.models),
            outcome=_outcome(facts.outcome, mtime, self._clock()),
            rounds=facts.rounds,
            rounds_planned=facts.rounds_planned,
            escalation_index=facts.escalation_index,
            flags=list(facts.flags),
            mtime=mtime,
            seed=facts.seed,
            measures=dict(facts.measures),
            primary=tuple(facts.primary) if facts.primary else None,
        )

    def _read(self, paths: list[Path], stamps: dict[Path, Stamp]) -> dict[Path, RowFacts]:
        """Read and score `paths`; their facts when they were scored (a record that could not
        be scored gets a row that says why, and no facts: it is read again next time)."""
        headers: dict[Path, Header] = {}
        for path in paths:
            try:
                headers[path] = read_header(path)
            except (RecordError, OSError) as exc:
                self._cache[path] = _Entry(stamps[path], None, self.shown(str(exc), path))
        scored = self._score(list(headers))
        out: dict[Path, RowFacts] = {}
        for path, header in headers.items():
            self.reads += 1
            run, neg_fallbacks, error = scored.get(path, ({}, 0, "not scored"))
            exp = header.experiment
            facts = RowFacts(
                run_id=header.run_id,
                scenario=header.scenario.name,
                conditions=dict(exp.conditions) if exp else {},
                models={
                    s.id: (header.models[s.id].spec if s.id in header.models else "?")
                    for s in header.scenario.states
                },
                outcome=str(run.get("outcome", INCOMPLETE)),
                rounds=_count(run.get("rounds")),
                rounds_planned=header.scenario.rules.rounds,
                escalation_index=_number(run.get("escalation_index")),
                flags=(
                    flags_of(run, neg_fallbacks)
                    if run
                    else [f"not scored: {self.shown(str(error), path)}"]
                ),
                seed=header.seed,
                measures=_measures(run, exp.primary if exp else None),
                primary=list(exp.primary) if exp and exp.primary else None,
            )
            self._cache[path] = _Entry(stamps[path], self._row(path, facts, stamps[path]))
            if run:
                out[path] = facts
        return out

    def _score(self, paths: list[Path]) -> dict[Path, tuple[dict[str, Any], int, str | None]]:
        """Scores of the runs, by path: the run's row, its negotiation fallbacks, or an error."""
        if not paths:
            return {}
        try:
            return _by_path(self._scorer(paths))
        except Exception as exc:  # a record the evaluator fails on: score the others alone
            if len(paths) == 1:
                return {paths[0]: ({}, 0, f"{type(exc).__name__}: {exc}")}
        out: dict[Path, tuple[dict[str, Any], int, str | None]] = {}
        for path in paths:
            out.update(self._score([path]))
        return out

    def _listing(self, stamps: dict[Path, Stamp]) -> Listing:
        rows = [e.row for e in self._cache.values() if e.row is not None]
        rows.sort(key=lambda r: (-r.mtime, r.key))
        bad = sorted(
            (
                Unreadable(self._key(p), e.error or "unreadable")
                for p, e in self._cache.items()
                if e.row is None
            ),
            key=lambda u: u.key,
        )
        digest = hashlib.sha1(usedforsecurity=False)
        for path in sorted(stamps):
            digest.update(f"{path}\0{stamps[path]}\n".encode())
        # `running` turns into `incomplete` with time alone: part of the version too
        digest.update(",".join(r.outcome for r in rows).encode())
        return Listing(rows, bad, digest.hexdigest()[:16])


def _facts(text: str | None) -> RowFacts | None:
    """A stored row's facts; None when there are none or they do not fit RowFacts."""
    if text is None:
        return None
    try:
        return RowFacts.model_validate_json(text)
    except ValidationError:
        return None


def _unchanged(
    fresh: dict[Path, RowFacts], keys: dict[Path, FileKey | None]
) -> list[tuple[FileKey, str]]:
    """(key, JSON) of the rows whose record did not change while it was read and scored."""
    out = []
    for path, facts in fresh.items():
        before = keys.get(path)
        if before is not None and before == file_key(path):
            out.append((before, facts.model_dump_json()))
    return out


def _by_path(scores: Scores) -> dict[Path, tuple[dict[str, Any], int, str | None]]:
    neg = scores.states.groupby("run_id")["negotiation_fallbacks"].sum()
    out: dict[Path, tuple[dict[str, Any], int, str | None]] = {}
    for run in scores.runs.to_dict("records"):
        row = {str(k): v for k, v in run.items()}
        out[Path(str(row["path"]))] = (row, _count(neg.get(row["run_id"])), None)
    for path, why in scores.skipped:
        out[Path(path)] = ({}, 0, why)
    return out
