"""One self-contained HTML report of an experiment (a sweep folder) or of a single record.

    write_report(Path("runs/2x2"), Path("report.html"))          # -> the written path
    write_report(folder, out, by=["transparency"])                # compare named factors only

Sections: provenance, runs, escalation curves with 95% bands, threat and misperception
heatmaps, confusion matrices of perceived against actual intent (dilemma.report.intent), spirals
and wars per condition, comparison of every varying experiment factor
(dilemma.evaluation.comparison),
and run transcripts. Plots are PNG data URIs; the file has no scripts
and loads nothing. Every string taken from records (model text included) is HTML-escaped.

Data gathering is in dilemma.report.data, HTML building blocks in dilemma.report.html, the
sections in dilemma.report.sections and dilemma.report.comparison.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dilemma.core.safe_text import redact
from dilemma.report.comparison import comparisons_section
from dilemma.report.data import ReportData, ReportError
from dilemma.report.html import CSS, esc
from dilemma.report.intent import intent_section
from dilemma.report.sections import (
    curves_section,
    heatmaps_section,
    pick_transcripts,
    provenance_section,
    runs_section,
    spirals_section,
    transcripts_section,
)
from dilemma.report.survival import survival_section

__all__ = ["MAX_TRANSCRIPTS", "ReportError", "render_report", "write_report"]


MAX_TRANSCRIPTS = 50


def render_report(
    source: Path, by: list[str] | None = None, max_transcripts: int = MAX_TRANSCRIPTS
) -> str:
    """The report of a record or a folder of records as an HTML string."""
    d = ReportData(source, by)
    exps = [h.experiment for h in d.headers.values() if h.experiment]
    name = (exps[0].name if exps else None) or (
        f"run {d.runs['run_id'].iloc[0]}" if len(d.runs) == 1 else source.name
    )
    picked = pick_transcripts(d.runs, max_transcripts)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = (
        "<nav><ul>"
        + "".join(
            f'<li><a href="#{a}">{t}</a></li>'
            for a, t in (
                ("provenance", "Experiment and provenance"),
                ("runs", "Runs"),
                ("curves", "Escalation curves"),
                ("heatmaps", "Threat and misperception"),
                ("intent", "Misperception of intentions"),
                ("spirals", "Spirals and wars"),
                ("survival", "Time to force and to war"),
                ("comparison", "Comparison of conditions"),
                ("transcripts", "Transcripts"),
            )
        )
        + "</ul></nav>"
    )
    sections = [
        provenance_section(d, source),
        runs_section(d, set(picked)),
        curves_section(d),
        heatmaps_section(d),
        intent_section(d),
        spirals_section(d),
        survival_section(d),
        comparisons_section(d),
        transcripts_section(d, picked, max_transcripts),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(name)} - security dilemma report</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>Security dilemma report: {esc(name)}</h1>"
        f"<p class=note>{len(d.runs)} run(s) from {esc(source)}; generated {esc(now)}.</p>"
        + nav
        + "".join(sections)
        + "</body></html>\n"
    )


def write_report(
    folder: Path, out: Path, by: list[str] | None = None, max_transcripts: int = MAX_TRANSCRIPTS
) -> Path:
    """Write the HTML report of `folder` (a sweep folder or one record) to `out`; return `out`.

    `by` names the factors to compare and group by (default: every experiment factor that
    varies). Raises ReportError when there is no readable record or a factor is unknown.
    """
    html = redact(render_report(folder, by, max_transcripts))  # a key an old record quotes
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
