"""`dilemma show FOLDER`: the records of a folder, one line each, so the reader can pick one."""

from __future__ import annotations

from pathlib import Path

from dilemma.records.reader import NoRecordsError, find_records, read_header, read_run_end
from dilemma.records.schema import RecordError


def _row(folder: Path, path: Path) -> list[str]:
    """File, outcome, rounds, scenario, seed and conditions of one record."""
    name = str(path.relative_to(folder))
    try:
        header = read_header(path)
        end = read_run_end(path)
    except RecordError as exc:
        return [name, "unreadable", "", "", "", str(exc).removeprefix(f"{path}: ")]
    conditions = header.experiment.conditions if header.experiment is not None else {}
    shown = ", ".join(f"{k}={v}" for k, v in conditions.items() if k != "scenario")
    return [
        name,
        "incomplete" if end is None else end.outcome,
        "?" if end is None else str(end.rounds_played),
        header.scenario.name,
        str(header.seed),
        shown,
    ]


def folder_listing(folder: Path) -> tuple[str, Path | None]:
    """The listing of `folder`'s records and, when it holds exactly one, that record (to show
    instead). NoRecordsError when it holds none."""
    paths = find_records(folder)
    if not paths:
        raise NoRecordsError(f"{folder}: no records (*.jsonl) in this folder")
    if len(paths) == 1:
        return "", paths[0]
    rows = [["record", "outcome", "rounds", "scenario", "seed", "conditions"]]
    rows += [_row(folder, p) for p in paths]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    lines.append("")
    lines.append(f"{len(paths)} records; show one with: dilemma show {folder / paths[0].name}")
    return "\n".join(line.rstrip() for line in lines), None
