"""The report's opening summary of verdicts, and the interactions of two factors.

The summary gives, per compared factor (and per two-factor interaction), the verdict and one
line why: the verdict sentence of dilemma.evaluation.verdicts without its design note, and the
largest primary difference with its interval and Holm p. Details are in the comparison section.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from dilemma.evaluation.comparison import Comparison, Interaction
from dilemma.report.data import ReportData, ReportError
from dilemma.report.html import esc, fmt, table

_CLASS = {"changes": "yes", "equivalent": "no", "inconclusive": "maybe"}
_BRACKETS = re.compile(r"\s*\[[^\[\]]*\]")


def anchor(factor: str) -> str:
    """The id of a factor's comparison in the page."""
    return "cmp-" + re.sub(r"[^A-Za-z0-9_-]", "-", factor)


def why(summary: str) -> str:
    """A verdict sentence without its bracketed design note."""
    return _BRACKETS.sub("", summary).strip()


def largest_effect(pairs: pd.DataFrame) -> str:
    """The primary contrast with the smallest Holm p (then the largest |diff|), in words."""
    if pairs.empty:
        return ""
    prim = pairs[(pairs["family"] == "primary") & pairs["diff"].notna()]
    if prim.empty:
        return ""
    prim = prim.assign(_p=prim["p_holm"].fillna(math.inf), _d=-prim["diff"].abs()).sort_values(
        ["_p", "_d"]
    )
    r = prim.iloc[0]
    ci = "" if pd.isna(r["ci_low"]) else f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
    holm = "" if pd.isna(r["p_holm"]) else f", Holm p {fmt(r['p_holm'])}"
    a, b = r["level_a"], r["level_b"]
    within = ""
    if "within_a" in r.index:
        within = f" (at {r['within_a']}) minus the same (at {r['within_b']})"
    return f"{r['measure']}: {a} - {b}{within} = {fmt(r['diff'])}{ci}{holm}"


def _item(label: str, href: str, verdict: str, summary: str, effect: str) -> str:
    effect_html = f"<br><span class=note>{esc(effect)}</span>" if effect else ""
    return (
        f'<li class="verdict {_CLASS.get(verdict, "")}"><a href="#{esc(href)}">{esc(label)}</a>:'
        f" <b>{esc(verdict)}</b>. {esc(why(summary))}{effect_html}</li>"
    )


def summary_section(d: ReportData) -> str:
    """Verdicts first: one line per factor and per interaction, linking to the details."""
    out = ['<section class="summary"><h2 id="verdicts">Verdicts</h2>']
    if not d.compared:
        reason = (
            "these records carry no experiment conditions"
            if not d.factors
            else f"no experiment factor varies across these runs ({', '.join(d.factors)})"
        )
        out.append(f"<p>No comparison: {esc(reason)}.</p></section>")
        return "".join(out)
    try:
        found = d.comparisons()
        inter = d.interactions()
    except ReportError as exc:
        return "".join([*out, f"<p class=t-flag>{esc(exc)}</p></section>"])
    items = [
        _item(c.by, anchor(c.by), c.verdict, c.summary, largest_effect(c.pairs)) for c in found
    ]
    items += [
        _item(
            f"{i.by} x {i.within}",
            "interactions",
            i.verdict,
            i.summary,
            largest_effect(i.contrasts),
        )
        for i in inter
    ]
    out.append("<ul class=verdicts>" + "".join(items) + "</ul>")
    primary = found[0].primary if found else ()
    out.append(
        "<p class=note>changes: a primary measure ("
        + esc(", ".join(primary))
        + ") differs after Holm correction; equivalent: every primary difference shown within"
        " its margin; inconclusive: neither. Details, designs and every measure under"
        ' <a href="#comparison">Comparison of conditions</a>.</p></section>'
    )
    return "".join(out)


INTERACTION_COLUMNS = (
    ("measure", "measure"),
    ("family", "family"),
    ("level_a", "a"),
    ("level_b", "b"),
    ("within_a", "at"),
    ("within_b", "minus at"),
    ("diff", "diff of diffs"),
    ("ci_low", "95% CI low"),
    ("ci_high", "95% CI high"),
    ("p_value", "p"),
    ("p_holm", "Holm p"),
    ("p_equivalence", "equivalence p"),
    ("significant", "significant"),
)


def interaction_html(i: Interaction) -> str:
    """One interaction: verdict, runs left out, and the differences of differences."""
    out = [
        f"<h3>{esc(i.by)} x {esc(i.within)}</h3>",
        f'<p class="verdict {_CLASS.get(i.verdict, "")}">{esc(i.verdict)}: {esc(i.summary)}</p>',
    ]
    if i.left_out:
        out.append(
            "<p class=note>Left out: " + esc("; ".join(x.detail for x in i.left_out)) + "</p>"
        )
    if not i.contrasts.empty:
        cols = [c for c, _ in INTERACTION_COLUMNS if c in i.contrasts.columns]
        heads = [h for c, h in INTERACTION_COLUMNS if c in cols]
        rows = [[r[c] for c in cols] for r in i.contrasts.to_dict("records")]
        classes = [
            "sig" if r["family"] != "quality" and bool(r["significant"]) else ""
            for r in i.contrasts.to_dict("records")
        ]
        out.append(table(heads, rows, classes))
    return "".join(out)


def interactions_section(d: ReportData, found: list[Comparison]) -> str:
    """The two-factor interactions, when two or more factors are compared."""
    if len(found) < 2:
        return ""
    out = [
        '<h3 id="interactions">Interactions</h3>',
        "<p class=note>Does one factor's effect depend on the level of another? Each row is a"
        " difference of differences: (a - b at one level of the second factor) minus (a - b at"
        " its other level), tested like a main effect (Holm over the primary measures).</p>",
    ]
    out += [interaction_html(i) for i in d.interactions()]
    return "".join(out)
