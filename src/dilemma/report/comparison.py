"""The report's comparison of conditions: a verdict, means per level and pairwise tests.

The comparisons themselves are computed by `ReportData.comparisons` (dilemma.report.data).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dilemma.evaluation.columns import RUNS
from dilemma.evaluation.comparison import Comparison
from dilemma.report.data import ReportData
from dilemma.report.html import esc, fmt, table
from dilemma.report.verdicts import anchor, interactions_section

MEASURE_DOCS = {c.name: c.doc for c in RUNS}


_VERDICT_CLASS = {"changes": "yes", "equivalent": "no", "inconclusive": ""}
_P_METHOD = {"paired": "Monte Carlo", "independent": "Monte Carlo", "stratified": "t test"}


def comparison_html(c: Comparison) -> str:
    """One factor's comparison: verdict, runs compared and left out, means and tests."""
    cls = _VERDICT_CLASS[c.verdict]
    out = [
        f'<h3 id="{esc(anchor(c.by))}">{esc(c.by)}</h3>',
        f'<p class="verdict {cls}">{esc(c.verdict)}: {esc(c.summary)}</p>',
        f"<p class=note>Runs: {esc(c.runs_note)}.</p>",
    ]
    out += [f"<p class=note>Warning: {esc(w)}</p>" for w in c.warnings]
    if c.levels.empty:
        return "".join(out)
    levels = sorted(c.levels["level"].unique(), key=str)
    rows = []
    for measure, sub in c.levels.groupby("measure", sort=False):
        by_level = sub.set_index("level")
        row: list[Any] = [measure]
        for lv in levels:
            if lv not in by_level.index:
                row.append("")
                continue
            x = by_level.loc[lv]
            ci = "" if pd.isna(x["ci_low"]) else f" [{fmt(x['ci_low'])}, {fmt(x['ci_high'])}]"
            row.append(f"{fmt(x['mean'])}{ci} (n={int(x['n'])})")
        rows.append(row)
    out.append(
        "<p>Mean per level with a 95% bootstrap interval (BCa; a t interval where BCa is"
        " degenerate, e.g. constant values).</p>"
    )
    out.append(table(["measure", *levels], rows))
    if not c.pairs.empty:
        prow = []
        classes = []
        for p in c.pairs.to_dict("records"):
            ci = "" if pd.isna(p["ci_low"]) else f"[{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]"
            sig = p["family"] != "quality" and bool(p["significant"])
            margin = "" if pd.isna(p["margin"]) else f" (±{fmt(p['margin'])})"
            prow.append(
                [
                    p["measure"],
                    p["family"],
                    f"{p['level_a']} - {p['level_b']}",
                    p["diff"],
                    ci,
                    p["ci_method"],
                    p["hedges_g"],
                    p["p_value"],
                    _P_METHOD[p["design"]] if not p["p_exact"] else "exact",
                    p["p_holm"] if p["family"] != "quality" else math.nan,
                    f"{fmt(p['p_equivalence'])}{margin}",
                    "yes" if sig else "no",
                ]
            )
            classes.append("sig" if sig else "")
        out.append(
            "<p>Differences of means (a - b) with 95% intervals; "
            + esc("; ".join(c.designs))
            + ". p: two-sided (permutation: exact or Monte Carlo; stratified: t test). Holm p:"
            " corrected within the primary measures (which alone decide the verdict) and"
            " separately within the secondary ones; data-quality measures are not corrected and"
            " never in the verdict. Equivalence p: two one-sided t tests within the margin."
            " Significant primary or secondary differences highlighted.</p>"
        )
        out.append(
            table(
                [
                    "measure",
                    "family",
                    "a - b",
                    "diff",
                    "95% CI",
                    "CI method",
                    "Hedges g",
                    "p",
                    "p method",
                    "Holm p",
                    "equivalence p (margin)",
                    "significant",
                ],
                prow,
                classes,
            )
        )
    return "".join(out)


def comparisons_section(d: ReportData) -> str:
    out = ['<h2 id="comparison">Comparison of conditions</h2>']
    if not d.compared:
        why = (
            "these records carry no experiment conditions"
            if not d.factors
            else f"no experiment factor varies across these runs ({', '.join(d.factors)})"
        )
        out.append(f"<p>No comparison: {esc(why)}.</p>")
        return "".join(out)
    found = d.comparisons()
    primary = found[0].primary if found else ()
    out.append(
        "<p class=note>Each factor is compared on its own: runs are paired by seed with the"
        " run at the other level under the same other conditions, or, where seeds do not"
        " match, stratified by the other conditions (never pooled over them). Verdict:"
        " changes (a primary measure differs after Holm correction), equivalent (every"
        " primary measure shown within its margin) or inconclusive. Only runs that finished"
        " (outcome completed or war) and have a level of the factor are compared; the others"
        " are counted under each factor. Primary measures: "
        + esc(", ".join(f"{m} ({MEASURE_DOCS.get(m, '')})" for m in primary))
        + ".</p>"
    )
    for c in found:
        out.append(comparison_html(c))
    out.append(interactions_section(d, found))
    return "".join(out)
