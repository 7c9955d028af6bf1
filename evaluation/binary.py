"""Exact methods for binary run-level outcomes (war, and any other 0/1 measure).

A binary measure is one whose column is declared boolean (`war` in the runs table) or listed in
BINARY. Its contrasts replace the permutation test, bootstrap interval and t-based equivalence
test of `dilemma.evaluation.inference`:

- paired by seed: exact McNemar test, i.e. the two-sided binomial test on the discordant pairs
  (statsmodels `mcnemar(exact=True)`); the difference is (n10 - n01) / n;
- independent samples: Boschloo's exact unconditional test (`scipy.stats.boschloo_exact`,
  two-sided), uniformly more powerful than Fisher's;
- interval of the difference: Newcombe's hybrid score interval (statsmodels
  `confint_proportions_2indep(method="newcomb")`); the score (Miettinen-Nurminen) interval is
  not used because it cannot be computed when both levels have no event (0 of n each), the
  common case for war;
- equivalence within the margin: two one-sided score tests for a difference of proportions
  (statsmodels `tost_proportions_2indep(method="score")`);
- each level's proportion: the exact Clopper-Pearson interval (`proportion_confint`,
  method="beta").

Paired designs: statsmodels has no interval or equivalence test for a difference of paired
proportions, so both use the marginal counts as if independent. Pairs share a seed (common
random numbers), which makes their outcomes positively correlated; ignoring that correlation
widens the interval and makes the equivalence test conservative. Stratified designs (no
matching, other conditions varying): the exact conditional (Mantel-Haenszel) test, the
stratified Newcombe interval and a MOVER equivalence test (`dilemma.evaluation.binary_strata`).
Interactions (`interaction_contrasts`): the difference of differences of proportions gets the
MOVER interval (Clopper-Pearson cells) and equivalence test; its p-value stays the permutation
test of the per-seed differences when seeds are matched, else inverts the interval. Power figures
(`proportion_figures`, main effects only): the minimum detectable effect is the smallest rise of
the pooled rate detected with 80% power by the two-sample test of proportions (normal
approximation on Cohen's h, statsmodels `NormalIndPower`); the seeds needed also make the score
equivalence test succeed when both levels show the pooled rate.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from dilemma.evaluation.binary_strata import (
    Cells,
    cells_of,
    stratified_exact_p,
    stratified_min_p,
)
from dilemma.evaluation.contrast import ALPHA, POWER, Contrast, FloatArray
from dilemma.evaluation.designs import Design, RunArrays, match
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    tost_proportions_2indep,
)

BINARY: tuple[str, ...] = ("war", "idx_war")
"""Run-level measures that are 0/1 by definition even when stored as floats."""

PAIRED_METHOD = "exact McNemar test (binomial on discordant pairs)"
INDEPENDENT_METHOD = "Boschloo exact test"
CI_METHOD = "Newcombe score"
LEVEL_CI_METHOD = "Clopper-Pearson"
STRATIFIED_METHOD = "exact stratified (conditional Mantel-Haenszel) test"
STRATA_CI_METHOD = "stratified Newcombe (MOVER-Wilson)"
INTERACTION_METHOD = "inverted MOVER-Clopper-Pearson interval (difference of differences)"
INTERACTION_CI_METHOD = "MOVER-Clopper-Pearson"


def is_binary(name: str, column: pd.Series) -> bool:
    """True for a 0/1 measure: listed in BINARY, or a boolean column."""
    return name in BINARY or column.dtype == bool or str(column.dtype) == "boolean"


def binary_measures(runs: pd.DataFrame, measures: Sequence[str]) -> list[bool]:
    """Per measure: whether it is binary (see `is_binary`)."""
    return [m in runs.columns and is_binary(m, runs[m]) for m in measures]


def newcombe(c1: int, n1: int, c2: int, n2: int) -> tuple[float, float]:
    """95% Newcombe hybrid score interval of c1/n1 - c2/n2."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lo, hi = confint_proportions_2indep(
            c1, n1, c2, n2, method="newcomb", compare="diff", alpha=ALPHA
        )
    return float(lo), float(hi)


def tost(c1: int, n1: int, c2: int, n2: int, margin: float) -> float:
    """p of two one-sided score tests that |c1/n1 - c2/n2| < margin (NaN without a margin)."""
    if not math.isfinite(margin):
        return math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = tost_proportions_2indep(c1, n1, c2, n2, -margin, margin, method="score")
    return float(res.pvalue)


def mcnemar_p(n10: int, n01: int) -> float:
    """Two-sided exact McNemar p from the discordant pair counts (1 with none)."""
    if n10 + n01 == 0:
        return 1.0
    return float(mcnemar([[0, n10], [n01, 0]], exact=True).pvalue)


def boschloo_p(c1: int, n1: int, c2: int, n2: int) -> float:
    """Two-sided Boschloo exact p for c1 of n1 against c2 of n2."""
    if (c1 == 0 and c2 == 0) or (c1 == n1 and c2 == n2):
        return 1.0  # a table with an empty margin: no evidence of a difference
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = stats.boschloo_exact([[c1, c2], [n1 - c1, n2 - c2]], alternative="two-sided")
    return float(min(1.0, res.pvalue))


@functools.lru_cache(maxsize=256)
def min_p_independent(n1: int, n2: int) -> float:
    """Smallest two-sided Boschloo p attainable with samples of n1 and n2."""
    return boschloo_p(n1, n1, 0, n2)


def min_p_paired(n: int) -> float:
    """Smallest two-sided exact McNemar p attainable with n pairs."""
    return min(1.0, 2 * 0.5**n) if n else 1.0


def paired_contrast(a: FloatArray, b: FloatArray, margin: float, base: Contrast) -> Contrast:
    """The exact contrast of paired 0/1 outcomes a and b (NaN pairs dropped); `base` is the
    contrast it replaces (its spread and degrees of freedom feed the power figures)."""
    keep = ~(np.isnan(a) | np.isnan(b))
    x, y = a[keep] > 0.5, b[keep] > 0.5
    n = int(keep.sum())
    if n < 2:
        return replace(base, method=PAIRED_METHOD)
    n10, n01 = int(np.sum(x & ~y)), int(np.sum(~x & y))
    c1, c2 = int(x.sum()), int(y.sum())
    lo, hi = newcombe(c1, n, c2, n)
    return replace(
        base,
        method=PAIRED_METHOD,
        estimate=(n10 - n01) / n,
        ci_low=lo,
        ci_high=hi,
        ci_method=CI_METHOD,
        p_value=mcnemar_p(n10, n01),
        p_exact=True,
        p_mc_se=0.0,
        n_resamples=0,
        min_p=min_p_paired(n),
        p_equivalence=tost(c1, n, c2, n, margin),
    )


def independent_contrast(a: FloatArray, b: FloatArray, margin: float, base: Contrast) -> Contrast:
    """The exact contrast of two independent samples of 0/1 outcomes (NaN dropped)."""
    x, y = a[~np.isnan(a)] > 0.5, b[~np.isnan(b)] > 0.5
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return replace(base, method=INDEPENDENT_METHOD)
    c1, c2 = int(x.sum()), int(y.sum())
    lo, hi = newcombe(c1, n1, c2, n2)
    return replace(
        base,
        method=INDEPENDENT_METHOD,
        estimate=c1 / n1 - c2 / n2,
        ci_low=lo,
        ci_high=hi,
        ci_method=CI_METHOD,
        p_value=boschloo_p(c1, n1, c2, n2),
        p_exact=True,
        p_mc_se=0.0,
        n_resamples=0,
        min_p=min_p_independent(n1, n2),
        p_equivalence=tost(c1, n1, c2, n2, margin),
    )


def clopper_pearson(count: int, n: int) -> tuple[float, float]:
    """Exact 95% interval of a proportion count / n."""
    lo, hi = proportion_confint(count, n, alpha=ALPHA, method="beta")
    return float(lo), float(hi)


def level_intervals(levels: pd.DataFrame, binary: Sequence[str]) -> pd.DataFrame:
    """The per-level means table with Clopper-Pearson intervals for the binary measures."""
    if levels.empty or not binary:
        return levels
    out = levels.copy()
    for i in out.index[out["measure"].isin(list(binary))]:
        n = int(str(out.at[i, "n"]))
        if n == 0:
            continue
        count = round(float(str(out.at[i, "mean"])) * n)
        out.at[i, "ci_low"], out.at[i, "ci_high"] = clopper_pearson(count, n)
        out.at[i, "ci_method"] = LEVEL_CI_METHOD
    return out


def stratified_contrast(cells: Cells | None, margin: float, base: Contrast) -> Contrast:
    """The exact contrast of 0/1 outcomes at two levels within strata (`binary_strata`):
    conditional exact test, stratified Newcombe interval, MOVER equivalence test."""
    if cells is None or int(cells.sizes[:, 0].sum()) < 2 or int(cells.sizes[:, 1].sum()) < 2:
        return replace(base, method=STRATIFIED_METHOD)
    lo, hi = cells.interval()
    return replace(
        base,
        method=STRATIFIED_METHOD,
        n_a=int(cells.sizes[:, 0].sum()),
        n_b=int(cells.sizes[:, 1].sum()),
        estimate=cells.estimate(),
        ci_low=lo,
        ci_high=hi,
        ci_method=STRATA_CI_METHOD,
        p_value=stratified_exact_p(cells.counts, cells.sizes),
        p_exact=True,
        p_mc_se=0.0,
        n_resamples=0,
        min_p=stratified_min_p(cells.sizes),
        p_equivalence=cells.p_equivalence(margin),
    )


def exact_contrasts(
    found: list[Contrast],
    design: Design,
    r: RunArrays,
    sides: tuple[np.ndarray, np.ndarray],
    strata: Sequence[str],
    flags: Sequence[bool],
    margins: FloatArray,
) -> list[Contrast]:
    """`found` (one contrast per measure, from `designs.two_levels`) with the binary measures'
    contrasts made exact. `sides` are the run indices of the two levels; the design's kind
    decides the test: paired (matched again exactly as `two_levels` matched them),
    independent, or stratified by the other conditions that vary (`stratified_contrast`)."""
    if not any(flags):
        return found
    ia, ib = sides
    if design.kind == "stratified":
        others = r.varying(np.concatenate([ia, ib]), strata)
        keys = r.keys(np.arange(r.values.shape[1]), others, False)
        return [
            stratified_contrast(cells_of(r.values[row], [ia, ib], keys), float(margins[row]), c)
            if flag
            else c
            for row, (flag, c) in enumerate(zip(flags, found, strict=True))
        ]
    if design.kind == "paired":
        others = r.varying(np.concatenate([ia, ib]), strata)
        matched = match(r, ia, ib, others)
        if matched is None:  # cannot happen: two_levels found this very matching
            raise RuntimeError("paired design without a matching")
        ia, ib = matched[0], matched[1]
    out = list(found)
    for row, flag in enumerate(flags):
        if not flag:
            continue
        a, b, margin = r.values[row, ia], r.values[row, ib], float(margins[row])
        if design.kind == "paired":
            out[row] = paired_contrast(a, b, margin, found[row])
        else:
            out[row] = independent_contrast(a, b, margin, found[row])
    return out


def interaction_contrasts(
    found: list[Contrast],
    design: Design,
    r: RunArrays,
    factors: tuple[tuple[str, tuple[str, str]], tuple[str, tuple[str, str]]],
    strata: Sequence[str],
    flags: Sequence[bool],
    margins: FloatArray,
) -> list[Contrast]:
    """`found` (one interaction contrast per measure, from `designs.interaction_contrast`) with
    the binary measures' interval and equivalence test replaced by the MOVER ones (Clopper-Pearson
    limits per cell) of the
    difference of differences of proportions (`binary_strata`, cells weighted per stratum of the
    other conditions that vary). A paired or independent design keeps its permutation test of
    the per-seed differences (exact up to EXACT_RUNS); the least-squares one (runs not matched
    by seed) is replaced by the inverted MOVER interval. `factors` = ((by, (a0, a1)), (within,
    (w0, w1)))."""
    if not any(flags):
        return found
    (by, a), (within, w) = factors
    lv, lw = r.labels[by], r.labels[within]
    cells = [np.flatnonzero((lv == x) & (lw == y)) for y in w for x in a]
    others = r.varying(np.concatenate(cells), strata)
    keys = r.keys(np.arange(r.values.shape[1]), others, False)
    out = list(found)
    for row, flag in enumerate(flags):
        found_cells = cells_of(r.values[row], cells, keys) if flag else None
        if found_cells is None:
            continue
        base = found[row]
        lo, hi = found_cells.interval()
        margin = float(margins[row])
        new = replace(
            base,
            estimate=found_cells.estimate(),
            ci_low=lo,
            ci_high=hi,
            ci_method=INTERACTION_CI_METHOD,
            p_equivalence=found_cells.p_equivalence(margin),
        )
        if design.kind == "stratified":
            new = replace(
                new, method=INTERACTION_METHOD, p_value=found_cells.p_two_sided(), p_exact=False
            )
        out[row] = new
    return out


_N_GRID = np.arange(2, 100_001)
"""Runs per level searched by the power figures."""


def _power(h: np.ndarray, n: np.ndarray, alpha: float) -> np.ndarray:
    """Power of the two-sided two-sample test of proportions (normal approximation on
    Cohen's h, statsmodels `NormalIndPower`), broadcast over h and n runs per level."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        found = NormalIndPower().power(h, n, alpha, ratio=1.0)
    out: np.ndarray = np.nan_to_num(np.asarray(found, dtype="float64"), nan=0.0)
    return out


def _equivalence_n(rate: float, margin: float) -> float:
    """Fewest runs per level on the grid at which the score equivalence test succeeds when
    both levels show `rate` (bisection: more runs never weaken it)."""

    def shows(k: int) -> bool:
        c = round(rate * k)
        return tost(c, k, c, k, margin) < ALPHA

    lo, hi = 0, len(_N_GRID) - 1
    if not shows(int(_N_GRID[hi])):
        return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        if shows(int(_N_GRID[mid])):
            hi = mid
        else:
            lo = mid + 1
    return float(_N_GRID[lo])


def proportion_figures(rate: float, n: int, margin: float, alpha: float) -> tuple[float, float]:
    """(minimum detectable difference, runs per level needed) for a binary measure whose
    pooled rate is `rate`, with n runs per level, tested at `alpha`.

    Detectable: the smallest rise above `rate` that the test of proportions detects with 80%
    power (to 0.001). Needed: enough runs both to detect a difference equal to the margin with
    80% power and for the score equivalence test to show equivalence within the margin when
    both levels show the pooled rate.
    """
    if n < 2 or not math.isfinite(rate):
        return math.nan, math.nan
    steps = np.arange(0.001, 1.0 - rate + 1e-12, 0.001)
    h = np.abs(proportion_effectsize(np.minimum(rate + steps, 1.0), rate))
    reach = _power(h, np.full(len(h), float(n)), alpha) >= POWER
    mde = float(steps[int(np.argmax(reach))]) if reach.any() else math.inf
    if not math.isfinite(margin):
        return mde, math.nan
    h_margin = abs(float(proportion_effectsize(min(rate + margin, 1.0), rate)))
    ok = _power(np.full(len(_N_GRID), h_margin), _N_GRID.astype(float), alpha) >= POWER
    detect = float(_N_GRID[int(np.argmax(ok))]) if ok.any() else math.inf
    return mde, max(detect, _equivalence_n(rate, margin))


def power_rows(
    rows: list[dict[str, object]], cells: Sequence[int], levels: pd.DataFrame, alpha: float
) -> None:
    """Replace the t-approximated minimum detectable effect and seeds needed of the binary
    rows (method from this module) by `proportion_figures`, at the per-test level of the
    strictest Holm step of their family; `cells` per row as in `verdicts.finish`."""
    sizes: dict[object, int] = {}
    for row in rows:
        if not math.isnan(float(str(row["p_value"]))):
            sizes[row["family"]] = sizes.get(row["family"], 0) + 1
    means = {(str(r["measure"]), str(r["level"])): float(r["mean"]) for _, r in levels.iterrows()}
    for row, k in zip(rows, cells, strict=True):
        if row["method"] not in (PAIRED_METHOD, INDEPENDENT_METHOD, STRATIFIED_METHOD):
            continue
        a = means.get((str(row["measure"]), str(row["level_a"])), math.nan)
        b = means.get((str(row["measure"]), str(row["level_b"])), math.nan)
        n = int(str(row["n_pairs"])) or min(int(str(row["n_a"])), int(str(row["n_b"])))
        per_test = alpha / max(sizes.get(row["family"], 1), 1)
        if row["family"] == "quality":
            per_test = alpha
        mde, needed = proportion_figures((a + b) / 2, n, float(str(row["margin"])), per_test)
        # the exact test cannot reach per_test at all with these runs: nothing is detectable
        row["mde"] = math.inf if float(str(row["min_p"])) > per_test else mde
        row["seeds_needed"] = float(math.ceil(needed / k)) if math.isfinite(needed) else needed
