"""Which files of a folder are records: read without the record schema (no pydantic), so that
`dilemma score` can find records in the score cache before it loads anything else."""

from __future__ import annotations

from pathlib import Path

RECORD_GLOB = "*.jsonl"
SET_ASIDE = "failed"
"""Folder, inside a sweep's output folder, holding unfinished attempts that a resume set aside."""


def record_files(path: Path) -> list[Path]:
    """The file at `path`, or every `*.jsonl` below a folder (but in `failed` folders), sorted;
    empty when `path` is neither (dilemma.records.reader.find_records raises then)."""
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob(RECORD_GLOB)
            if p.is_file() and SET_ASIDE not in p.relative_to(path).parts[:-1]
        )
    if path.is_file():
        return [path]
    return []
