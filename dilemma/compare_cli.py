"""Terminal output of `dilemma compare` and the table export of `dilemma export`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.comparison import compare, with_conditions
from evaluation.tables import record_paths, score


def runs_with_conditions(path: Path) -> pd.DataFrame:
    """Run-level scores joined with each run's experiment conditions."""
    return with_conditions(score(record_paths(path)).runs)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else str(value)
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def select(runs: pd.DataFrame, where: list[str]) -> pd.DataFrame:
    """Runs whose columns match every `FACTOR=LEVEL` filter."""
    for item in where:
        factor, sep, level = item.partition("=")
        if not sep or factor not in runs.columns:
            raise KeyError(
                f"--where {item!r}: expected FACTOR=LEVEL with a factor among"
                f" {sorted(c for c in runs.columns if runs[c].dtype == object)}"
            )
        runs = runs[runs[factor].astype(str) == level]
        if runs.empty:
            raise KeyError(f"--where {item!r}: no run has {factor} = {level}")
    return runs


def compare_output(
    path: Path, by: str, *, as_json: bool, seed: int = 0, where: list[str] | None = None
) -> str:
    """The comparison of `by`'s levels (within the runs `where` selects), as text or JSON."""
    runs = select(runs_with_conditions(path), where or [])
    result = compare(runs, by, seed=seed)
    if as_json:
        return json.dumps(
            {
                "by": by,
                "where": where or [],
                "changes_behaviour": result.changes_behaviour,
                "verdict": result.verdict,
                "levels": _records(result.levels),
                "pairs": _records(result.pairs),
            },
            indent=2,
        )
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format
    ):
        levels = result.levels.to_string(index=False) if not result.levels.empty else "(none)"
        cols = [
            "measure",
            "level_a",
            "level_b",
            "diff",
            "ci_low",
            "ci_high",
            "hedges_g",
            "p_value",
            "p_holm",
        ]
        pairs = (
            result.pairs[[c for c in cols if c in result.pairs.columns]].to_string(index=False)
            if not result.pairs.empty
            else "(none)"
        )
    return (
        f"Comparison by {by}\n\nMeans with bootstrap 95% CI:\n{levels}\n\n"
        f"Pairwise differences (a - b), bootstrap 95% CI, Hedges' g, permutation p,"
        f" Holm-adjusted p:\n{pairs}\n\nVerdict: {result.verdict}"
    )


def export_tables(path: Path, out: Path) -> list[Path]:
    """Write runs, rounds and dyad_rounds as CSV and Parquet into `out`."""
    scores = score(record_paths(path))
    runs = with_conditions(scores.runs)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, frame in (
        ("runs", runs),
        ("rounds", scores.rounds),
        ("dyad_rounds", scores.dyad_rounds),
    ):
        csv, parquet = out / f"{name}.csv", out / f"{name}.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        written += [csv, parquet]
    return written
