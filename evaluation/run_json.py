"""Scored runs as JSON-ready objects: one per run, as `dilemma score --json` prints them and
the record viewer shows them; and the display form of one measure value.

    runs_json(scores) -> list[dict]       NaN and <NA> become null
    rows_json(rows) -> list[dict]         the same from `ScoreRows` (e.g. read from the score
                                          cache without pandas: ScoreCache.rows)
    display_value(value, digits) -> str   n/a, yes/no, fixed digits
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dilemma.evaluation.columns import INDEX_COMPONENTS as COMPONENTS
from dilemma.evaluation.columns import INTENT_MEASURES

if TYPE_CHECKING:
    from dilemma.evaluation.tables import Scores

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

SIDES = ("ab", "ba")
"""`intent_dyads`: "ab" holds a's judgements of b's intent, "ba" b's judgements of a's."""


Row = dict[str, Any]


@dataclass(frozen=True)
class ScoreRows:
    """The grains `dilemma score` prints, as rows of plain values (None, NaN or pandas' NA
    where a value is missing): runs in record order, the other grains by run id."""

    runs: list[Row]
    dyads: list[Row]
    states: list[Row]
    state_rounds: list[Row]
    skipped: list[tuple[Path, str]]


GRAINS = ("runs", "dyads", "states", "state_rounds")
"""The grains of `ScoreRows`."""


def score_rows(scores: Scores) -> ScoreRows:
    """The rows of `scores` that `rows_json` and the score table read."""
    frames = {g: getattr(scores, g).to_dict("records") for g in GRAINS}
    return ScoreRows(**frames, skipped=list(scores.skipped))


_INFINITIES = (math.inf, -math.inf)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    pandas = sys.modules.get("pandas")  # without pandas loaded no value is its NA
    return pandas is not None and value is pandas.NA


def plain(value: Any) -> Any:
    """A JSON-ready Python value: None for a missing one (None, NaN, pandas' NA), "inf" or
    "-inf" for an infinity (JSON has none), Python scalars for numpy ones."""
    kind = type(value)
    if kind is float:  # the common cases first: a folder's JSON holds 100,000s of values
        if value != value:
            return None
        return str(value) if value in _INFINITIES else value
    if kind is str or kind is int or kind is bool:
        return value
    if _missing(value):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(value) if math.isinf(value) else value
    if hasattr(value, "item"):
        return plain(value.item())
    return value


def runs_json(scores: Scores) -> list[dict[str, Any]]:
    """One JSON-ready object per run of already computed scores."""
    return rows_json(score_rows(scores))


def rows_json(scores: ScoreRows) -> list[dict[str, Any]]:
    """One JSON-ready object per run of `scores` (see `runs_json`)."""
    dyads = _by_run(scores.dyads)
    states = _by_run(scores.states)
    violations = _by_run([r for r in scores.state_rounds if r["rule_violations"] > 0])
    out: list[dict[str, Any]] = []
    for run in scores.runs:
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
            for v in violations.get(rid, [])
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
                "runaway_source": plain(d["rich_runaway_source"]),
                **{f"react_{k}": plain(d[f"rich_react_{k}"]) for k in ("a", "b")},
                **{f"se_react_{k}": plain(d[f"rich_se_react_{k}"]) for k in ("a", "b")},
                **{f"mde_{k}": plain(d[f"rich_mde_{k}"]) for k in ("a", "b")},
            }
            for d in dyads.get(rid, [])
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
            for s in states.get(rid, [])
        ]
        obj.update({k: plain(run[k]) for k in INTENT_MEASURES})
        obj["intent_dyads"] = [
            {
                "dyad": [d["a"], d["b"]],
                **{side: {k: plain(d[f"{k}_{side}"]) for k in INTENT_MEASURES} for side in SIDES},
            }
            for d in dyads.get(rid, [])
        ]
        obj["insufficient_data"] = [k for k in HEADLINE if obj.get(k) is None]
        out.append(obj)
    return out


def _weights(text: Any) -> dict[str, float]:
    """The index weights from their `name=value,...` column."""
    pairs = (item.split("=") for item in str(text).split(","))
    return {name: float(value) for name, value in pairs}


def _by_run(rows: list[Row]) -> dict[Any, list[dict[str, Any]]]:
    """`rows` grouped by run id (row order kept): one pass, not one lookup per run."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["run_id"], []).append(row)
    return out


def display_value(value: Any, digits: int = 2) -> str:
    """A value for display: n/a for missing or NaN, yes/no for booleans, fixed digits for floats."""
    value = plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
