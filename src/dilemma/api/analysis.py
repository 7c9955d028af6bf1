"""`score`, `compare` and `read_record`, and their async forms (run in a worker thread).

`score` is `dilemma.evaluation.score` with each run's experiment conditions (its factor levels,
`model`, `prompt_setup`) joined onto the runs, rounds and dyad-rounds tables, so they can be
grouped by factor directly. `compare` decides whether a factor changes behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from dilemma.evaluation.comparison import (
    CompareError,
    Comparison,
    Resampling,
    condition_columns,
    conditions,
    declared,
    resolve_settings,
    with_conditions,
)
from dilemma.evaluation.comparison import compare as compare_runs
from dilemma.evaluation.conditions import declared_plan, factors_of, unknown_factor, unknown_level
from dilemma.evaluation.contrast import N_PERMUTATIONS
from dilemma.evaluation.measure_sets import HAZARD_RATIO
from dilemma.evaluation.mixed import MixedComparison, mixed_compare
from dilemma.evaluation.reaction_pooled import compare_reaction
from dilemma.evaluation.reaction_pooled import pooled_reactions as pooled_fits
from dilemma.evaluation.selection import select_runs
from dilemma.evaluation.survival import HR_MARGIN
from dilemma.evaluation.tables import Scores
from dilemma.evaluation.tables import score as score_records
from dilemma.records.reader import Record
from dilemma.records.reader import read_record as read_one
from dilemma.records.schema import SequentialPlan

Source = Path | str | Iterable[Path | str]
"""A record, a folder of records (searched recursively), or several of them."""
Runs = Source | Scores | pd.DataFrame
"""What `compare` compares: records (as for `score`), their scores, or a runs table."""
CONDITION_GRAINS = ("runs", "rounds", "dyad_rounds")
"""The tables of `score` that get the condition columns."""


def _joined(frame: pd.DataFrame, conds: pd.DataFrame, key: str) -> pd.DataFrame:
    """`frame` with the condition columns it lacks, matched on column `key`."""
    extra = [c for c in conds.columns if c not in frame.columns or c == key]
    return frame.merge(conds[extra], on=key, how="left")


def score(source: Source, *, index_weights: Mapping[str, float] | None = None) -> Scores:
    """Every measure of the records in `source` (see `dilemma.evaluation.score`), with the
    experiment conditions of each run (its factor levels, `model`, `prompt_setup`) as columns of
    `runs`, `rounds` and `dyad_rounds`.

    `index_weights` declares the escalation index's weights by part name. Raises
    NoRecordsError when `source` holds no readable record.
    """
    scores = score_records(source, index_weights=index_weights)
    conds = conditions([Path(p) for p in scores.runs["path"]]).astype({"path": "string"})
    by_run = (
        conds.drop(columns=["path"])
        .assign(run_id=scores.runs["run_id"].to_numpy())
        .drop_duplicates("run_id")
    )
    return replace(
        scores,
        runs=_joined(scores.runs.astype({"path": "string"}), conds, "path"),
        rounds=_joined(scores.rounds, by_run, "run_id"),
        dyad_rounds=_joined(scores.dyad_rounds, by_run, "run_id"),
    )


async def ascore(source: Source, *, index_weights: Mapping[str, float] | None = None) -> Scores:
    """`score` in a worker thread, leaving the event loop free."""
    return await asyncio.to_thread(score, source, index_weights=index_weights)


def runs_table(runs: Runs) -> pd.DataFrame:
    """The run-level table with condition columns, from records, scores or a runs table."""
    if isinstance(runs, pd.DataFrame):
        return with_conditions(runs) if "path" in runs.columns else runs
    scores = runs if isinstance(runs, Scores) else score_records(runs)
    return with_conditions(scores.runs)


def select(runs: pd.DataFrame, where: Mapping[str, str]) -> pd.DataFrame:
    """The runs whose column `factor` is `level` for every item of `where` (levels as text)."""
    for factor, level in where.items():
        if factor not in factors_of(runs):
            raise unknown_factor(runs, factor, "where")
        kept = runs[runs[factor].astype(str) == str(level)]
        if kept.empty:
            raise unknown_level(runs, factor, str(level), "where")
        runs = kept
    return runs


@dataclass(frozen=True)
class CompareSettings:
    """The primary measures and margins of a comparison, and where the primary ones come from."""

    primary: list[str] | None
    """None: the default set."""
    margins: dict[str, float]
    origin: Literal["given", "experiment file", "default set"]
    sequential: SequentialPlan | None = None
    """The looks the experiment planned (None: no plan)."""
    source: str | None = None
    """The experiment file that declared the plan, when known."""


def compare_settings(
    runs: pd.DataFrame,
    primary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
) -> CompareSettings:
    """`primary` if given, else those the runs' experiment declared (in each header), else the
    default set; `margins` over the declared ones over the defaults. Raises CompareError when
    the records declare different ones."""
    paths = [Path(p) for p in runs["path"]]
    declared_primary, declared_margins = declared(paths)
    plan, source = declared_plan(paths)
    origin: Literal["given", "experiment file", "default set"] = (
        "given" if primary else "experiment file" if declared_primary else "default set"
    )
    return CompareSettings(
        primary=list(primary) if primary else declared_primary,
        margins={**declared_margins, **(margins or {})},
        origin=origin,
        sequential=plan,
        source=source,
    )


def _next_step(result: Comparison, settings: CompareSettings) -> str:
    """What to do after an inconclusive verdict: the next planned look, or (with no plan) why
    adding seeds and comparing again needs one."""
    look = result.look
    if look is None:
        return (
            " Adding seeds and comparing again is a second look that this verdict's level does"
            " not account for (optional stopping): declare `sequential:` looks in the"
            " experiment file before adding any (docs/experiments.md)."
        )
    if look.next_look is None:
        return " This is the plan's last look: its alpha is spent, so the verdict stands."
    file = settings.source or "the experiment file"
    return (
        f" Next planned look: {look.next_look} seeds per cell: set `repeats: {look.next_look}`"
        f" in {file}, then `dilemma sweep {settings.source or 'FILE'} --resume`, and compare"
        " again."
    )


def compare_with(
    runs: pd.DataFrame,
    by: str,
    settings: CompareSettings,
    *,
    interaction: str | None = None,
    seed: int = 0,
    permutations: int | None = None,
) -> Comparison:
    """`compare` of a runs table with settings already resolved (see `compare_settings`)."""
    margins = dict(settings.margins)
    hr_margin = margins.pop(HAZARD_RATIO, HR_MARGIN)
    result = compare_runs(
        runs,
        by,
        settings.primary,
        margins=margins,
        interaction=interaction,
        resampling=Resampling(
            plan=settings.sequential, n_perm=permutations or N_PERMUTATIONS, hr_margin=hr_margin
        ),
        seed=seed,
    )
    if result.verdict == "inconclusive" and not result.pairs.empty:
        result = replace(result, summary=result.summary + _next_step(result, settings))
    return result


def compare(
    runs: Runs,
    by: str,
    *,
    where: Mapping[str, str] | None = None,
    primary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    interaction: str | None = None,
    seed: int = 0,
    permutations: int | None = None,
) -> Comparison:
    """Does factor `by` change behaviour? Verdict `changes`, `equivalent` or `inconclusive`,
    with per-level means, pairwise tests and (with `interaction`) the by x interaction test.

    `runs`: records, their scores or a runs table; `where` keeps only the runs with these factor
    levels; `primary` and `margins` override the experiment file's (see `compare_settings`);
    `seed` drives the bootstrap and the permutations; `permutations` caps the random
    relabellings of a Monte Carlo p-value (default 2,000,000; fewer are drawn once the verdict
    cannot move). A sequential plan declared by the experiment (`sequential:`) sets the level
    of the current look. Raises CompareError when the comparison cannot be made as asked.
    """
    table = select(runs_table(runs), where or {})
    settings = compare_settings(table, primary, margins)
    return compare_with(
        table, by, settings, interaction=interaction, seed=seed, permutations=permutations
    )


def compare_across(
    runs: Runs,
    by: str,
    across: str,
    *,
    where: Mapping[str, str] | None = None,
    primary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
) -> MixedComparison:
    """The effect of `by` across the groups of `across` (several models or prompt
    paraphrases): a linear mixed model with random intercepts by `across`
    (`dilemma.evaluation.mixed`), with the pooled estimate beside it. `where`, `primary` and
    `margins` as for `compare`."""
    table = select(runs_table(runs), where or {})
    settings = compare_settings(table, primary, margins)
    margins = {k: v for k, v in settings.margins.items() if k != HAZARD_RATIO}
    prim, merged = resolve_settings(settings.primary, margins)
    return mixed_compare(table, by, across, prim, merged)


async def acompare(
    runs: Runs,
    by: str,
    *,
    where: Mapping[str, str] | None = None,
    primary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    interaction: str | None = None,
    seed: int = 0,
    permutations: int | None = None,
) -> Comparison:
    """`compare` in a worker thread, leaving the event loop free."""
    return await asyncio.to_thread(
        lambda: compare(
            runs,
            by,
            where=where,
            primary=primary,
            margins=margins,
            interaction=interaction,
            seed=seed,
            permutations=permutations,
        )
    )


def pooled_reactions(source: Source | Scores, by: str | Sequence[str]) -> pd.DataFrame:
    """The pooled Richardson reaction of each condition (the runs with the same values of the
    `by` factors): k with its cluster-robust interval and test, fatigue, identification and
    verdict (`dilemma.evaluation.reaction_pooled`, columns POOLED_COLUMNS)."""
    scores = source if isinstance(source, Scores) else score_records(source)
    runs = runs_table(scores)
    factors = [by] if isinstance(by, str) else list(by)
    missing = [f for f in factors if f not in runs.columns]
    if missing:
        raise CompareError(f"no factor {', '.join(missing)} in these runs")
    return pooled_fits(scores.reaction_rows, runs, factors)


def reaction_comparison(
    scores: Scores, runs: pd.DataFrame, by: str, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled reaction per cell and the tests of its difference between the levels of
    `by` (runs relabelled between levels), over the runs `compare` compares (finished, with a
    level of `by`), stratified by the other conditions as `compare` is
    (`dilemma.evaluation.reaction_pooled.compare_reaction`; `seed` seeds the cells' wild
    bootstraps and the random relabellings)."""
    if by not in runs.columns:
        raise CompareError(f"no factor {by!r} in these runs; factors: {sorted(runs.columns)}")
    chosen = select_runs(runs, by).runs
    strata = [c for c in condition_columns(chosen) if c != by and chosen[c].notna().any()]
    return compare_reaction(scores.reaction_rows, chosen, by, strata, seed=seed)


def read_record(path: Path | str) -> Record:
    """One record: its header and events (a truncated last line is dropped and flagged)."""
    return read_one(Path(path))


async def aread_record(path: Path | str) -> Record:
    """`read_record` in a worker thread, leaving the event loop free."""
    return await asyncio.to_thread(read_record, path)
