"""The looks log: what `dilemma compare` saw each time it compared a folder.

Comparing, adding seeds because the verdict was inconclusive, and comparing again is optional
stopping: each extra look is another chance of a false `changes`, so the verdict no longer
controls the false-positive rate at alpha. An experiment that plans its looks
(`sequential:`, `dilemma.evaluation.sequential`) pays for them in advance; without a plan,
`compare` keeps this log in the compared folder (LOG_NAME, one JSON object per line) so that a
later comparison of the same folder and factor can tell that seeds were added after a look,
and say so. A folder that cannot be written is left alone, with a warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

LOG_NAME = ".dilemma-looks.log"
"""The log's file name in the compared folder (not `*.jsonl`: it is no record)."""


class LookEntry(BaseModel):
    """One comparison of a folder: when, of what, at how many seeds, with which verdict."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    time: dt.datetime
    by: str
    where: list[str] = []
    seeds_per_cell: int
    runs: int
    verdict: str
    primary: list[str]
    planned: bool = False
    """Whether the comparison was a look of a declared sequential plan."""


def log_path(path: Path) -> Path:
    """Where the log of a compared folder (or of the folder holding a compared record) is."""
    return (path if path.is_dir() else path.parent) / LOG_NAME


def read_log(path: Path) -> list[LookEntry]:
    """The entries logged for `path` (unreadable lines are skipped: the log only warns)."""
    file = log_path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(LookEntry.model_validate_json(line))
        except ValidationError:
            continue
    return out


def _same_question(entry: LookEntry, by: str, where: Sequence[str]) -> bool:
    return entry.by == by and sorted(entry.where) == sorted(where)


def optional_stopping(earlier: Sequence[LookEntry], now: LookEntry) -> str | None:
    """A warning when this unplanned comparison follows one of the same factor (and filters)
    at fewer seeds per cell: the seeds grew after a look."""
    if now.planned:
        return None
    before = [e for e in earlier if _same_question(e, now.by, now.where)]
    fewer = [e for e in before if e.seeds_per_cell < now.seeds_per_cell]
    if not fewer:
        return None
    first = min(fewer, key=lambda e: e.time)
    return (
        f"this folder was compared by {now.by} before at {first.seeds_per_cell} seeds per cell"
        f" ({first.time:%Y-%m-%d %H:%M} UTC, verdict {first.verdict}) and now has"
        f" {now.seeds_per_cell}: seeds were added after a look, so this verdict no longer"
        " controls the false-positive rate at alpha (optional stopping); treat it as"
        " exploratory, or plan looks in advance with `sequential:` in the experiment file"
    )


def record_look(path: Path, entry: LookEntry) -> list[str]:
    """Check `entry` against the log of `path`, append it, and return the warnings: optional
    stopping, or a log that could not be written."""
    warnings = []
    found = optional_stopping(read_log(path), entry)
    if found:
        warnings.append(found)
    file = log_path(path)
    try:
        with file.open("a", encoding="utf-8") as out:
            out.write(entry.model_dump_json() + "\n")
    except OSError as exc:
        warnings.append(
            f"could not write the looks log {file} ({exc.strerror or exc}); a later compare"
            " of this folder cannot tell whether seeds were added after this look"
        )
    return warnings


def entry_now(
    by: str,
    where: Sequence[str],
    seeds: int,
    runs: int,
    verdict: str,
    primary: Sequence[str],
    planned: bool = False,
) -> LookEntry:
    """A log entry for a comparison made now (UTC); `planned`: a look of a declared plan."""
    return LookEntry(
        time=dt.datetime.now(dt.UTC),
        by=by,
        where=list(where),
        seeds_per_cell=seeds,
        runs=runs,
        verdict=verdict,
        primary=list(primary),
        planned=planned,
    )
