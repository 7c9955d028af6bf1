"""What `dilemma score PATH [--json]` prints: a readable table, or one JSON object per run.

    score_text(path) -> str               the table (and the records that could not be read)
    score_json(path) -> list[dict]        one object per run; NaN becomes null
    score_json_text(path) -> str          that as indented JSON text (`--json`)
Both raise dilemma.records.reader.NoRecordsError when `path` holds no readable record.
`runs_json` and `runs_text` format scores already computed (by `dilemma.score`).

When the score cache holds every record, both are built from its rows without importing
pandas (`ScoreCache.rows`), which keeps `dilemma score RECORD` quick; otherwise the records are
scored (`dilemma.evaluation.tables.score`) and formatted from the same rows.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dilemma.cli.json_text import indented_json
from dilemma.evaluation import score_cache
from dilemma.evaluation.columns import RUNS
from dilemma.evaluation.conditions import header_facts
from dilemma.evaluation.run_json import (
    GRAINS,
    HEADLINE,
    ScoreRows,
    display_value,
    plain,
    rows_json,
    runs_json,
    score_rows,
)
from dilemma.records.files import record_files

if TYPE_CHECKING:
    from dilemma.evaluation.tables import Scores

__all__ = [
    "HEADLINE",
    "display_value",
    "runs_json",
    "runs_text",
    "score_json",
    "score_json_text",
    "score_text",
]

Source = Path | str | Iterable[Path | str]
Table = dict[str, list[str]]
"""A readable table: column name -> its cells, in column order."""
RUN_COLUMN_NAMES = {c.name for c in RUNS}
"""Names a condition column cannot take (but `scenario`): they are scores of the run."""


def scored(source: Source) -> ScoreRows:
    """The rows of `source`'s scores: from the active score cache when it holds every record
    (no pandas needed), else scored by `dilemma.evaluation.tables.score` (which raises
    NoRecordsError when `source` holds no readable record)."""
    cache = score_cache.active()
    if cache is not None:
        items = [source] if isinstance(source, (str, Path)) else list(source)
        paths = [p for item in items for p in record_files(Path(item))]
        rows = cache.rows(paths, grains=GRAINS) if paths else None
        if rows is not None:
            return ScoreRows(**rows, skipped=[])
        source = items
    from dilemma.evaluation.tables import score

    return score_rows(score(source, grains=GRAINS))


def score_json(source: Source) -> list[dict[str, Any]]:
    """One JSON-ready object per run found in `source` (a record, a folder, or several)."""
    return rows_json(scored(source))


def score_json_text(source: Source) -> str:
    """What `dilemma score --json` prints: `score_json` as indented JSON text."""
    return indented_json(score_json(source))


def _est(d: dict[Any, Any], k: str, digits: int = 3) -> str:
    """A Richardson coefficient with its standard error in parentheses."""
    return f"{display_value(d[f'rich_{k}'], digits)}({display_value(d[f'rich_se_{k}'], digits)})"


def _text(value: Any) -> str:
    """A text cell: <NA> for a missing value, as pandas prints it."""
    return "<NA>" if plain(value) is None else str(value)


def _conditions(scores: ScoreRows) -> tuple[Table, dict[str, str]]:
    """The condition columns that vary between the runs (experiment factors, scenario, model,
    prompt setup, read from the headers), and the values every run shares."""
    per_run: list[dict[str, str]] = []
    for run in scores.runs:
        facts = header_facts(Path(str(run["path"])))
        conds = facts.experiment.get("conditions") or {}
        per_run.append(
            {
                "path": str(run["path"]),
                "prompt_setup": facts.prompt_setup,
                "model": facts.model,
                **{k: str(v) for k, v in conds.items()},
            }
        )
    names = list(dict.fromkeys([*(k for row in per_run for k in row), "scenario"]))
    for row, run in zip(per_run, scores.runs, strict=True):
        row["scenario"] = "" if plain(run["scenario"]) is None else str(run["scenario"])
    varying: Table = {}
    constant: dict[str, str] = {}
    for col in names:
        if col in ("path", "run_id") or (col in RUN_COLUMN_NAMES and col != "scenario"):
            continue
        values = [row.get(col, "") for row in per_run]
        if len(set(values)) > 1:
            varying[col] = values
        elif values and values[0]:
            constant[col] = values[0]
    return varying, constant


def _full_table(scores: ScoreRows, conds: Table, short_ids: bool) -> Table:
    """Every column of the readable table, conditions after the run id, in priority order of
    `NARROW_KEEP` first when narrowed."""
    r = scores.runs
    table: Table = {"run": [str(x["run_id"])[:8] if short_ids else str(x["run_id"]) for x in r]}
    table.update(conds)
    table["rounds"] = [f"{x['rounds']}/{x['rounds_planned']}" for x in r]
    table["outcome"] = [_text(x["outcome"]) for x in r]
    table["index"] = [display_value(x["escalation_index"], 1) for x in r]
    table["ladder"] = [display_value(x["ladder_score_total"], 0) for x in r]
    table["max rung"] = ["n/a" if plain(x["max_rung"]) is None else str(x["max_rung"]) for x in r]
    table["threat"] = [display_value(x["mean_threat"]) for x in r]
    table["misperc."] = [display_value(x["mean_misperception"]) for x in r]
    table["spirals"] = [display_value(x["spiral_rounds"]) for x in r]
    table["mutual"] = [display_value(x["mutual_arming_rounds"]) for x in r]
    table["sat."] = [display_value(x["saturated_rounds"]) for x in r]
    table["war"] = [_war(x) for x in r]
    table["fallback"] = [display_value(x["fallback_rate"]) for x in r]
    table["rules"] = [
        "ok" if x["rule_violations"] == 0 else f"{x['rule_violations']} VIOLATIONS" for x in r
    ]
    return table


def _war(run: dict[str, Any]) -> str:
    if not run["war"]:
        return "no"
    wr = plain(run["war_round"])
    rnd = 0 if wr is None else int(wr)
    return f"r{rnd} {_text(run['war_initiator'])}"


DROP_ORDER = (
    "sat.",
    "mutual",
    "ladder",
    "max rung",
    "misperc.",
    "spirals",
    "fallback",
    "rounds",
    "rules",
    "outcome",
    "threat",
)
"""Columns left out, first to last, until the table fits the terminal (`--wide` shows all)."""


def _cell(text: str) -> str:
    """A cell or column name with tabs and line breaks escaped, as pandas prints them."""
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def render(table: Table) -> str:
    """The table as `pandas.DataFrame.to_string(index=False)` prints text columns: each column
    right-aligned to its widest cell or name, one space between columns. (pandas strips some
    spaces at the edges of names and cells; no cell of the score table has any.)"""
    columns = [[_cell(name), *map(_cell, cells)] for name, cells in table.items()]
    widths = [max(map(len, col)) for col in columns]
    rows = zip(*columns, strict=True) if columns else iter(())
    return "\n".join(" ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def _width(table: Table) -> int:
    return max(len(line) for line in render(table).splitlines())


def _fit(table: Table, width: int) -> tuple[Table, list[str]]:
    """The table without the fewest columns of DROP_ORDER that make it fit `width`; the
    columns left out."""
    dropped: list[str] = []
    for col in DROP_ORDER:
        if _width(table) <= width:
            break
        if col in table:
            table = {k: v for k, v in table.items() if k != col}
            dropped.append(col)
    return table, dropped


def _sorted(table: Table, by: list[str]) -> Table:
    """The table's rows sorted by the columns `by` (stable)."""
    order = sorted(range(len(table["run"])), key=lambda i: [table[c][i] for c in by])
    return {k: [v[i] for i in order] for k, v in table.items()}


def _fit_line(text: str, width: int | None) -> list[str]:
    """One line, wrapped to `width` with its continuations indented (None: as it is)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False) or [text]


def _fits(scores: ScoreRows, wide: bool) -> list[str]:
    """The Richardson fit of each dyad: every estimate when wide, else the verdict and rho."""
    lines = ["", "Richardson fits (dx = a*y - m*x + g; mirror):"]
    for d in scores.dyads:
        run = d["run_id"] if wide else str(d["run_id"])[:8]
        if d["rich_verdict"] == "insufficient_data":
            fit = "insufficient_data"
        elif not wide:
            fit = (
                f"{d['rich_verdict']}, rho={display_value(d['rich_rho'], 3)}"
                f" [{display_value(d['rich_rho_lo'], 3)}, {display_value(d['rich_rho_hi'], 3)}]"
            )
        else:
            fit = (
                f"a={_est(d, 'a')} m={_est(d, 'm')} g={_est(d, 'g', 2)}"
                f" R2={display_value(d['rich_r2_x'])} | b={_est(d, 'b')} n={_est(d, 'n')}"
                f" h={_est(d, 'h', 2)} R2={display_value(d['rich_r2_y'])}"
                f" | rho={display_value(d['rich_rho'], 3)}"
                f" [{display_value(d['rich_rho_lo'], 3)}, {display_value(d['rich_rho_hi'], 3)}]"
                f" -> {d['rich_verdict']}"
            )
        if isinstance(d.get("rich_runaway_source"), str):
            fit += f" ({d['rich_runaway_source']})"
        lines.append(f"  {run} {d['a']}-{d['b']}: {fit}")
    return lines


def runs_text(scores: Scores, width: int | None = None) -> str:
    """The readable table of already computed scores: one row per run with the conditions that
    vary between the runs; fitted to `width` columns (None: every column, every estimate)."""
    return rows_text(score_rows(scores), width)


def rows_text(scores: ScoreRows, width: int | None = None) -> str:
    """The readable table of `scores` (see `runs_text`)."""
    conds, constant = _conditions(scores)
    wide = width is None
    table = _full_table(scores, conds, short_ids=not wide)
    dropped: list[str] = []
    if width is not None:
        table, dropped = _fit(table, width)
    if conds:
        table = _sorted(table, [*conds, "run"])
    lines = [render(table)]
    if constant:
        shared = ", ".join(f"{k}={v}" for k, v in constant.items())
        lines += _fit_line(f"all runs: {shared}", width)
    if dropped:
        lines += _fit_line(f"not shown: {', '.join(dropped)} (--wide shows every column)", width)
    if not wide:
        lines += _fit_line("run: the first 8 characters of the run id", width)
    fits = _fits(scores, wide)
    lines += [part for line in fits for part in _fit_line(line, width)]
    bad = [v for v in scores.state_rounds if v["rule_violations"] > 0]
    if bad:
        lines += ["", "RULE VIOLATIONS (the record breaks its own scenario's rules):"]
        for v in bad:
            line = f"  {v['run_id']} round {v['round']} {v['state']}: {v['violations']}"
            lines += _fit_line(line, width)
    for path, why in scores.skipped:
        lines += _fit_line(f"skipped {path}: {why}", width)
    return "\n".join(lines)


def score_text(source: Source, width: int | None = None) -> str:
    """The readable table for the runs found in `source` (see `runs_text`)."""
    return rows_text(scored(source), width)
