"""The report's comparison of conditions: a verdict, means per level and pairwise tests.

The comparisons themselves are computed by `ReportData.comparisons` (dilemma.report_data).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dilemma.report_data import ReportData
from dilemma.report_html import esc, fmt, table
from evaluation.columns import RUNS
from evaluation.comparison import DEFAULT_MEASURES, Comparison

MEASURE_DOCS = {c.name: c.doc for c in RUNS}


def _comparison_html(c: Comparison) -> str:
    cls = "yes" if c.changes_behaviour else "no"
    out = [f"<h3>{esc(c.by)}</h3>", f'<p class="verdict {cls}">{esc(c.verdict)}</p>']
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
    out.append("<p>Mean per level with a percentile-bootstrap 95% interval.</p>")
    out.append(table(["measure", *levels], rows))
    if not c.pairs.empty:
        prow = []
        classes = []
        for _, p in c.pairs.iterrows():
            ci = "" if pd.isna(p["ci_low"]) else f"[{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]"
            sig = (
                bool(p.get("significant", False))
                if not pd.isna(p.get("significant", False))
                else False
            )
            prow.append(
                [
                    p["measure"],
                    f"{p['level_a']} - {p['level_b']}",
                    p["diff"],
                    ci,
                    p["hedges_g"],
                    p["p_value"],
                    p.get("p_holm", math.nan),
                    "yes" if sig else "no",
                ]
            )
            classes.append("sig" if sig else "")
        out.append(
            "<p>Pairwise differences of means (a - b) with bootstrap 95% intervals,"
            " Hedges' g, two-sided permutation p and Holm-adjusted p over all pairs and"
            " measures (significant at 0.05 highlighted).</p>"
        )
        out.append(
            table(
                ["measure", "a - b", "diff", "95% CI", "Hedges g", "p", "Holm p", "significant"],
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
    out.append(
        "<p class=note>Each factor is compared on its own, pooling over the other"
        " factors. Measures: "
        + esc(", ".join(f"{m} ({MEASURE_DOCS.get(m, '')})" for m in DEFAULT_MEASURES))
        + ".</p>"
    )
    for c in d.comparisons():
        out.append(_comparison_html(c))
    return "".join(out)
