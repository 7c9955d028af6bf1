"""What a report shows, gathered from records: scores, headers, run ends and conditions.

`ReportData` reads a record or a folder once: it keeps the latest attempt of each run, scores
the records (leaving out, and naming, any record the evaluator fails on), joins experiment
conditions and groups runs into condition cells (a run without a level of a factor is shown
under "(none)" there, and left out of that factor's comparison). It is the one place that calls
dilemma.evaluation.comparison (`with_conditions`, `compare`).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from dilemma.evaluation.comparison import (
    CompareError,
    Comparison,
    Interaction,
    Resampling,
    compare,
    declared,
    with_conditions,
)
from dilemma.evaluation.conditions import declared_plan
from dilemma.evaluation.tables import Scores, record_paths, score
from dilemma.records.reader import SET_ASIDE, NoRecordsError, read_header, read_run_end
from dilemma.records.schema import Header, RecordError, RunEndEvent

GROUP = "_group"


ALL_RUNS = "all runs"


NONE_LEVEL = "(none)"


MAX_INTERACTIONS = 6
"""Two-factor interactions a report tests at most (the first pairs of compared factors)."""


class ReportError(ValueError):
    """A report that cannot be made (no records, unknown factor)."""


def _read_header(path: Path) -> Header | None:
    try:
        return read_header(path)
    except RecordError:
        return None


def _run_end(path: Path) -> RunEndEvent | None:
    try:
        return read_run_end(path)
    except RecordError:
        return None


def _score_robustly(paths: list[Path]) -> tuple[Scores, list[tuple[Path, str]]]:
    """Score the records; if scoring the set fails, leave out the records that fail alone."""
    try:
        return score(paths), []
    except NoRecordsError as exc:
        raise ReportError(str(exc)) from exc
    except Exception as exc:  # a scorer bug on some record: find it, report the others
        first = exc
    bad: list[tuple[Path, str]] = []
    for p in paths:
        try:
            score([p])
        except NoRecordsError:
            continue  # unreadable: the scorer lists it among the skipped records
        except Exception as exc:
            bad.append((p, f"{type(exc).__name__}: {exc}"))
    left = [p for p in paths if p not in {b for b, _ in bad}]
    try:
        return score(left), bad
    except Exception as exc:
        raise ReportError(f"cannot score these records: {type(first).__name__}: {first}") from exc


def _latest_attempts(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """One record per run id, and the records it supersedes.

    A resumed sweep keeps unfinished attempts under `failed/` with the same run id as the redo.
    Preferred: outside a `failed` folder, then finished (has run_end), then most recent.
    """
    by_id: dict[str, list[Path]] = {}
    unreadable: list[Path] = []
    for p in paths:
        header = _read_header(p)
        if header is None:
            unreadable.append(p)  # left to the scorer, which reports why it is skipped
        else:
            by_id.setdefault(header.run_id, []).append(p)
    keep: list[Path] = []
    dropped: list[Path] = []
    for group in by_id.values():
        ranked = sorted(
            group,
            key=lambda p: (
                SET_ASIDE not in p.parts[:-1],
                _run_end(p) is not None,
                p.stat().st_mtime,
            ),
        )
        keep.append(ranked[-1])
        dropped += ranked[:-1]
    return sorted(keep + unreadable), sorted(dropped)


class ReportData:
    """Scores, headers and conditions of the records of one report."""

    def __init__(self, source: Path, by: list[str] | None) -> None:
        try:
            paths, self.superseded = _latest_attempts(record_paths(source))
        except NoRecordsError as exc:
            raise ReportError(str(exc)) from exc
        self.scores, self.unscored = _score_robustly(paths)
        runs = self.scores.runs
        self.paths = {str(r): Path(p) for r, p in zip(runs["run_id"], runs["path"], strict=True)}
        self.headers = {rid: h for rid, p in self.paths.items() if (h := _read_header(p))}
        self.ends = {rid: e for rid, p in self.paths.items() if (e := _run_end(p))}
        self.runs = with_conditions(runs)
        self.conditions = self.runs.copy()
        """Runs with their conditions as recorded (no level where a run has none)."""
        self.factors = list(
            dict.fromkeys(
                k
                for h in self.headers.values()
                for k in (h.experiment.conditions if h.experiment else {})
            )
        )
        for f in self.factors:
            self.runs[f] = self.runs[f].astype("object").fillna(NONE_LEVEL).astype(str)
        # a factor varies when the runs that have it show two levels or more
        self.varying = [f for f in self.factors if self.conditions[f].dropna().nunique() > 1]
        if by:
            unknown = [f for f in by if f not in self.runs.columns]
            if unknown:
                choices = sorted({*self.factors, "model", "prompt_setup", "scenario"})
                raise ReportError(f"unknown factor(s) {unknown}; factors: {choices}")
            for f in by:
                self.runs[f] = self.runs[f].astype("object").fillna(NONE_LEVEL).astype(str)
            self.compared = list(by)
        else:
            self.compared = self.varying
        cell_factors = self.compared
        if cell_factors:
            self.runs[GROUP] = self.runs[cell_factors].astype(str).agg(" | ".join, axis=1)
        else:
            self.runs[GROUP] = ALL_RUNS
        self.cell_factors = cell_factors
        self._comparisons: list[Comparison] | None = None
        group_of = self.runs.set_index("run_id")[GROUP]
        self.rounds = self.scores.rounds.assign(
            **{GROUP: self.scores.rounds["run_id"].map(group_of)}
        )
        self.pairs = self.scores.pair_rounds.assign(
            **{GROUP: self.scores.pair_rounds["run_id"].map(group_of)}
        )

    def comparisons(self) -> list[Comparison]:
        """One comparison per compared factor, paired by seed or stratified by the other
        factors, with the primary measures and margins the experiment declared. Runs without a
        level of the factor, and unfinished runs, are left out of it and counted.

        With two or more factors, each comparison of a factor carries its interaction with the
        next compared factor (f1 x f2, f2 x f3, ...; the main effect is tested the same way
        with or without it); `interactions` gives the pairs that leaves out. A declared
        sequential plan sets the level of the current look, as in `dilemma compare`. Computed
        once."""
        if self._comparisons is None:
            primary, margins = self._declared()
            settings = self._resampling()
            found = []
            for n, f in enumerate(self.compared):
                partner = self.compared[n + 1] if n + 1 < len(self.compared) else None
                found.append(
                    compare(
                        self.conditions,
                        f,
                        primary,
                        margins=margins,
                        interaction=partner,
                        resampling=settings,
                    )
                )
            self._comparisons = found
        return self._comparisons

    def interactions(self) -> list[Interaction]:
        """Every two-factor interaction of the compared factors, up to MAX_INTERACTIONS pairs:
        those the comparisons carry, then the other pairs, each computed on its own."""
        found = [c.interaction for c in self.comparisons() if c.interaction is not None]
        done = {(i.by, i.within) for i in found}
        primary, margins = self._declared()
        for a, b in itertools.combinations(self.compared, 2):
            if len(found) >= MAX_INTERACTIONS:
                break
            if (a, b) not in done:
                extra = compare(
                    self.conditions,
                    a,
                    primary,
                    margins=margins,
                    interaction=b,
                    resampling=self._resampling(),
                )
                if extra.interaction is not None:
                    found.append(extra.interaction)
        return found[:MAX_INTERACTIONS]

    def _declared(self) -> tuple[list[str] | None, dict[str, float]]:
        try:
            return declared(self.paths.values())
        except CompareError as exc:
            raise ReportError(str(exc)) from exc

    def _resampling(self) -> Resampling:
        """The experiment's sequential plan, if it declared one (`sequential:`)."""
        try:
            plan, _ = declared_plan(self.paths.values())
        except CompareError as exc:
            raise ReportError(str(exc)) from exc
        return Resampling(plan=plan)
