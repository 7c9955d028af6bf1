"""Which run-level measures `compare` tests, in which family, and the default equivalence margins.

- primary: the measures that decide the verdict and form its multiple-testing family. An
  experiment file may declare its own (`primary:`); these are the defaults.
- secondary: reported with their own Holm correction, never part of the verdict.
- quality: data-quality measures (fallbacks, parse failures). Never part of the verdict; a
  difference between levels is flagged because a model that fails more in one condition biases
  every behavioural comparison.

Margins are equivalence margins in the measure's own units: a difference between two levels
smaller than the margin counts as negligible. Defaults are about 5% of a bounded measure's range
(10 percentage points for the war rate, 1 point of arms growth per round).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from dilemma.evaluation.columns import RUNS

DEFAULT_PRIMARY: tuple[str, ...] = ("escalation_index", "mean_threat", "mean_growth_pct", "war")
DEFAULT_SECONDARY: tuple[str, ...] = (
    "ladder_score_total",
    "ladder_mean",
    "cum_arms_change_pct",
    "mean_misperception",
    "spiral_share",
    "threat_trend",
)
QUALITY: tuple[str, ...] = ("fallback_rate", "parse_failure_rate")

DEFAULT_MARGINS: dict[str, float] = {
    "escalation_index": 5.0,  # index points, 0-100 scale
    "mean_threat": 0.5,  # threat scale 0-10
    "mean_growth_pct": 1.0,  # percentage points of arms per round
    "war": 0.10,  # share of runs with a war
    "ladder_mean": 3.0,  # ladder weight per state-round, 0-60
    "cum_arms_change_pct": 5.0,  # percentage points of arms over the run
    "mean_misperception": 0.5,  # threat scale 0-10
    "mean_abs_misperception": 0.5,
    "spiral_share": 0.05,  # share of dyad-rounds
    "threat_trend": 0.1,  # threat points per round
    "endgame_escalation": 3.0,  # ladder weight per state-round, as ladder_mean
}

_NOT_MEASURES = {"seed", "n_states", "rounds_planned", "arms_cap_pct", "complete", "truncated"}
MEASURES: tuple[str, ...] = tuple(
    c.name
    for c in RUNS
    if c.dtype in ("float64", "int64", "Int64", "bool") and c.name not in _NOT_MEASURES
)
"""Run-level columns that can be compared across conditions."""


def check_primary(names: Iterable[str]) -> list[str]:
    """The names as a list; ValueError naming the first that cannot be a primary measure."""
    out = list(names)
    for name in out:
        if name in QUALITY:
            raise ValueError(
                f"{name!r} is a data-quality measure; it is reported separately and cannot be"
                " primary"
            )
        if name not in MEASURES:
            raise ValueError(f"unknown measure {name!r}; measures: {', '.join(MEASURES)}")
    if len(set(out)) != len(out):
        raise ValueError("a measure is listed twice")
    return out


HAZARD_RATIO = "hazard_ratio"
"""The margin name of the survival hazard ratios (equivalent within [1/m, m], m > 1)."""


def check_margins(margins: Mapping[str, float]) -> dict[str, float]:
    """The margins as a dict; ValueError naming the first unknown measure or bad value."""
    for name, value in margins.items():
        if name == HAZARD_RATIO:
            if not math.isfinite(value) or value <= 1:
                raise ValueError(f"margin for {name!r} must be a number above 1, got {value}")
            continue
        if name not in MEASURES:
            known = ", ".join([*MEASURES, HAZARD_RATIO])
            raise ValueError(f"unknown measure {name!r}; measures: {known}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"margin for {name!r} must be a positive number, got {value}")
    return dict(margins)


def missing_margins(primary: Iterable[str], margins: Mapping[str, float]) -> list[str]:
    """Primary measures with neither a declared nor a default margin."""
    return [m for m in primary if m not in margins and m not in DEFAULT_MARGINS]
