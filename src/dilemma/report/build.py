"""One self-contained HTML report of an experiment (a sweep folder) or of a single record.

    write_report(Path("runs/2x2"), Path("report.html"))          # -> the written path
    write_report(folder, out, by=["transparency"])                # compare named factors only

Sections: the verdicts first (one line per factor and per two-factor interaction,
dilemma.report.verdicts), the comparison of every varying experiment factor
(dilemma.evaluation.comparison) with the interactions, provenance, runs, escalation curves with
95% bands, threat and misperception heatmaps, confusion matrices of perceived against actual
intent (dilemma.report.intent), spirals and wars per condition, and run transcripts with each
run's model calls (dilemma.report.calls; only when the report has at most `max_call_runs`
runs). Plots are PNG data URIs; the file has no scripts and loads nothing. Wide tables scroll
inside their own box, so the page itself never scrolls sideways. Every string taken from
records (model text included) is HTML-escaped.

Data gathering is in dilemma.report.data, HTML building blocks in dilemma.report.html, the
sections in dilemma.report.sections and dilemma.report.comparison.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dilemma.core.safe_text import redact
from dilemma.report.calls import CSS as CALLS_CSS
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
from dilemma.report.verdicts import summary_section

__all__ = ["MAX_CALL_RUNS", "MAX_TRANSCRIPTS", "ReportError", "render_report", "write_report"]


MAX_TRANSCRIPTS = 50

MAX_CALL_RUNS = 10
"""Call histories are included when a report has at most this many runs (they hold every
prompt: a large sweep's would make the file huge); beyond it the report says how to see one."""


def render_report(
    source: Path,
    by: list[str] | None = None,
    max_transcripts: int = MAX_TRANSCRIPTS,
    max_call_runs: int = MAX_CALL_RUNS,
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
                ("verdicts", "Verdicts"),
                ("comparison", "Comparison of conditions"),
                ("provenance", "Experiment and provenance"),
                ("runs", "Runs"),
                ("curves", "Escalation curves"),
                ("heatmaps", "Threat and misperception"),
                ("intent", "Misperception of intentions"),
                ("spirals", "Spirals and wars"),
                ("survival", "Time to force and to war"),
                ("transcripts", "Transcripts and model calls"),
            )
        )
        + "</ul></nav>"
    )
    sections = [
        summary_section(d),
        comparisons_section(d),
        provenance_section(d, source),
        runs_section(d, set(picked)),
        curves_section(d),
        heatmaps_section(d),
        intent_section(d),
        spirals_section(d),
        survival_section(d),
        transcripts_section(d, picked, max_transcripts, max_call_runs),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(name)} - security dilemma report</title>"
        f"<style>{CSS}{CALLS_CSS}</style></head><body>"
        f"<h1>Security dilemma report: {esc(name)}</h1>"
        f"<p class=note>{len(d.runs)} run(s) from {esc(source)}; generated {esc(now)}.</p>"
        + sections[0]
        + nav
        + "".join(sections[1:])
        + "</body></html>\n"
    )


def write_report(
    folder: Path,
    out: Path,
    by: list[str] | None = None,
    max_transcripts: int = MAX_TRANSCRIPTS,
    max_call_runs: int = MAX_CALL_RUNS,
) -> Path:
    """Write the HTML report of `folder` (a sweep folder or one record) to `out`; return `out`.

    `by` names the factors to compare and group by (default: every experiment factor that
    varies). Call histories are included when there are at most `max_call_runs` runs. Raises
    ReportError when there is no readable record or a factor is unknown.
    """
    # redacted: an old record may quote a key
    html = redact(render_report(folder, by, max_transcripts, max_call_runs))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
