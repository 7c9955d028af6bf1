"""Per-condition groups of the viewer's list: the runs of each condition, with the mean and 95%
interval of each primary measure, and the commands that report and compare the folder.

    groups = condition_groups(rows, ["escalation_index", "mean_threat", "mean_growth_pct", "war"])
    groups[0].label, groups[0].keys, groups[0].aggregates["war"].mean

A group is the runs sharing a scenario and every experiment condition. Only finished runs
(`completed` or `war`) enter the aggregates: a running or broken run would pull the mean toward
its unfinished rounds. Intervals: for a 0/1 measure (`war`, any boolean column) the exact
Clopper-Pearson interval of the share (statsmodels `proportion_confint`, method "beta"); for the
others the t interval of the mean (scipy.stats.t); none with fewer than 2 runs. SciPy and
statsmodels are imported only when an interval is computed (`intervals=True`): the list page
shows the means at once and asks for the intervals separately (`/api/groups`).
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dilemma.evaluation.columns import RUNS
from dilemma.web.viewer.data import RunRow

FINISHED = ("completed", "war")
"""Outcomes whose runs enter a group's aggregates."""
LEVEL = 0.95
"""Coverage of the intervals."""
LABELS = {
    "escalation_index": "escalation index",
    "mean_threat": "mean threat",
    "mean_growth_pct": "mean growth %",
    "war": "war",
}
"""Column headings of the default primary measures (others are shown by name)."""


def measure_info(measures: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per measure: its heading, its meaning (from evaluation.columns) and whether it is 0/1."""
    columns = {c.name: c for c in RUNS}
    out = {}
    for m in measures:
        column = columns.get(m)
        out[m] = {
            "label": LABELS.get(m, m.replace("_", " ")),
            "doc": column.doc if column else m,
            "boolean": bool(column and column.dtype == "bool"),
        }
    return out


@dataclass(frozen=True)
class Aggregate:
    """The mean of one measure over a group's finished runs, and its 95% interval."""

    mean: float | None
    low: float | None
    high: float | None
    n: int
    method: str
    """"clopper-pearson", "t", "none" (fewer than 2 values), or "mean" (the interval was not
    asked for)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "method": self.method,
        }


@dataclass(frozen=True)
class Group:
    """The runs of one condition, in list order, with their aggregates."""

    key: str
    """Stable for a scenario and conditions (the page matches intervals to groups by it)."""
    scenario: str
    conditions: dict[str, str]
    keys: list[str]
    finished: int
    aggregates: dict[str, Aggregate]

    @property
    def label(self) -> str:
        """The condition as text: the scenario (unless a factor names it), then
        `factor = level` for each factor."""
        parts = [f"{f} = {level}" for f, level in self.conditions.items()]
        if not parts:
            return f"{self.scenario} · no conditions"
        if self.conditions.get("scenario") == self.scenario:  # already named by a factor
            return " · ".join(parts)
        return " · ".join([self.scenario, *parts])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (inserted as text by the page's script)."""
        return {
            "key": self.key,
            "label": self.label,
            "scenario": self.scenario,
            "conditions": self.conditions,
            "runs": self.keys,
            "finished": self.finished,
            "aggregates": {m: a.to_json() for m, a in self.aggregates.items()},
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def aggregate(values: Sequence[float], *, interval: bool = True) -> Aggregate:
    """Mean and 95% interval of `values`: Clopper-Pearson if they are all 0 or 1, else t
    (`interval=False`: the mean alone, method "mean", without importing SciPy)."""
    n = len(values)
    if n == 0:
        return Aggregate(None, None, None, 0, "none")
    mean = math.fsum(values) / n
    if n < 2:
        return Aggregate(mean, None, None, n, "none")
    if not interval:
        return Aggregate(mean, None, None, n, "mean")
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    if all(v in (0.0, 1.0) for v in values):
        low, high = proportion_confint(round(math.fsum(values)), n, alpha=1 - LEVEL, method="beta")
        return Aggregate(mean, float(low), float(high), n, "clopper-pearson")
    sem = float(stats.sem(values))
    if sem == 0.0:
        return Aggregate(mean, mean, mean, n, "t")
    low, high = stats.t.interval(LEVEL, n - 1, loc=mean, scale=sem)
    return Aggregate(mean, _finite(float(low)), _finite(float(high)), n, "t")


def _group_key(row: RunRow) -> tuple[str, tuple[tuple[str, str], ...]]:
    return row.scenario, tuple(sorted(row.conditions.items()))


def group_id(scenario: str, conditions: dict[str, str]) -> str:
    """A short stable name of a condition group (for the page; not a secret)."""
    text = "\0".join([scenario, *(f"{f}={v}" for f, v in sorted(conditions.items()))])
    return "g" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


def condition_groups(
    rows: Sequence[RunRow], measures: Sequence[str], *, intervals: bool = True
) -> list[Group]:
    """The rows grouped by scenario and conditions (groups ordered by scenario and conditions,
    runs in `rows` order), with the aggregates of `measures` over each group's finished runs
    (`intervals=False`: means only)."""
    members: dict[tuple[str, tuple[tuple[str, str], ...]], list[RunRow]] = {}
    for row in rows:
        members.setdefault(_group_key(row), []).append(row)
    groups = []
    for key, found in sorted(members.items(), key=lambda item: item[0]):
        done = [r for r in found if r.outcome in FINISHED]
        aggregates = {}
        for m in measures:
            values = [v for r in done if (v := r.measures.get(m)) is not None]
            aggregates[m] = aggregate(values, interval=intervals)
        groups.append(
            Group(
                key=group_id(key[0], dict(found[0].conditions)),
                scenario=key[0],
                conditions=dict(found[0].conditions),
                keys=[r.key for r in found],
                finished=len(done),
                aggregates=aggregates,
            )
        )
    return groups


def commands(root: str, factors: dict[str, list[str]]) -> list[dict[str, str]]:
    """The commands that write the folder's report and compare each factor with 2+ levels
    (`what` says what each does)."""
    folder = shlex.quote(root)
    out = [{"what": "HTML report of this folder", "command": f"dilemma report {folder}"}]
    for factor, levels in factors.items():
        if len(levels) >= 2:
            out.append(
                {
                    "what": f"compare the levels of {factor}",
                    "command": f"dilemma compare {folder} --by {shlex.quote(factor)}",
                }
            )
    return out
