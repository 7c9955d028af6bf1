"""Across runs: compare conditions with bootstrap intervals, effect sizes and permutation tests.

For each level of a factor: the mean of each run-level measure with a percentile-bootstrap 95%
interval. For each pair of levels: the difference of means with its bootstrap interval, Hedges' g,
and a two-sided permutation-test p-value. The verdict says whether the factor changes behaviour
at all: any pairwise test significant after Holm's correction over every pair and measure.
LLM personas often ignore the factors a prompt varies (Lamparth et al. 2024), so "no detectable
effect" is a finding, reported with the sample sizes that bound it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from records.reader import read_header

DEFAULT_MEASURES = (
    "escalation_index",
    "ladder_score_total",
    "mean_growth_pct",
    "cum_arms_change_pct",
    "mean_threat",
    "mean_misperception",
    "spiral_share",
    "war",
    "fallback_rate",
)
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """Per-level summaries, pairwise contrasts and the verdict for one factor."""

    by: str
    levels: pd.DataFrame
    pairs: pd.DataFrame
    changes_behaviour: bool
    verdict: str


def conditions(paths: list[Path]) -> pd.DataFrame:
    """path and one column per experiment condition, read from each record's header line."""
    rows = []
    for path in paths:
        header = read_header(path)
        conds = header.experiment.conditions if header.experiment else {}
        rows.append(
            {
                "path": str(path),
                "prompt_setup": header.prompt.name,
                "model": "+".join(sorted({m.spec for m in header.models.values()})),
                **{k: str(v) for k, v in conds.items()},
            }
        )
    return pd.DataFrame(rows)


def with_conditions(runs: pd.DataFrame) -> pd.DataFrame:
    """Run-level scores joined, by record path, with each run's experiment conditions."""
    conds = conditions([Path(p) for p in runs["path"]])
    extra = [c for c in conds.columns if c not in runs.columns or c == "path"]
    return runs.astype({"path": "string"}).merge(
        conds[extra].astype({"path": "string"}), on="path", how="left"
    )


def _bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means: np.ndarray = values[idx].mean(axis=1)
    return means


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference (a - b) with the small-sample correction; NaN if undefined."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled == 0:
        return 0.0 if a.mean() == b.mean() else float("inf") * np.sign(a.mean() - b.mean())
    correction = 1 - 3 / (4 * (na + nb) - 9)
    return float((a.mean() - b.mean()) / np.sqrt(pooled) * correction)


def permutation_p(a: np.ndarray, b: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value for a difference in means (with the +1 correction)."""
    observed = abs(a.mean() - b.mean())
    pooled = np.concatenate([a, b])
    perms = rng.permuted(np.tile(pooled, (n_perm, 1)), axis=1)
    diffs = np.abs(perms[:, : len(a)].mean(axis=1) - perms[:, len(a) :].mean(axis=1))
    return float((np.sum(diffs >= observed - 1e-12) + 1) / (n_perm + 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def compare(
    runs: pd.DataFrame,
    by: str,
    measures: tuple[str, ...] | list[str] = DEFAULT_MEASURES,
    *,
    n_boot: int = 2000,
    n_perm: int = 5000,
    seed: int = 0,
) -> Comparison:
    """Compare run-level `measures` across the levels of column `by`."""
    if by not in runs.columns:
        raise KeyError(f"no factor {by!r} in these runs; factors: {sorted(runs.columns)}")
    rng = np.random.default_rng(seed)
    measures = [m for m in measures if m in runs.columns]
    level_rows = []
    pair_rows = []
    groups = {str(k): g for k, g in runs.groupby(by, sort=True)}
    for measure in measures:
        samples = {k: g[measure].astype("float64").dropna().to_numpy() for k, g in groups.items()}
        for level, values in samples.items():
            row = {"level": level, "measure": measure, "n": len(values)}
            if len(values):
                boot = _bootstrap_means(values, n_boot, rng)
                row |= {
                    "mean": values.mean(),
                    "ci_low": np.percentile(boot, 2.5),
                    "ci_high": np.percentile(boot, 97.5),
                }
            else:
                row |= {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan}
            level_rows.append(row)
        for a_name, b_name in itertools.combinations(samples, 2):
            a, b = samples[a_name], samples[b_name]
            row = {
                "level_a": a_name,
                "level_b": b_name,
                "measure": measure,
                "n_a": len(a),
                "n_b": len(b),
            }
            if len(a) and len(b):
                diff = _bootstrap_means(a, n_boot, rng) - _bootstrap_means(b, n_boot, rng)
                row |= {
                    "diff": a.mean() - b.mean(),
                    "ci_low": np.percentile(diff, 2.5),
                    "ci_high": np.percentile(diff, 97.5),
                    "hedges_g": hedges_g(a, b),
                    "p_value": permutation_p(a, b, n_perm, rng),
                }
            else:
                row |= {
                    "diff": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "hedges_g": np.nan,
                    "p_value": np.nan,
                }
            pair_rows.append(row)
    levels = pd.DataFrame(level_rows)
    pairs = pd.DataFrame(pair_rows)
    if pairs.empty or pairs["p_value"].isna().all():
        verdict = f"{by}: fewer than two levels with data; nothing to compare"
        return Comparison(by, levels, pairs, False, verdict)
    tested = pairs["p_value"].notna()
    pairs["p_holm"] = np.nan
    pairs.loc[tested, "p_holm"] = holm(pairs.loc[tested, "p_value"].to_numpy())
    pairs["significant"] = pairs["p_holm"] < ALPHA
    changes = bool(pairs["significant"].any())
    sizes = ", ".join(f"{k}: n={len(g)}" for k, g in groups.items())
    if changes:
        hits = pairs[pairs["significant"]]
        which = ", ".join(sorted(set(hits["measure"])))
        verdict = f"{by} changes behaviour: significant differences in {which} ({sizes})"
    else:
        verdict = (
            f"{by} does not detectably change behaviour: no difference significant after Holm"
            f" correction at {ALPHA} ({sizes})"
        )
    return Comparison(by, levels, pairs, changes, verdict)
