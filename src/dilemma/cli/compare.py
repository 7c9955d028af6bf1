"""Terminal output of `dilemma compare` and the table export of `dilemma export`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma._version import __version__
from dilemma.api.analysis import compare_settings, compare_with, runs_table
from dilemma.core.safe_text import redactor
from dilemma.evaluation.comparison import CompareError, Comparison, LeftOut, with_conditions
from dilemma.evaluation.measure_sets import check_margins, check_primary
from dilemma.evaluation.run_json import plain
from dilemma.evaluation.tables import record_paths, score


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def select(runs: pd.DataFrame, where: list[str]) -> pd.DataFrame:
    """Runs whose columns match every `FACTOR=LEVEL` filter."""
    for item in where:
        factor, sep, level = item.partition("=")
        if not sep or factor not in runs.columns:
            raise CompareError(
                f"--where {item!r}: expected FACTOR=LEVEL with a factor among"
                f" {sorted(c for c in runs.columns if runs[c].dtype == object)}"
            )
        runs = runs[runs[factor].astype(str) == level]
        if runs.empty:
            raise CompareError(f"--where {item!r}: no run has {factor} = {level}")
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


ORIGIN = {"given": "--primary"}
"""How `dilemma compare` names where its primary measures came from (else as the API does)."""


def run_compare(path: Path, request: CompareRequest) -> tuple[Comparison, str]:
    """The comparison (`dilemma.compare`), and where its primary measures came from."""
    scores = score(record_paths(path))
    runs = select(runs_table(scores), request.where)
    primary = parse_primary(request.primary)
    margins = parse_margins(request.margins)
    settings = compare_settings(runs, primary, margins)
    result = compare_with(
        runs, request.by, settings, interaction=request.interaction, seed=request.seed
    )
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


def compare_output(path: Path, request: CompareRequest, *, as_json: bool) -> str:
    """The comparison of `by`'s levels (within the runs `where` selects), as text or JSON."""
    result, source = run_compare(path, request)
    if as_json:
        return json.dumps(comparison_json(result, request.where, source), indent=2)
    return comparison_text(result, source)


def _redacted(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with secrets redacted from its text cells (an error may quote a key)."""
    frame = frame.copy()
    clean = redactor()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        frame[column] = values.map(lambda v: clean(v) if isinstance(v, str) else v)
    return frame


EXPORT_INFO = "export.json"
"""Written beside the tables: the sandbox version and revision that computed them."""


def export_tables(path: Path, out: Path) -> list[Path]:
    """Write runs, rounds and dyad_rounds as CSV and Parquet into `out`, and `export.json`.

    The Parquet files carry the sandbox version in their metadata too (pandas reads it back
    as `DataFrame.attrs["dilemma_version"]`)."""
    from dilemma.records.provenance import git_state

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
        frame = _redacted(frame)
        frame.attrs = {"dilemma_version": __version__}
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        written += [csv, parquet]
    revision, dirty = git_state()
    info = {
        "dilemma_version": __version__,
        "git_revision": revision,
        "git_dirty": dirty,
        "tables": [file.name for file in written],
    }
    written.append(out / EXPORT_INFO)
    written[-1].write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return written
