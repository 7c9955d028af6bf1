"""The order and the pages of the viewer's list: sorted on the server, one page at a time.

    sort = Sort.parse("-seed")                      # None for no (or an unknown) column
    ordered = arrange(groups, rows, sort)           # [(group, its runs in order)], groups ordered
    page = paginate(ordered, number=2, per=100)     # the runs 101-200 with their groups

Runs are sorted within their condition group; the groups follow their mean for a measure column
(`m.NAME`), else their first run. Missing values (a run without a seed, a measure that could not
be computed) come last in either direction. Text compares ignoring case, with numbers inside
it by value ("run-9" before "run-10"). Without a sort, groups come in scenario and condition
order and runs newest first. A page is a slice of that sequence of runs, each with its group
(a group split across pages is shown on each, with its heading and means).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dilemma.web.viewer.data import RunRow
from dilemma.web.viewer.groups import Group

PAGE_SIZE = 100
"""Runs per page."""
COLUMNS = ("run", "seed", "models", "outcome", "rounds", "flags")
"""The sortable columns besides the measures (`m.NAME`)."""
NUMERIC = ("seed", "rounds")

Ordered = list[tuple[Group, list[RunRow]]]
"""Groups in display order, each with its runs in display order."""


@dataclass(frozen=True)
class Sort:
    """A column to sort by (`seed`, `m.escalation_index`, ...) and the direction."""

    column: str
    descending: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Sort | None:
        """From the `sort` query parameter (`-` in front: descending); None for none or an
        unknown column."""
        text = (text or "").strip()
        descending = text.startswith("-")
        column = text[1:] if descending else text
        if column in COLUMNS or (column.startswith("m.") and len(column) > 2):
            return cls(column, descending)
        return None

    @property
    def param(self) -> str:
        """The query parameter that names this sort."""
        return ("-" if self.descending else "") + self.column

    @property
    def numeric(self) -> bool:
        """Whether the column holds numbers."""
        return self.column in NUMERIC or self.column.startswith("m.")


def _natural(text: str) -> tuple[tuple[int, Any], ...]:
    """A key that orders text ignoring case and numbers inside it by value."""
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def cell(row: RunRow, column: str) -> Any:
    """The value a row is sorted by in `column` (None: missing)."""
    if column.startswith("m."):
        return _present(row.measures.get(column[2:]))
    if column == "seed":
        return row.seed
    if column == "rounds":
        return row.rounds
    text = {
        "run": row.run_id,
        "models": " ".join(row.models.values()),
        "outcome": row.outcome,
        "flags": " ".join(row.flags),
    }[column]
    return _natural(text)


def _present(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _sorted(items: list[Any], value: Any, descending: bool) -> list[Any]:
    """`items` by `value(item)`, missing values last either way (stable)."""
    present = [i for i in items if value(i) is not None]
    missing = [i for i in items if value(i) is None]
    return sorted(present, key=value, reverse=descending) + missing


def arrange(groups: Sequence[Group], rows: Sequence[RunRow], sort: Sort | None) -> Ordered:
    """The groups with their runs (from `rows`, in `rows` order unless sorted), in display
    order."""
    by_key = {r.key: r for r in rows}
    ordered = [(g, [by_key[k] for k in g.keys]) for g in groups]
    if sort is None:
        return ordered
    column = sort.column
    ordered = [
        (g, _sorted(runs, lambda r: cell(r, column), sort.descending)) for g, runs in ordered
    ]
    if column.startswith("m."):
        measure = column[2:]

        def group_value(item: tuple[Group, list[RunRow]]) -> Any:
            found = item[0].aggregates.get(measure)
            return _present(found.mean) if found else None
    else:

        def group_value(item: tuple[Group, list[RunRow]]) -> Any:
            return cell(item[1][0], column) if item[1] else None

    return _sorted(ordered, group_value, sort.descending)


@dataclass(frozen=True)
class Page:
    """One page of the ordered list."""

    groups: Ordered
    """The groups with runs on this page, each with those runs."""
    number: int
    """1-based; past the last page means the last page."""
    pages: int
    per: int
    first: int
    """1-based position of the page's first run in the whole list (0 when it is empty)."""
    last: int

    def to_json(self) -> dict[str, int]:
        """A JSON-ready dict (the runs and groups are sent beside it)."""
        return {
            "number": self.number,
            "pages": self.pages,
            "per": self.per,
            "first": self.first,
            "last": self.last,
        }


def paginate(ordered: Ordered, number: int, per: int = PAGE_SIZE) -> Page:
    """Page `number` (from 1; clamped to the pages there are) of `per` runs."""
    total = sum(len(runs) for _, runs in ordered)
    pages = max(1, math.ceil(total / per))
    number = min(max(1, number), pages)
    start, stop = (number - 1) * per, min(number * per, total)
    out: Ordered = []
    seen = 0
    for group, runs in ordered:
        lo, hi = max(start - seen, 0), min(stop - seen, len(runs))
        if lo < hi:
            out.append((group, runs[lo:hi]))
        seen += len(runs)
        if seen >= stop:
            break
    return Page(out, number, pages, per, start + 1 if total else 0, stop)
