"""How one contrast is made from the runs: paired by seed, two-sample, or stratified.

The design is chosen from how the runs were made (their seeds and other conditions), never from
the data's outcome: runs are paired when every run at one level has exactly one partner at the
other with the same seed and the same other conditions; two-sample when nothing else varies;
otherwise stratified by the other conditions (least squares with stratum fixed effects). The
tests themselves are in `dilemma.evaluation.inference`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dilemma.evaluation import inference
from dilemma.evaluation.contrast import Contrast, empty_contrast


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


def measure_values(frame: pd.DataFrame, measures: Sequence[str]) -> np.ndarray:
    """Measures x runs, as float64 with NaN for missing values."""
    if not measures:
        return np.empty((0, len(frame)))
    cols = []
    for m in measures:
        col = frame[m]
        if col.dtype == bool or str(col.dtype) == "boolean":
            col = col.astype("Float64")
        col = pd.to_numeric(col, errors="coerce").astype("Float64")
        cols.append(col.to_numpy(dtype="float64", na_value=np.nan))
    return np.vstack(cols)


@dataclass(frozen=True)
class RunArrays:
    """The runs as arrays: measure values, labels of every condition column, seeds."""

    values: np.ndarray
    labels: dict[str, np.ndarray]
    seeds: np.ndarray | None

    @classmethod
    def of(cls, runs: pd.DataFrame, measures: Sequence[str], cols: Sequence[str]) -> RunArrays:
        seeds = None
        if "seed" in runs.columns and not runs["seed"].isna().any():
            seeds = runs["seed"].astype("int64").to_numpy()
        labels = {c: runs[c].astype(str).to_numpy(dtype=object) for c in dict.fromkeys(cols)}
        return cls(measure_values(runs, measures), labels, seeds)

    def varying(self, idx: np.ndarray, cols: Sequence[str]) -> list[str]:
        return [c for c in cols if len(set(self.labels[c][idx])) > 1]

    def keys(self, idx: np.ndarray, cols: Sequence[str], seed: bool) -> list[tuple[Any, ...]]:
        parts = [self.labels[c][idx] for c in cols]
        if seed and self.seeds is not None:
            parts.append(self.seeds[idx])
        return list(zip(*parts, strict=True)) if parts else [()] * len(idx)


def match(
    r: RunArrays, ia: np.ndarray, ib: np.ndarray, others: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Runs of ia and ib aligned on (other conditions, seed), the number of distinct strata;
    None unless every run has exactly one partner."""
    if r.seeds is None or len(ia) == 0 or len(ia) != len(ib):
        return None
    ka, kb = r.keys(ia, others, True), r.keys(ib, others, True)
    pos_a = dict(zip(ka, ia, strict=True))
    pos_b = dict(zip(kb, ib, strict=True))
    if len(pos_a) != len(ia) or len(pos_b) != len(ib) or pos_a.keys() != pos_b.keys():
        return None
    order = sorted(pos_a, key=lambda k: tuple(map(str, k)))
    cells = len({k[:-1] for k in order})
    return (
        np.array([pos_a[k] for k in order]),
        np.array([pos_b[k] for k in order]),
        cells,
    )


@dataclass(frozen=True)
class Design:
    """How one contrast was made: its description and the number of cells per level."""

    kind: str
    text: str
    cells: int


def fixed_effects(r: RunArrays, idx: np.ndarray, strata: Sequence[str]) -> tuple[np.ndarray, int]:
    """Dummy columns (one per stratum but the first) for the runs idx, and the stratum count."""
    if not strata:
        return np.empty((len(idx), 0)), 1
    keys = r.keys(idx, strata, False)
    ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    codes = np.array([ids[k] for k in keys], dtype=np.intp)
    return np.eye(len(ids))[codes][:, 1:], len(ids)


@dataclass(frozen=True)
class TestSettings:
    """What every test of one comparison shares: margins per measure, resampling, and the
    levels each measure's p-value is judged against (its family's Holm steps; NaN-padded)."""

    margins: np.ndarray
    rng: np.random.Generator
    n_perm: int
    n_boot: int
    thresholds: np.ndarray | None = None

    def paired(self, d: np.ndarray) -> list[Contrast]:
        """Sign-flip permutation test per row of differences."""
        return inference.paired(
            d,
            self.margins,
            self.rng,
            n_perm=self.n_perm,
            n_boot=self.n_boot,
            thresholds=self.thresholds,
        )

    def independent(self, a: np.ndarray, b: np.ndarray) -> list[Contrast]:
        """Label-permutation test per row of two samples."""
        return inference.independent(
            a,
            b,
            self.margins,
            self.rng,
            n_perm=self.n_perm,
            n_boot=self.n_boot,
            thresholds=self.thresholds,
        )


def two_levels(
    r: RunArrays,
    level: np.ndarray,
    pair: tuple[str, str],
    strata: Sequence[str],
    tests: TestSettings,
) -> tuple[list[Contrast], Design]:
    """Contrasts a - b (pair = (a, b)) for every measure, with the design the runs allow."""
    a, b = pair
    ia, ib = np.flatnonzero(level == a), np.flatnonzero(level == b)
    others = r.varying(np.concatenate([ia, ib]), strata)
    matched = match(r, ia, ib, others)
    if matched is not None:
        pa, pb, cells = matched
        d = r.values[:, pa] - r.values[:, pb]
        within = f" within {', '.join(others)}" if others else ""
        text = f"paired by seed{within}: sign-flip permutation on {len(pa)} differences"
        return tests.paired(d), Design("paired", text, cells)
    if not others:
        text = "independent samples (seeds not matched): label-permutation test"
        return tests.independent(r.values[:, ia], r.values[:, ib]), Design("independent", text, 1)
    # strata in which both levels occur; the others carry no within-stratum information
    ka, kb = set(r.keys(ia, others, False)), set(r.keys(ib, others, False))
    both = ka & kb
    idx = np.array(
        [i for i, k in zip(ia, r.keys(ia, others, False), strict=True) if k in both]
        + [i for i, k in zip(ib, r.keys(ib, others, False), strict=True) if k in both],
        dtype=int,
    )
    if len(idx) == 0:
        method = "least squares with stratum fixed effects, t test"
        text = (
            f"stratified by {', '.join(others)} (seeds not matched): no stratum holds both"
            " levels, so no within-stratum contrast exists"
        )
        empty = empty_contrast("stratified", method, len(ia), len(ib), 0)
        return [empty] * r.values.shape[0], Design("stratified", text, 1)
    n_a = int(np.sum(level[idx] == a))
    effects, cells = fixed_effects(r, idx, others)
    design = np.column_stack([np.ones(len(idx)), (level[idx] == a).astype(float), effects])
    text = (
        f"stratified by {', '.join(others)} (seeds not matched; {cells} strata with both"
        " levels): least squares with stratum fixed effects, t test"
    )
    return (
        inference.least_squares(r.values[:, idx], design, 1, tests.margins, n_a, len(idx) - n_a),
        Design("stratified", text, max(cells, 1)),
    )


def interaction_contrast(
    r: RunArrays,
    factor: tuple[str, tuple[str, str]],
    inner: tuple[str, tuple[str, str]],
    strata: Sequence[str],
    tests: TestSettings,
) -> tuple[list[Contrast], Design]:
    """(a0 - a1 at w0) - (a0 - a1 at w1) for every measure, where factor = (by, (a0, a1)) and
    inner = (within, (w0, w1))."""
    (by, a), (within, w) = factor, inner
    lv, lw = r.labels[by], r.labels[within]
    cell = {(x, y): np.flatnonzero((lv == x) & (lw == y)) for x in a for y in w}
    others = r.varying(np.concatenate(list(cell.values())), strata)
    m0 = match(r, cell[a[0], w[0]], cell[a[1], w[0]], others)
    m1 = match(r, cell[a[0], w[1]], cell[a[1], w[1]], others)
    if m0 is not None and m1 is not None:
        d0 = r.values[:, m0[0]] - r.values[:, m0[1]]
        d1 = r.values[:, m1[0]] - r.values[:, m1[1]]
        k0, k1 = r.keys(m0[0], others, True), r.keys(m1[0], others, True)
        if k0 == k1:  # both sorted by key: the same keys in the same order
            text = (
                f"paired by seed across {by} and {within}: sign-flip permutation on"
                f" {len(k0)} differences of differences"
            )
            return tests.paired(d0 - d1), Design("paired", text, m0[2])
        text = (
            f"{by} differences paired by seed within each {within} level; two-sample"
            " permutation test between them"
        )
        return tests.independent(d0, d1), Design("independent", text, max(m0[2], 1))
    idx = np.concatenate(list(cell.values()))
    effects, cells = fixed_effects(r, idx, others)
    x_a = (lv[idx] == a[0]).astype(float)
    x_w = (lw[idx] == w[0]).astype(float)
    design = np.column_stack([np.ones(len(idx)), x_a, x_w, x_a * x_w, effects])
    text = "least squares with the interaction term and stratum fixed effects, t test"
    n_a = int((x_a * x_w).sum())
    return (
        inference.least_squares(r.values[:, idx], design, 3, tests.margins, n_a, len(idx) - n_a),
        Design("stratified", text, max(cells, 1)),
    )
