"""From contrasts to a verdict: Holm correction, equivalence, power figures and wording.

Measures come in three families (`dilemma.evaluation.measure_sets`): primary measures decide the
verdict, with Holm's correction over primary measures x level pairs (statsmodels
`multipletests`); secondary measures get their own Holm correction; data-quality measures are
reported uncorrected and raise a warning when they differ between levels.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from dilemma.evaluation import inference
from dilemma.evaluation.contrast import Contrast
from statsmodels.stats.multitest import multipletests

Verdict = Literal["changes", "equivalent", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("changes", "equivalent", "inconclusive")

QUALITY_DIFF = 0.05
"""A data-quality rate differing by this much between levels is flagged even if p >= alpha."""

Row = dict[str, Any]


def holm(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels).

    multipletests runs gc.collect() for Holm, which costs a fraction of a second with a large
    heap; frozen objects make it cheap. The heap is frozen here only when nothing is frozen yet,
    and thawed only then: a heap the caller froze stays frozen.
    """
    mine = gc.get_freeze_count() == 0
    if mine:
        gc.freeze()
    try:
        adjusted: np.ndarray = multipletests(p, alpha=alpha, method="holm")[1]
    finally:
        if mine:
            gc.unfreeze()
    return adjusted


def finish(rows: list[Row], contrasts: list[Contrast], cells: list[int], alpha: float) -> None:
    """Add to each row: Holm-adjusted p per family (quality: uncorrected), significance and
    equivalence flags, and power figures at the per-test level of the strictest Holm step."""
    p = np.array([row["p_value"] for row in rows], dtype="float64")
    family = np.array([row["family"] for row in rows])
    adjusted = np.full(len(rows), np.nan)
    sizes = {}
    for name in ("primary", "secondary"):
        tested = (family == name) & ~np.isnan(p)
        sizes[name] = int(tested.sum())
        if tested.any():
            adjusted[tested] = holm(p[tested], alpha)
    quality = family == "quality"
    adjusted[quality] = p[quality]
    figures = inference.power_figures(
        contrasts,
        [float(row["margin"]) for row in rows],
        [alpha / max(sizes.get(row["family"], 1), 1) for row in rows],
    )
    for row, h, (mde, n), k in zip(rows, adjusted, figures, cells, strict=True):
        row["p_holm"] = float(h)
        row["significant"] = bool(h < alpha)
        row["equivalent"] = bool(row["p_equivalence"] < alpha)
        row["mde"] = mde
        row["seeds_needed"] = float(math.ceil(n / k)) if math.isfinite(n) else n


def primary_rows(rows: list[Row]) -> list[Row]:
    """The rows of primary measures (the ones that decide the verdict)."""
    return [r for r in rows if r["family"] == "primary"]


def verdict_of(primary: list[Row]) -> Verdict:
    """changes / equivalent / inconclusive from finished primary rows."""
    tested = [r for r in primary if not math.isnan(r["p_value"])]
    if not tested:
        return "inconclusive"
    if any(r["significant"] for r in tested):
        return "changes"
    if len(tested) == len(primary) and all(r["equivalent"] for r in primary):
        return "equivalent"
    return "inconclusive"


def fmt(x: float) -> str:
    """A number in three significant digits (inf and nan spelled out)."""
    if not math.isfinite(x):
        return "inf" if x > 0 else str(x)
    return f"{x:.3g}"


def inconclusive_detail(primary: list[Row]) -> str:
    """Minimum detectable effects and seeds needed, as a sentence."""
    parts = []
    for r in primary:
        if math.isinf(r["mde"]):
            parts.append(
                f"{r['measure']}: none detectable (smallest attainable p {fmt(r['min_p'])}"
                f" with {r['n_pairs'] or r['n_a']} runs)"
            )
        elif math.isfinite(r["mde"]):
            parts.append(f"{r['measure']} {fmt(r['mde'])} (margin {fmt(r['margin'])})")
    needed = [r["seeds_needed"] for r in primary if math.isfinite(r["seeds_needed"])]
    seeds = (
        f"; about {int(max(needed))} seeds per cell would give 80% power at the margins"
        if needed
        else ""
    )
    if any(math.isinf(r["seeds_needed"]) for r in primary):
        seeds += " (some margins are too small against the spread to reach at any size)"
    return (
        "minimum detectable effect at 80% power with these seeds: "
        + ("; ".join(parts) or "unknown (too few runs)")
        + seeds
    )


def summary(
    subject: str,
    verdict: Verdict,
    primary: list[Row],
    designs: Sequence[str],
    alpha: float,
    *,
    interaction: bool = False,
) -> str:
    """The verdict as one sentence, naming the measures, the correction and the design."""
    how = "; ".join(dict.fromkeys(designs))
    if verdict == "changes":
        which = ", ".join(dict.fromkeys(r["measure"] for r in primary if r["significant"]))
        within = (
            " (all differences lie inside the equivalence margins)"
            if all(r["equivalent"] for r in primary)
            else ""
        )
        verb = "is present" if interaction else "changes behaviour"
        return (
            f"{subject} {verb}: {which} differ after Holm correction over"
            f" {len(primary)} primary tests at {alpha}{within} [{how}]"
        )
    if verdict == "equivalent":
        margins = ", ".join(
            f"{m} ±{fmt(v)}" for m, v in {r["measure"]: r["margin"] for r in primary}.items()
        )
        verb = "is negligible" if interaction else "is equivalent"
        return (
            f"{subject} {verb} on every primary measure: each difference lies within"
            f" its margin ({margins}) by two one-sided tests at {alpha} [{how}]"
        )
    return (
        f"{subject} is inconclusive: no primary measure differs after Holm correction and"
        f" equivalence within the margins is not shown [{how}]; " + inconclusive_detail(primary)
    )


def contrast_rows(
    contrasts: list[Contrast],
    measures: Sequence[str],
    families: Mapping[str, str],
    margins: Mapping[str, float],
    extra: dict[str, Any],
) -> list[dict[str, Any]]:
    """One results row per measure's contrast, with its family, margin and `extra` labels."""
    out = []
    for measure, c in zip(measures, contrasts, strict=True):
        row = c.row()
        row["diff"] = row.pop("estimate")
        out.append(
            {
                "measure": measure,
                "family": families[measure],
                **extra,
                **row,
                "margin": margins.get(measure, math.nan),
            }
        )
    return out


COLUMNS = [
    "measure",
    "family",
    "level_a",
    "level_b",
    "design",
    "method",
    "n_a",
    "n_b",
    "n_pairs",
    "diff",
    "ci_low",
    "ci_high",
    "ci_method",
    "hedges_g",
    "p_value",
    "p_exact",
    "p_mc_se",
    "n_resamples",
    "min_p",
    "p_holm",
    "significant",
    "margin",
    "p_equivalence",
    "equivalent",
    "mde",
    "seeds_needed",
]


def quality_warnings(rows: list[Row], alpha: float) -> list[str]:
    """Warnings for data-quality rates that differ between levels."""
    out = []
    for r in rows:
        if r["family"] != "quality" or math.isnan(r["diff"]):
            continue
        if r["p_value"] < alpha or abs(r["diff"]) >= QUALITY_DIFF:
            out.append(
                f"data quality differs: {r['measure']} is {fmt(r['diff'])} higher in"
                f" {r['level_a']} than in {r['level_b']} (p = {fmt(r['p_value'])});"
                " fallback decisions are left out of behavioural measures, so every"
                " comparison of these levels is biased"
            )
    return out


def rule_warnings(runs: pd.DataFrame) -> list[str]:
    """A warning naming the compared runs whose records break their own scenario rules."""
    if "rule_violations" not in runs.columns:
        return []
    bad = runs[runs["rule_violations"].fillna(0) > 0]
    if bad.empty:
        return []
    ids = ", ".join(str(x) for x in bad["run_id"].head(5)) if "run_id" in bad else ""
    more = " ..." if len(bad) > 5 else ""
    return [
        f"{len(bad)} of {len(runs)} compared runs break their own scenario rules"
        f" (rule_violations > 0: {ids}{more}); see `dilemma score` for which rules"
    ]


def mc_warnings(primary: list[Row]) -> list[str]:
    """Warnings for Monte Carlo p-values still within their error of a Holm threshold after the
    most relabellings allowed (the verdict could go either way: raise the cap)."""
    out = []
    for r in primary:
        if r["p_exact"] or math.isnan(r["p_value"]) or r.get("p_mc_settled", True):
            continue
        n = int(r["n_resamples"])
        out.append(
            f"{r['measure']}: Monte Carlo p {fmt(r['p_value'])} is still within its error of a"
            f" Holm threshold after {n:,} relabellings (the cap), so the verdict could go"
            f" either way; rerun with --permutations {4 * n} to settle it"
        )
    return out
