"""The report's section on misperception of intentions: confusion matrices per condition.

For every condition cell, a matrix counts each scored judgement (dilemma.evaluation.intent) by the
other
state's actual private intent toward the observer (rows) and what the observer believed it to
be (columns); the diagonal is a correct reading, cells right of it an overestimation of
hostility. A summary table gives accuracy, over- and underestimation and the signed mean error.
"""

from __future__ import annotations

import math

import pandas as pd

from dilemma.evaluation.intent import intent_confusion
from dilemma.report.data import GROUP, ReportData
from dilemma.report.html import esc, table


def _share(judged: pd.Series, mask: pd.Series) -> float:
    return float(mask[judged].mean()) if judged.any() else math.nan


def intent_section(d: ReportData) -> str:
    """Summary per condition and one confusion matrix per condition."""
    out = [
        '<h2 id="intent">Misperception of intentions</h2>',
        "<p class=note>Each decision states, for every other state, what the state believes it"
        " intends toward it; each belief is scored against that state's own private intent"
        " toward the observer in the same round (both decisions answered). Rows: actual intent;"
        " columns: perceived intent; right of the diagonal the observer judged the other more"
        " hostile than it was. Error in levels (defensive 0, deterrent 1, coercive 2, aggressive"
        " 3), perceived minus actual.</p>",
    ]
    pairs = d.pairs
    err = pairs["intent_error"] if "intent_error" in pairs.columns else pd.Series(dtype=float)
    if pairs.empty or err.notna().sum() == 0:
        out.append(
            "<p>No judgement of intent to score: the decisions in these records do not state a"
            " perceived intent (version-1 records did not ask).</p>"
        )
        return "".join(out)
    rows = []
    matrices = []
    for group, sub in pairs.groupby(GROUP, sort=True):
        e = sub["intent_error"]
        judged = e.notna()
        rows.append(
            [
                group,
                int(judged.sum()),
                _share(judged, e == 0),
                _share(judged, e > 0),
                _share(judged, e < 0),
                float(e.mean()) if judged.any() else math.nan,
            ]
        )
        if not judged.any():
            continue
        confusion = intent_confusion(sub)
        matrices.append(f"<h3>{esc(group)}</h3>")
        matrices.append(
            table(
                ["actual \\ perceived", *confusion.columns, "judgements"],
                [
                    [actual, *(int(v) for v in counts), int(counts.sum())]
                    for actual, counts in confusion.iterrows()
                ],
            )
        )
    out.append(
        table(
            [
                "condition",
                "judgements",
                "accuracy",
                "overestimation",
                "underestimation",
                "mean error (levels)",
            ],
            rows,
        )
    )
    out.extend(matrices)
    return "".join(out)
