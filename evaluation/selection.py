"""Which runs enter a comparison of one factor, and which are left out and why.

A folder often mixes sweeps of several experiments, plain `dilemma run` runs and unfinished runs.
The comparison of factor F uses only the runs that

- have a level of F: runs without one (plain runs, runs of an experiment without F) are left
  out of F's comparison;
- finished: outcome `completed` (every round played) or `war` (a war ended the run). Unfinished
  runs (outcome `failed`, `interrupted` or `stopped`, and records without their `run_end` line,
  outcome `incomplete`) are left out of every comparison: their measures cover only the rounds
  played before the run broke off, and which runs break off is not chance (a failing model, a
  spend limit reached in the costlier condition).

Both counts, and the runs per outcome, go with every comparison (`runs_note`). Tables without an
`outcome` column (synthetic ones) are taken as finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

FINISHED: tuple[str, ...] = ("completed", "war")
"""Outcomes of runs that enter comparisons."""

OUTCOME = "outcome"


@dataclass(frozen=True)
class LeftOut:
    """Runs left out of a comparison: why, how many, and the reason as a phrase."""

    why: Literal["lacks_factor", "unfinished"]
    runs: int
    detail: str


@dataclass(frozen=True)
class Selection:
    """The runs a comparison uses, the runs it leaves out, and runs per outcome."""

    runs: pd.DataFrame
    left_out: tuple[LeftOut, ...]
    outcomes: dict[str, int]
    """Runs per outcome among the runs with a level of the factor (finished or not)."""


def with_level(runs: pd.DataFrame, factor: str) -> tuple[pd.DataFrame, LeftOut | None]:
    """The runs that have a level of `factor`, and what was left out (None if nothing)."""
    missing = runs[factor].isna()
    n = int(missing.sum())
    if not n:
        return runs, None
    what = "a run" if n == 1 else "runs"
    detail = (
        f"{n} without a level of {factor} ({what} of no experiment, or of an experiment"
        f" without this factor)"
    )
    return runs[~missing], LeftOut("lacks_factor", n, detail)


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}


def _listed(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def select_runs(runs: pd.DataFrame, factor: str) -> Selection:
    """The runs that enter the comparison of `factor` (see the module docstring)."""
    runs, lacking = with_level(runs, factor)
    left: list[LeftOut] = [lacking] if lacking else []
    if OUTCOME not in runs.columns:
        return Selection(runs, tuple(left), {})
    outcomes = _counts(runs[OUTCOME])
    finished = runs[OUTCOME].astype(str).isin(FINISHED)
    unfinished = {k: v for k, v in outcomes.items() if k not in FINISHED}
    if unfinished:
        n = sum(unfinished.values())
        left.append(
            LeftOut(
                "unfinished",
                n,
                f"{n} unfinished ({_listed(unfinished)}); only runs that finished"
                f" ({' or '.join(FINISHED)}) are compared",
            )
        )
    return Selection(runs[finished], tuple(left), outcomes)


def runs_note(compared: int, left_out: Sequence[LeftOut], outcomes: Mapping[str, int]) -> str:
    """One sentence: runs compared (per outcome) and runs left out, with the reasons."""
    shown = {k: v for k, v in outcomes.items() if k in FINISHED}
    per = f" ({_listed(shown)})" if shown else ""
    text = f"{compared} run{'s' if compared != 1 else ''} compared{per}"
    if left_out:
        text += "; left out: " + "; ".join(x.detail for x in left_out)
    return text
