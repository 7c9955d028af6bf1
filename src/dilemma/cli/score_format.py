"""What `dilemma score PATH [--json]` prints: a readable table, or one JSON object per run.

    score_text(path) -> str               the table (and the records that could not be read)
    score_json(path) -> list[dict]        one object per run; NaN becomes null
Both raise dilemma.records.reader.NoRecordsError when `path` holds no readable record.
`runs_json` and `runs_text` format scores already computed (by `dilemma.score`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from dilemma.evaluation.run_json import HEADLINE, display_value, runs_json
from dilemma.evaluation.tables import Scores, score

__all__ = ["HEADLINE", "display_value", "runs_json", "runs_text", "score_json", "score_text"]

Source = Path | str | Iterable[Path | str]


def score_json(source: Source) -> list[dict[str, Any]]:
    """One JSON-ready object per run found in `source` (a record, a folder, or several)."""
    return runs_json(score(source))


def _est(d: dict[Any, Any], k: str, digits: int = 3) -> str:
    """A Richardson coefficient with its standard error in parentheses."""
    return f"{display_value(d[f'rich_{k}'], digits)}({display_value(d[f'rich_se_{k}'], digits)})"


def runs_text(scores: Scores) -> str:
    """The readable table of already computed scores."""
    r = scores.runs
    table = pd.DataFrame(
        {
            "run": r["run_id"],
            "scenario": r["scenario"],
            "rounds": r["rounds"].astype(str) + "/" + r["rounds_planned"].astype(str),
            "outcome": r["outcome"],
            "index": [display_value(v, 1) for v in r["escalation_index"]],
            "ladder": [display_value(v, 0) for v in r["ladder_score_total"]],
            "max rung": r["max_rung"].fillna("n/a"),
            "threat": [display_value(v) for v in r["mean_threat"]],
            "misperc.": [display_value(v) for v in r["mean_misperception"]],
            "spirals": [display_value(v) for v in r["spiral_rounds"]],
            "mutual": [display_value(v) for v in r["mutual_arming_rounds"]],
            "sat.": [display_value(v) for v in r["saturated_rounds"]],
            "war": [
                f"r{int(wr)} {wi}" if w else "no"
                for w, wr, wi in zip(
                    r["war"], r["war_round"].fillna(0), r["war_initiator"], strict=True
                )
            ],
            "fallback": [display_value(v) for v in r["fallback_rate"]],
            "rules": ["ok" if v == 0 else f"{v} VIOLATIONS" for v in r["rule_violations"]],
        }
    )
    lines = [table.to_string(index=False), "", "Richardson fits (dx = a*y - m*x + g; mirror):"]
    for d in scores.dyads.to_dict("records"):
        if d["rich_verdict"] == "insufficient_data":
            fit = "insufficient_data"
        else:
            fit = (
                f"a={_est(d, 'a')} m={_est(d, 'm')} g={_est(d, 'g', 2)}"
                f" R2={display_value(d['rich_r2_x'])} | b={_est(d, 'b')} n={_est(d, 'n')}"
                f" h={_est(d, 'h', 2)} R2={display_value(d['rich_r2_y'])}"
                f" | rho={display_value(d['rich_rho'], 3)}"
                f" [{display_value(d['rich_rho_lo'], 3)}, {display_value(d['rich_rho_hi'], 3)}]"
                f" -> {d['rich_verdict']}"
            )
            if isinstance(d.get("rich_runaway_source"), str):
                fit += f" ({d['rich_runaway_source']})"
        lines.append(f"  {d['run_id']} {d['a']}-{d['b']}: {fit}")
    bad = scores.state_rounds[scores.state_rounds["rule_violations"] > 0]
    if not bad.empty:
        lines += ["", "RULE VIOLATIONS (the record breaks its own scenario's rules):"]
        for v in bad.to_dict("records"):
            lines.append(f"  {v['run_id']} round {v['round']} {v['state']}: {v['violations']}")
    for path, why in scores.skipped:
        lines.append(f"skipped {path}: {why}")
    return "\n".join(lines)


def score_text(source: Source) -> str:
    """The readable table for the runs found in `source`."""
    return runs_text(score(source))
