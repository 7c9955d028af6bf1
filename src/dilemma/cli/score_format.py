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

from dilemma.cli.values import display_value, plain
from dilemma.evaluation.index import COMPONENTS
from dilemma.evaluation.intent import MEASURES as INTENT_MEASURES
from dilemma.evaluation.tables import Scores, score

HEADLINE = (
    "escalation_index",
    "ladder_score_total",
    "max_rung",
    "mean_threat",
    "threat_trend",
    "mean_misperception",
    "spiral_rounds",
    "spiral_onset",
    "spiral_longest",
    "mean_implied_hostility",
    "forecast_mae",
    "said_did_mae",
    "mean_growth_pct",
    "cum_arms_change_pct",
)
"""Run measures listed under `insufficient_data` in the JSON when they cannot be computed."""

__all__ = ["HEADLINE", "display_value", "runs_json", "runs_text", "score_json", "score_text"]

Source = Path | str | Iterable[Path | str]
SIDES = ("ab", "ba")
"""`intent_dyads`: "ab" holds a's judgements of b's intent, "ba" b's judgements of a's."""


def runs_json(scores: Scores) -> list[dict[str, Any]]:
    """One JSON-ready object per run of already computed scores."""
    dyads = scores.dyads.groupby("run_id", sort=False)
    states = scores.states.groupby("run_id", sort=False)
    flagged = scores.state_rounds[scores.state_rounds["rule_violations"] > 0]
    violations = flagged.groupby("run_id", sort=False)
    out: list[dict[str, Any]] = []
    for run in scores.runs.to_dict("records"):
        rid = run["run_id"]
        obj: dict[str, Any] = {
            k: plain(run[k])
            for k in (
                "run_id",
                "scenario",
                "path",
                "rounds",
                "rounds_planned",
                "outcome",
                "complete",
                "truncated",
                "escalation_index",
                "ladder_score_total",
                "ladder_mean",
                "max_rung",
                "mean_growth_pct",
                "cum_arms_change_pct",
                "mean_threat",
                "threat_trend",
                "mean_misperception",
                "mean_abs_misperception",
                "spiral_rounds",
                "spiral_onset",
                "spiral_longest",
                "spiral_share",
                "mutual_arming_rounds",
                "saturated_rounds",
                "mean_implied_hostility",
                "war",
                "war_round",
                "war_initiator",
                "war_target",
                "treaties_formed",
                "breaches",
                "forecast_mae",
                "said_did_mae",
                "decisions",
                "fallbacks",
                "fallback_rate",
                "parse_failure_rate",
                "rule_violations",
            )
        }
        obj["index_components"] = {c.removeprefix("idx_"): plain(run[c]) for c in COMPONENTS}
        obj["index_weights"] = _weights(run["index_weights"])
        obj["violations"] = [
            {"round": plain(v["round"]), "state": v["state"], "rules": v["violations"]}
            for v in _records(violations, rid)
        ]
        obj["richardson"] = [
            {
                "dyad": [d["a"], d["b"]],
                **{k: plain(d[f"rich_{k}"]) for k in ("a", "m", "g", "b", "n", "h")},
                **{f"se_{k}": plain(d[f"rich_se_{k}"]) for k in ("a", "m", "g", "b", "n", "h")},
                "p_a": plain(d["rich_p_a"]),
                "p_b": plain(d["rich_p_b"]),
                "r2_x": plain(d["rich_r2_x"]),
                "r2_y": plain(d["rich_r2_y"]),
                "n_obs_x": plain(d["rich_nobs_x"]),
                "n_obs_y": plain(d["rich_nobs_y"]),
                "spectral_radius": plain(d["rich_rho"]),
                "spectral_radius_ci": [plain(d["rich_rho_lo"]), plain(d["rich_rho_hi"])],
                "verdict": d["rich_verdict"],
            }
            for d in _records(dyads, rid)
        ]
        obj["states"] = [
            {
                k: plain(s[k])
                for k in (
                    "state",
                    "model",
                    "regime",
                    "transparency",
                    "decisions",
                    "fallbacks",
                    "fallback_rate",
                    "parse_failure_rate",
                    "mean_threat_out",
                    "mean_misperception",
                    "forecast_mae",
                    "said_did_mae",
                )
            }
            for s in _records(states, rid)
        ]
        obj.update({k: plain(run[k]) for k in INTENT_MEASURES})
        obj["intent_dyads"] = [
            {
                "dyad": [d["a"], d["b"]],
                **{side: {k: plain(d[f"{k}_{side}"]) for k in INTENT_MEASURES} for side in SIDES},
            }
            for d in _records(dyads, rid)
        ]
        obj["insufficient_data"] = [k for k in HEADLINE if obj.get(k) is None]
        out.append(obj)
    return out


def _weights(text: Any) -> dict[str, float]:
    """The index weights from their `name=value,...` column."""
    pairs = (item.split("=") for item in str(text).split(","))
    return {name: float(value) for name, value in pairs}


def _records(groups: Any, key: str) -> list[dict[str, Any]]:
    try:
        frame: pd.DataFrame = groups.get_group(key)
    except KeyError:
        return []
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


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
