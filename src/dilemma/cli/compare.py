"""Terminal output of `dilemma compare` (the table export of `dilemma export`: cli.export)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma._version import __version__
from dilemma.api.analysis import compare_settings, compare_with, reaction_comparison, runs_table
from dilemma.evaluation.comparison import CompareError, Comparison, LeftOut
from dilemma.evaluation.conditions import factors_of, unknown_factor, unknown_level
from dilemma.evaluation.looks import entry_now, record_look
from dilemma.evaluation.measure_sets import check_margins, check_primary
from dilemma.evaluation.mixed import MixedComparison, mixed_compare
from dilemma.evaluation.run_json import plain
from dilemma.evaluation.tables import Scores, record_paths, score


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def select(runs: pd.DataFrame, where: list[str]) -> pd.DataFrame:
    """Runs whose columns match every `FACTOR=LEVEL` filter."""
    for item in where:
        factor, sep, level = item.partition("=")
        if not sep:
            raise CompareError(
                f"--where {item!r}: expected FACTOR=LEVEL with a factor among"
                f" {', '.join(factors_of(runs))}"
            )
        if factor not in factors_of(runs):
            raise unknown_factor(runs, factor, "--where")
        kept = runs[runs[factor].astype(str) == level]
        if kept.empty:
            raise unknown_level(runs, factor, level, "--where")
        runs = kept
    return runs


def parse_primary(items: list[str]) -> list[str] | None:
    """`--primary` values (repeatable, or comma-separated) checked as primary measures."""
    names = [n.strip() for item in items for n in item.split(",") if n.strip()]
    if not names:
        return None
    try:
        return check_primary(names)
    except ValueError as exc:
        raise CompareError(f"--primary: {exc}") from exc


def parse_margins(items: list[str]) -> dict[str, float]:
    """`--margin MEASURE=VALUE` values."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise CompareError(f"--margin {item!r}: expected MEASURE=VALUE, e.g. mean_threat=0.5")
    try:
        return check_margins(out)
    except ValueError as exc:
        raise CompareError(f"--margin: {exc}") from exc


@dataclass(frozen=True)
class CompareRequest:
    """What `dilemma compare` was asked: factor, filters, measures, margins, interaction."""

    by: str
    where: list[str] = field(default_factory=list)
    primary: list[str] = field(default_factory=list)
    margins: list[str] = field(default_factory=list)
    interaction: str | None = None
    seed: int = 0
    across: str | None = None
    """A grouping (model, prompt_setup, ...) for the mixed model (`dilemma.evaluation.mixed`)."""
    reaction: bool = False
    """Also test the pooled Richardson reaction coefficient k between the levels."""
    permutations: int | None = None


ORIGIN = {"given": "--primary"}
"""How `dilemma compare` names where its primary measures came from (else as the API does)."""


def log_look(path: Path, request: CompareRequest, result: Comparison) -> list[str]:
    """Log this comparison in the folder's looks log; warnings on optional stopping."""
    entry = entry_now(
        request.by,
        request.where,
        result.seeds_per_cell,
        result.n_runs,
        result.verdict,
        result.primary,
        planned=result.look is not None,
    )
    return record_look(path, entry)


def run_compare(
    path: Path, request: CompareRequest, scores: Scores | None = None
) -> tuple[Comparison, str]:
    """The comparison (`dilemma.compare`), and where its primary measures came from."""
    scores = scores or score(record_paths(path))
    runs = select(runs_table(scores), request.where)
    primary = parse_primary(request.primary)
    margins = parse_margins(request.margins)
    settings = compare_settings(runs, primary, margins)
    result = compare_with(
        runs,
        request.by,
        settings,
        interaction=request.interaction,
        seed=request.seed,
        permutations=request.permutations,
    )
    result = replace(result, warnings=(*result.warnings, *log_look(path, request, result)))
    if scores.skipped:
        unread = f"{len(scores.skipped)} file(s) could not be read and are not compared"
        result = replace(
            result, warnings=(*result.warnings, f"{unread} (`dilemma score` says why)")
        )
    return result, ORIGIN.get(settings.origin, settings.origin)


def _table(frame: pd.DataFrame, cols: list[str]) -> str:
    if frame.empty:
        return "(none)"
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4g}".format
    ):
        return frame[[c for c in cols if c in frame.columns]].to_string(index=False)


_PAIR_COLS = [
    "measure",
    "level_a",
    "level_b",
    "diff",
    "ci_low",
    "ci_high",
    "ci_method",
    "p_value",
    "p_exact",
    "p_holm",
    "margin",
    "p_equivalence",
    "mde",
    "seeds_needed",
]


def _runs_json(
    compared: int, left_out: tuple[LeftOut, ...], outcomes: dict[str, int]
) -> dict[str, Any]:
    """Runs compared, runs per outcome and runs left out (with why), for the JSON output."""
    return {
        "compared": compared,
        "outcomes": outcomes,
        "left_out": [{"why": x.why, "runs": x.runs, "detail": x.detail} for x in left_out],
    }


def comparison_json(result: Comparison, where: list[str], source: str) -> dict[str, Any]:
    """The machine-readable form of a comparison."""
    out: dict[str, Any] = {
        "dilemma_version": __version__,
        "by": result.by,
        "where": where,
        "verdict": result.verdict,
        "changes_behaviour": result.changes_behaviour,
        "summary": result.summary,
        "alpha": result.alpha,
        "primary": list(result.primary),
        "primary_source": source,
        "margins": result.margins,
        "designs": list(result.designs),
        "warnings": list(result.warnings),
        "seeds_per_cell": result.seeds_per_cell,
        "look": None
        if result.look is None
        else {
            "number": result.look.number,
            "seeds": result.look.seeds,
            "looks": list(result.look.plan.looks),
            "spending": result.look.plan.spending,
            "planned": result.look.planned,
            "nominal_alpha": result.look.nominal_alpha,
            "next_look": result.look.next_look,
        },
        "runs": _runs_json(result.n_runs, result.left_out, result.outcomes),
        "levels": _records(result.levels),
        "pairs": _records(result.pairs),
    }
    if result.survival is not None:
        out["survival"] = {
            "hr_margin": result.survival.margin,
            "tests": _records(result.survival.tests),
        }
    if result.interaction is not None:
        i = result.interaction
        out["interaction"] = {
            "by": i.by,
            "within": i.within,
            "verdict": i.verdict,
            "summary": i.summary,
            "runs": _runs_json(i.n_runs, i.left_out, {}),
            "contrasts": _records(i.contrasts),
        }
    return out


def comparison_text(result: Comparison, source: str) -> str:
    """The terminal form of a comparison."""
    pairs = result.pairs
    fam = pairs["family"] if not pairs.empty else pd.Series(dtype=str)
    margins = ", ".join(f"{m} ±{result.margins.get(m, float('nan')):g}" for m in result.primary)
    parts = [
        f"Comparison by {result.by}",
        "Design: " + ("; ".join(result.designs) or "(nothing to compare)"),
        f"Runs: {result.runs_note}",
        f"Primary measures ({source}), equivalence margins: {margins}",
        "",
        "Means per level, 95% interval (BCa bootstrap; t where BCa is degenerate):",
        _table(result.levels, ["measure", "level", "n", "mean", "ci_low", "ci_high", "ci_method"]),
        "",
        f"Primary measures (decide the verdict): difference a - b with 95% interval,"
        f" permutation p (exact or Monte Carlo), Holm over {int((fam == 'primary').sum())}"
        " tests, equivalence p (two one-sided t tests within the margin), minimum detectable"
        " effect and seeds per cell for 80% power:",
        _table(pairs[fam == "primary"], _PAIR_COLS),
        "",
        "Secondary measures (not in the verdict; Holm within this family):",
        _table(pairs[fam == "secondary"], _PAIR_COLS),
        "",
        "Data quality (never in the verdict; p uncorrected):",
        _table(pairs[fam == "quality"], ["measure", "level_a", "level_b", "diff", "p_value"]),
    ]
    parts += [f"warning: {w}" for w in result.warnings]
    parts += ["", f"Verdict: {result.verdict} - {result.summary}"]
    parts += survival_text(result)
    if result.interaction is not None:
        i = result.interaction
        parts += [
            "",
            f"Interaction {i.by} x {i.within}: difference of differences"
            f" ({i.by} a - b at {i.within} a) - ({i.by} a - b at {i.within} b):",
            _table(
                i.contrasts,
                [
                    "measure",
                    "family",
                    "level_a",
                    "level_b",
                    "within_a",
                    "within_b",
                    *_PAIR_COLS[3:],
                ],
            ),
            f"Interaction verdict: {i.verdict} - {i.summary}"
            + (
                f" (runs left out: {'; '.join(x.detail for x in i.left_out)})" if i.left_out else ""
            ),
        ]
    return "\n".join(parts)


_REACTION_CELL_COLS = [
    "k", "ci_low", "ci_high", "p_k", "k_mde", "fatigue", "n_runs", "n_obs", "verdict",
]  # fmt: skip
_REACTION_PAIR_COLS = [
    "level_a", "level_b", "diff", "ci_low", "ci_high", "p_value", "p_exact", "strata",
]  # fmt: skip

_SURVIVAL_COLS = [
    "outcome", "level_a", "level_b", "events_a", "events_b", "rmst_a", "rmst_b", "logrank_p",
    "logrank_p_holm", "hazard_ratio", "hr_ci_low", "hr_ci_high", "verdict",
]  # fmt: skip


def survival_text(result: Comparison) -> list[str]:
    """The survival section of the terminal form (empty without survival columns)."""
    s = result.survival
    if s is None or s.tests.empty:
        return []
    return [
        "",
        "Survival (time to first use of force, time to war; censored at the rounds played):"
        " events per level, restricted mean rounds to the event (up to the longest run), log-rank"
        f" p (Holm over {len(s.tests)} tests), Cox hazard ratio b vs a with 95% interval;"
        f" equivalent when the {1 - 2 * result.alpha:.0%} interval lies within"
        f" [{1 / s.margin:g}, {s.margin:g}] (not part of the verdict above):",
        _table(s.tests, _SURVIVAL_COLS),
    ]


def reaction_text(cells: pd.DataFrame, pairs: pd.DataFrame, by: str) -> str:
    """The terminal form of the pooled reaction comparison (`compare --reaction`)."""
    keys = [str(c) for c in cells.columns[: cells.columns.get_loc("k")]]
    return "\n".join(
        [
            "",
            f"Pooled reaction k per {by} (and other condition), run and round effects, 95%"
            " interval and p from the wild cluster bootstrap of the CR2 t by run (not in the"
            " verdict):",
            _table(cells, [*keys, *_REACTION_CELL_COLS]),
            f"Difference of k between levels of {by} (runs relabelled between the levels within"
            " each stratum, studentized; p_exact: every relabelling counted):",
            _table(pairs, _REACTION_PAIR_COLS),
        ]
    )


def compare_output(
    path: Path, request: CompareRequest, *, as_json: bool, wide: bool = False
) -> str:
    """The comparison of `by`'s levels (within the runs `where` selects), as JSON, as text
    for people (verdict first, 100 columns) or, `wide`, with the full tables too."""
    from dilemma.cli.compare_text import comparison_for_people, folder_of, people_text

    paths = record_paths(path)
    scores = score(paths)
    result, source = run_compare(path, request, scores)
    mixed = run_mixed(request, result, scores) if request.across else None
    reaction = None
    if request.reaction:
        runs = select(runs_table(scores), request.where)
        reaction = reaction_comparison(scores, runs, request.by, request.seed)
    if as_json:
        out = comparison_json(result, request.where, source)
        if mixed is not None:
            out["mixed"] = mixed_json(mixed)
        if reaction is not None:
            out["reaction"] = {"cells": _records(reaction[0]), "pairs": _records(reaction[1])}
        return json.dumps(out, indent=2)
    folder = folder_of(path, paths)
    if wide:
        head = people_text(result, source, folder, mixed)
        text = "\n".join([*head, "", comparison_text(result, source)])
    else:
        text = comparison_for_people(result, source, folder, mixed)
    if reaction is not None:
        text += "\n" + reaction_text(*reaction, request.by)
    return text


def run_mixed(request: CompareRequest, result: Comparison, scores: Scores) -> MixedComparison:
    """The mixed model of `by` across `request.across`, on the runs `run_compare` compared,
    with its primary measures, margins and alpha."""
    runs = select(runs_table(scores), request.where)
    return mixed_compare(
        runs, request.by, str(request.across), result.primary, result.margins, result.alpha
    )


def mixed_json(m: MixedComparison) -> dict[str, Any]:
    """The machine-readable form of the mixed model's estimates."""
    return {
        "by": m.by,
        "across": m.across,
        "verdict": m.verdict,
        "summary": m.summary,
        "groups": m.groups,
        "runs": m.n_runs,
        "warnings": list(m.warnings),
        "effects": _records(m.effects),
    }
