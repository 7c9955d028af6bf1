"""The report's survival section: Kaplan-Meier curves of time to first use of force and to war.

A separate part of the report (its own section function and figure), so the layout around it can
change without touching it. The curves and restricted means come from
dilemma.evaluation.survival; the tests of the factor are in the comparison section's `compare`.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from dilemma.evaluation.survival import OUTCOMES, km_curves, restricted_mean
from dilemma.report import plots
from dilemma.report.data import ReportData
from dilemma.report.html import esc, img, table
from dilemma.report.sections import condition_groups

TITLES = {"force": "Time to first use of force", "war": "Time to war"}


def km_figure(curves: pd.DataFrame, label: str) -> str:
    """Step curves of survival per level, one panel per outcome, as a data URI."""
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, len(OUTCOMES), sharey=True)
    for ax, outcome in zip(axes, OUTCOMES, strict=True):
        sub = curves[curves["outcome"] == outcome]
        for level, g in sub.groupby("level", sort=True):
            ax.step(g["time"], g["survival"], where="post", label=str(level))
        ax.set_title(f"{TITLES[outcome]} ({label})", fontsize=9)
        ax.set_xlabel("round")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("share of runs without the event")
    axes[-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return plots.data_uri(fig)


def _rows(runs: pd.DataFrame, col: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for outcome, time_col in OUTCOMES.items():
        tau = float(runs[time_col].max()) if len(runs) else math.nan
        for level, g in runs.groupby(col, sort=True):
            time = g[time_col].to_numpy(dtype="float64")
            event = g[outcome].to_numpy(dtype="float64")
            rows.append(
                [
                    TITLES[outcome],
                    level,
                    len(g),
                    int(event.sum()),
                    int(len(g) - event.sum()),
                    restricted_mean(time, event, tau),
                ]
            )
    return rows


def survival_section(d: ReportData) -> str:
    """Kaplan-Meier curves per condition and a table of events, censorings and restricted means."""
    out = [
        '<h2 id="survival">Time to force and to war</h2>',
        "<p class=note>Kaplan-Meier estimates of the share of runs in which no state has yet"
        " used force (a violent-escalation or all-out-war action, accidents included) and in"
        " which no war has started, by round. A run without the event is censored at the rounds"
        " it played. The restricted mean is the area under the curve up to the longest run: the"
        " expected rounds to the event within that horizon. Log-rank tests and Cox hazard ratios"
        " of each factor are in the comparison section.</p>",
    ]
    if "time_to_war" not in d.runs.columns or d.runs.empty:
        return "".join([*out, "<p>No runs to show.</p>"])
    for col, title, runs, _, _ in condition_groups(d):
        runs = runs[runs[col].notna()]
        out.append(f"<h3>By {esc(title)}</h3>")
        out.append(img(km_figure(km_curves(runs, col), title), f"Kaplan-Meier curves by {title}"))
        out.append(
            table(
                ["outcome", "condition", "runs", "events", "censored", "restricted mean (rounds)"],
                _rows(runs, col),
            )
        )
    return "".join(out)
