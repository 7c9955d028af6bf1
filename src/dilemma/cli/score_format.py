"""What `dilemma score PATH [--json]` prints: a readable table, or one JSON object per run.

    score_text(path) -> str               the table (and the records that could not be read)
    score_json(path) -> list[dict]        one object per run; NaN becomes null
Both raise dilemma.records.reader.NoRecordsError when `path` holds no readable record.
`runs_json` and `runs_text` format scores already computed (by `dilemma.score`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma.evaluation.conditions import condition_columns, with_conditions
from dilemma.evaluation.run_json import HEADLINE, display_value, runs_json
from dilemma.evaluation.tables import Scores, score

__all__ = ["HEADLINE", "display_value", "runs_json", "runs_text", "score_json", "score_text"]

Source = Path | str | Iterable[Path | str]
GRAINS = ("runs", "dyads", "states", "state_rounds")
"""The frames the table and the JSON are made of (all a score cache need read)."""


def score_json(source: Source) -> list[dict[str, Any]]:
    """One JSON-ready object per run found in `source` (a record, a folder, or several)."""
    return runs_json(score(source, grains=GRAINS))


def _est(d: dict[Any, Any], k: str, digits: int = 3) -> str:
    """A Richardson coefficient with its standard error in parentheses."""
    return f"{display_value(d[f'rich_{k}'], digits)}({display_value(d[f'rich_se_{k}'], digits)})"


def _conditions(scores: Scores) -> tuple[pd.DataFrame, dict[str, str]]:
    """The condition columns that vary between the runs (experiment factors, scenario, model,
    prompt setup, read from the headers), and the values every run shares."""
    r = scores.runs
    joined = with_conditions(r[["run_id", "path"]].copy())
    varying: dict[str, list[str]] = {}
    constant: dict[str, str] = {}
    joined["scenario"] = r["scenario"].to_numpy()
    for col in condition_columns(joined, ("run_id",)):
        values = ["" if pd.isna(v) else str(v) for v in joined[col]]
        if len(set(values)) > 1:
            varying[col] = values
        elif values and values[0]:
            constant[col] = values[0]
    return pd.DataFrame(varying, index=r.index), constant


def _full_table(scores: Scores, conds: pd.DataFrame, short_ids: bool) -> pd.DataFrame:
    """Every column of the readable table, conditions after the run id, in priority order of
    `NARROW_KEEP` first when narrowed."""
    r = scores.runs
    ids = r["run_id"].str.slice(0, 8) if short_ids else r["run_id"]
    table = pd.DataFrame({"run": ids})
    for col in conds.columns:
        table[col] = conds[col].to_numpy()
    table["rounds"] = (r["rounds"].astype(str) + "/" + r["rounds_planned"].astype(str)).to_numpy()
    table["outcome"] = r["outcome"].to_numpy()
    table["index"] = [display_value(v, 1) for v in r["escalation_index"]]
    table["ladder"] = [display_value(v, 0) for v in r["ladder_score_total"]]
    table["max rung"] = r["max_rung"].fillna("n/a").to_numpy()
    table["threat"] = [display_value(v) for v in r["mean_threat"]]
    table["misperc."] = [display_value(v) for v in r["mean_misperception"]]
    table["spirals"] = [display_value(v) for v in r["spiral_rounds"]]
    table["mutual"] = [display_value(v) for v in r["mutual_arming_rounds"]]
    table["sat."] = [display_value(v) for v in r["saturated_rounds"]]
    table["war"] = [
        f"r{int(wr)} {wi}" if w else "no"
        for w, wr, wi in zip(r["war"], r["war_round"].fillna(0), r["war_initiator"], strict=True)
    ]
    table["fallback"] = [display_value(v) for v in r["fallback_rate"]]
    table["rules"] = ["ok" if v == 0 else f"{v} VIOLATIONS" for v in r["rule_violations"]]
    return table


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


def _width(table: pd.DataFrame) -> int:
    return max(len(line) for line in table.to_string(index=False).splitlines())


def _fit(table: pd.DataFrame, width: int) -> tuple[pd.DataFrame, list[str]]:
    """The table without the fewest columns of DROP_ORDER that make it fit `width`; the
    columns left out."""
    dropped: list[str] = []
    for col in DROP_ORDER:
        if _width(table) <= width:
            break
        if col in table.columns:
            table = table.drop(columns=[col])
            dropped.append(col)
    return table, dropped


def _fit_line(text: str, width: int | None) -> list[str]:
    """One line, wrapped to `width` with its continuations indented (None: as it is)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False) or [text]


def _fits(scores: Scores, wide: bool) -> list[str]:
    """The Richardson fit of each dyad: every estimate when wide, else the verdict and rho."""
    lines = ["", "Richardson fits (dx = a*y - m*x + g; mirror):"]
    for d in scores.dyads.to_dict("records"):
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
    conds, constant = _conditions(scores)
    wide = width is None
    table = _full_table(scores, conds, short_ids=not wide)
    dropped: list[str] = []
    if width is not None:
        table, dropped = _fit(table, width)
    if len(conds.columns):
        table = table.sort_values([*conds.columns, "run"], kind="stable")
    lines = [table.to_string(index=False)]
    if constant:
        shared = ", ".join(f"{k}={v}" for k, v in constant.items())
        lines += _fit_line(f"all runs: {shared}", width)
    if dropped:
        lines += _fit_line(f"not shown: {', '.join(dropped)} (--wide shows every column)", width)
    if not wide:
        lines += _fit_line("run: the first 8 characters of the run id", width)
    fits = _fits(scores, wide)
    lines += [part for line in fits for part in _fit_line(line, width)]
    bad = scores.state_rounds[scores.state_rounds["rule_violations"] > 0]
    if not bad.empty:
        lines += ["", "RULE VIOLATIONS (the record breaks its own scenario's rules):"]
        for v in bad.to_dict("records"):
            line = f"  {v['run_id']} round {v['round']} {v['state']}: {v['violations']}"
            lines += _fit_line(line, width)
    for path, why in scores.skipped:
        lines += _fit_line(f"skipped {path}: {why}", width)
    return "\n".join(lines)


def score_text(source: Source, width: int | None = None) -> str:
    """The readable table for the runs found in `source` (see `runs_text`)."""
    return runs_text(score(source, grains=GRAINS), width)
