"""Across runs: does a factor change behaviour? Three verdicts, each one earned by a test.

For each pair of levels of the factor, every measure gets a contrast (level a - level b) from
`dilemma.evaluation.inference`: paired by seed when every run has a partner at the other level
with the same seed and the same other conditions (sweeps share seeds across levels: common random
numbers), two-sample when nothing else varies, stratified by the other conditions otherwise
(never pooled over them). Binary measures (war) get exact tests, exact intervals and an
equivalence test for proportions instead (`dilemma.evaluation.binary`). Only finished runs
with a level of the factor are compared; the others are counted (`dilemma.evaluation.selection`).

Measures come in three families (`dilemma.evaluation.measure_sets`): primary measures decide the
verdict, with Holm's correction over primary measures x level pairs (statsmodels
`multipletests`); secondary measures are reported with their own Holm correction; data-quality
measures are reported uncorrected and raise a warning when they differ between levels.

- `changes`: some primary contrast is significant after correction.
- `equivalent`: every primary contrast is shown to lie within its margin by two one-sided tests
  at alpha (an intersection-union test: no correction needed for the family).
- `inconclusive`: neither. The summary gives the minimum detectable effect at the current number
  of seeds and the seeds per cell needed for 80% power at the margins. A non-significant test
  alone never says "no change".

`compare(..., interaction=G)` also tests the by x G interaction (difference of differences); the
main effect is tested exactly as without it.

The parts: run conditions from record headers in `dilemma.evaluation.conditions`, the choice of
design per contrast in `dilemma.evaluation.designs`, the tests in `dilemma.evaluation.inference`,
Holm correction, verdicts and their wording in `dilemma.evaluation.verdicts`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from dilemma.evaluation import binary, inference
from dilemma.evaluation.conditions import (
    CompareError,
    condition_columns,
    conditions,
    declared,
    factors_of,
    unknown_factor,
    with_conditions,
)
from dilemma.evaluation.contrast import ALPHA, N_BOOT, N_PERMUTATIONS, Contrast
from dilemma.evaluation.designs import (
    RunArrays,
    TestSettings,
    hedges_g,
    interaction_contrast,
    two_levels,
)
from dilemma.evaluation.measure_sets import (
    DEFAULT_MARGINS,
    DEFAULT_PRIMARY,
    DEFAULT_SECONDARY,
    QUALITY,
)
from dilemma.evaluation.selection import LeftOut, runs_note, select_runs, with_level
from dilemma.evaluation.sequential import Look, current_look
from dilemma.evaluation.sequential import seeds_per_cell as count_seeds
from dilemma.evaluation.survival import HR_MARGIN, OUTCOMES, SurvivalResult, survival_contrasts
from dilemma.evaluation.verdicts import (
    COLUMNS,
    QUALITY_DIFF,
    VERDICTS,
    Verdict,
    contrast_rows,
    finish,
    mc_warnings,
    primary_rows,
    quality_warnings,
    rule_warnings,
    summary,
    verdict_of,
)

from dilemma.records.schema import SequentialPlan

__all__ = [
    "DEFAULT_MEASURES",
    "QUALITY_DIFF",
    "VERDICTS",
    "CompareError",
    "Comparison",
    "Interaction",
    "LeftOut",
    "Verdict",
    "compare",
    "condition_columns",
    "conditions",
    "declared",
    "hedges_g",
    "resolve_settings",
    "with_conditions",
]

DEFAULT_MEASURES: tuple[str, ...] = (*DEFAULT_PRIMARY, *DEFAULT_SECONDARY, *QUALITY)
"""Every measure `compare` reports by default, primary first."""


@dataclass(frozen=True)
class Interaction:
    """The by x within interaction: differences of differences per measure, and a verdict."""

    by: str
    within: str
    contrasts: pd.DataFrame
    verdict: Verdict
    summary: str
    n_runs: int = 0
    """Runs in the interaction's contrasts (those with a level of both factors)."""
    left_out: tuple[LeftOut, ...] = ()
    """Runs of the main effect's comparison left out of the interaction, and why."""


@dataclass(frozen=True)
class Comparison:
    """Per-level summaries, pairwise contrasts and the verdict for one factor."""

    by: str
    levels: pd.DataFrame
    pairs: pd.DataFrame
    verdict: Verdict
    summary: str
    primary: tuple[str, ...]
    margins: dict[str, float]
    alpha: float = ALPHA
    warnings: tuple[str, ...] = ()
    interaction: Interaction | None = None
    designs: tuple[str, ...] = field(default_factory=tuple)
    n_runs: int = 0
    """Runs compared: those with a level of `by` that finished."""
    left_out: tuple[LeftOut, ...] = ()
    """Runs left out of the comparison: how many, and why (`dilemma.evaluation.selection`)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Runs per outcome among those with a level of `by` (finished or not)."""
    look: Look | None = None
    """Where this comparison stands in the experiment's sequential plan; None: no plan."""
    seeds_per_cell: int = 0
    """The most distinct seeds in any cell (level of `by` x other conditions) compared."""
    survival: SurvivalResult | None = None
    """Time to first use of force and to war across the levels (`dilemma.evaluation.survival`):
    Kaplan-Meier curves, log-rank tests, Cox hazard ratios and their own verdicts (apart from
    the main verdict); None when the runs lack the survival columns."""

    @property
    def changes_behaviour(self) -> bool:
        """True when the verdict is `changes`."""
        return self.verdict == "changes"

    @property
    def runs_note(self) -> str:
        """Runs compared, per outcome, and runs left out with the reasons, as one sentence."""
        return runs_note(self.n_runs, self.left_out, self.outcomes)


def resolve_settings(
    primary: Sequence[str] | None, margins: Mapping[str, float] | None
) -> tuple[tuple[str, ...], dict[str, float]]:
    """Primary measures (default DEFAULT_PRIMARY) and margins (declared over defaults)."""
    prim = tuple(primary) if primary else DEFAULT_PRIMARY
    merged = {**DEFAULT_MARGINS, **(margins or {})}
    missing = [m for m in prim if m not in merged]
    if missing:
        raise CompareError(
            f"no equivalence margin for primary measure(s) {', '.join(missing)}: declare"
            " `margins:` in the experiment file or pass --margin MEASURE=VALUE"
        )
    return prim, merged


def _families(
    runs: pd.DataFrame, primary: Sequence[str], secondary: Sequence[str] | None
) -> tuple[list[str], dict[str, str]]:
    missing = [m for m in primary if m not in runs.columns]
    if missing:
        raise CompareError(f"no measure {', '.join(missing)} in these runs")
    second = [
        m
        for m in (DEFAULT_SECONDARY if secondary is None else secondary)
        if m in runs.columns and m not in primary
    ]
    quality = [m for m in QUALITY if m in runs.columns and m not in primary]
    families = (
        dict.fromkeys(primary, "primary")
        | dict.fromkeys(second, "secondary")
        | dict.fromkeys(quality, "quality")
    )
    return list(families), families


@dataclass(frozen=True)
class _Plan:
    """What every contrast of one comparison shares: measures, margins, level, tests."""

    measures: list[str]
    families: dict[str, str]
    margins: dict[str, float]
    alpha: float
    tests: TestSettings


def _level_means(r: RunArrays, by: str, plan: _Plan) -> pd.DataFrame:
    """Mean of every measure per level of `by`, with a 95% interval."""
    level = r.labels[by]
    out = []
    for lv in sorted(set(level)):
        means = inference.mean_intervals(
            r.values[:, level == lv], plan.tests.rng, plan.tests.n_boot
        )
        for measure, (mean, lo, hi, n, how) in zip(plan.measures, means, strict=True):
            out.append(
                {
                    "level": lv,
                    "measure": measure,
                    "family": plan.families[measure],
                    "n": n,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": how,
                }
            )
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Resampling:
    """The test level and the Monte Carlo sizes of a comparison."""

    alpha: float = ALPHA
    n_boot: int = N_BOOT
    """Bootstrap samples of each interval."""
    plan: SequentialPlan | None = None
    """The experiment's planned looks: the verdict uses the nominal level of the current look
    (from the seeds per cell) instead of alpha (`dilemma.evaluation.sequential`)."""
    n_perm: int = N_PERMUTATIONS
    """Most relabellings of one Monte Carlo test: fewer are drawn once the p-value is settled
    against its thresholds (`dilemma.evaluation.montecarlo`); exact tests enumerate instead."""
    hr_margin: float = HR_MARGIN
    """Equivalence margin of the survival hazard ratios: equivalent within [1/m, m]."""


def holm_steps(
    measures: Sequence[str], families: Mapping[str, str], tests_per_measure: int, alpha: float
) -> np.ndarray:
    """Per measure, the levels its p-value can be compared with: alpha / j for j up to the size
    of its Holm family (`tests_per_measure` level pairs per measure; quality: alpha alone),
    NaN-padded to one matrix."""
    sizes = {
        name: sum(f == name for f in families.values()) * tests_per_measure
        for name in ("primary", "secondary")
    }
    counts = [max(1, sizes.get(families[m], 1)) for m in measures]
    out = np.full((len(measures), max(counts, default=1)), np.nan)
    for i, k in enumerate(counts):
        out[i, :k] = alpha / np.arange(1, k + 1)
    return out


def compare(
    runs: pd.DataFrame,
    by: str,
    primary: Sequence[str] | None = None,
    *,
    secondary: Sequence[str] | None = None,
    margins: Mapping[str, float] | None = None,
    interaction: str | None = None,
    resampling: Resampling | None = None,
    seed: int = 0,
) -> Comparison:
    """Compare run-level measures across the levels of column `by`.

    `primary` measures decide the verdict (default DEFAULT_PRIMARY); `secondary` are reported
    (default DEFAULT_SECONDARY); data-quality measures are always reported when present.
    `margins` override DEFAULT_MARGINS. The other condition columns (every column that is not a
    score, see `condition_columns`) are the strata. `resampling` sets alpha and the numbers of
    permutations and bootstrap samples; `seed` drives them. Runs without a level of `by`, and
    unfinished runs, are left out and counted (`dilemma.evaluation.selection`). The main effect
    is tested the same way with or without `interaction`: the interaction is an addition, never
    a change of design.
    """
    if by not in factors_of(runs):
        raise unknown_factor(runs, by, "--by")
    if interaction is not None and interaction not in factors_of(runs):
        raise unknown_factor(runs, interaction, "--interaction")
    if interaction == by:
        raise CompareError(f"--interaction {interaction!r}: the same factor as --by")
    prim, merged = resolve_settings(primary, margins)
    measures, families = _families(runs, prim, secondary)
    chosen = select_runs(runs, by)
    runs = chosen.runs
    strata = condition_columns(runs, measures)
    seeds = count_seeds(runs, strata)
    settings = resampling or Resampling()
    alpha, n_boot, n_perm = settings.alpha, settings.n_boot, settings.n_perm
    look = None if settings.plan is None else current_look(settings.plan, seeds, alpha)
    if look is not None:
        alpha = look.nominal_alpha
    margin_arr = np.array([merged.get(m, math.nan) for m in measures], dtype="float64")
    main_strata = [s for s in strata if s != by]
    r = RunArrays.of(runs, measures, [by, *main_strata])
    level = r.labels[by]
    n_pairs = math.comb(len(set(level)), 2)
    tests = TestSettings(
        margin_arr,
        np.random.default_rng(seed),
        n_perm,
        n_boot,
        holm_steps(measures, families, max(n_pairs, 1), alpha),
    )
    plan = _Plan(measures, families, merged, alpha, tests)
    flags = binary.binary_measures(runs, measures)
    level_frame = binary.level_intervals(
        _level_means(r, by, plan), [m for m, f in zip(measures, flags, strict=True) if f]
    )
    rows: list[dict[str, Any]] = []
    contrasts: list[Contrast] = []
    cells: list[int] = []
    designs: list[str] = []
    for a, b in itertools.combinations(sorted(set(level)), 2):
        found, design = two_levels(r, level, (a, b), main_strata, tests)
        sides = (np.flatnonzero(level == a), np.flatnonzero(level == b))
        found = binary.exact_contrasts(found, design, r, sides, main_strata, flags, margin_arr)
        va, vb = r.values[:, level == a], r.values[:, level == b]
        g = [hedges_g(x[~np.isnan(x)], y[~np.isnan(y)]) for x, y in zip(va, vb, strict=True)]
        new = contrast_rows(found, measures, families, merged, {"level_a": a, "level_b": b})
        for row, gi in zip(new, g, strict=True):
            row["hedges_g"] = gi
        rows += new
        contrasts += found
        cells += [design.cells] * len(found)
        designs.append(design.text)
    has_survival = all(c in runs.columns for c in (*OUTCOMES, *OUTCOMES.values()))
    survival = (
        survival_contrasts(runs, by, alpha=alpha, margin=settings.hr_margin)
        if has_survival
        else None
    )
    nothing = f"{by}: fewer than two levels with data; nothing to compare"
    if not rows:
        return Comparison(
            by, level_frame, pd.DataFrame(columns=COLUMNS), "inconclusive", nothing, prim,
            merged, alpha, n_runs=len(runs), left_out=chosen.left_out, outcomes=chosen.outcomes,
            look=look, seeds_per_cell=seeds,
            survival=survival,
        )  # fmt: skip
    finish(rows, contrasts, cells, alpha)
    binary.power_rows(rows, cells, level_frame, alpha)
    prim_rows = primary_rows(rows)
    verdict = verdict_of(prim_rows)
    if all(math.isnan(r["p_value"]) for r in prim_rows):
        text = (
            f"{by}: no primary measure can be tested (too few runs at each level, or in"
            " strata that hold both levels); nothing to compare"
        )
    else:
        text = summary(by, verdict, prim_rows, designs, alpha)
    if look is not None:
        text += f" ({look.note()})"
    notes = rule_warnings(runs) + quality_warnings(rows, alpha) + mc_warnings(prim_rows)
    inter = None
    if interaction is not None:
        inter_strata = [s for s in strata if s not in (by, interaction)]
        inter = _interaction(runs, by, interaction, inter_strata, plan)
    return Comparison(
        by=by,
        levels=level_frame,
        pairs=pd.DataFrame(rows)[COLUMNS],
        verdict=verdict,
        summary=text,
        primary=prim,
        margins={m: merged[m] for m in measures if m in merged},
        alpha=alpha,
        warnings=tuple(notes),
        interaction=inter,
        designs=tuple(dict.fromkeys(designs)),
        n_runs=len(runs),
        left_out=chosen.left_out,
        outcomes=chosen.outcomes,
        look=look,
        seeds_per_cell=seeds,
        survival=survival,
    )


def _interaction(
    runs: pd.DataFrame, by: str, within: str, strata: Sequence[str], plan: _Plan
) -> Interaction:
    """The by x within interaction on the runs that have a level of `within` too."""
    runs, lacking = with_level(runs, within)
    left_out = (lacking,) if lacking else ()
    r = RunArrays.of(runs, plan.measures, [by, within, *strata])
    per_measure = math.comb(len(set(r.labels[by])), 2) * math.comb(len(set(r.labels[within])), 2)
    steps = holm_steps(plan.measures, plan.families, max(per_measure, 1), plan.alpha)
    plan = replace(plan, tests=replace(plan.tests, thresholds=steps))
    flags = binary.binary_measures(runs, plan.measures)
    rows: list[dict[str, Any]] = []
    contrasts: list[Contrast] = []
    cells: list[int] = []
    designs: list[str] = []
    for a in itertools.combinations(sorted(set(r.labels[by])), 2):
        for w in itertools.combinations(sorted(set(r.labels[within])), 2):
            found, design = interaction_contrast(r, (by, a), (within, w), strata, plan.tests)
            found = binary.interaction_contrasts(
                found, design, r, ((by, a), (within, w)), strata, flags, plan.tests.margins
            )
            extra = {"level_a": a[0], "level_b": a[1], "within_a": w[0], "within_b": w[1]}
            rows += contrast_rows(found, plan.measures, plan.families, plan.margins, extra)
            contrasts += found
            cells += [design.cells] * len(found)
            designs.append(design.text)
    subject = f"the {by} x {within} interaction"
    if not rows:
        return Interaction(
            by, within, pd.DataFrame(), "inconclusive",
            f"{subject}: needs two levels of each factor; nothing to compare", len(runs),
            left_out,
        )  # fmt: skip
    columns = [*COLUMNS[:4], "within_a", "within_b", *COLUMNS[4:]]
    finish(rows, contrasts, cells, plan.alpha)
    table = pd.DataFrame(rows)[[c for c in columns if c != "hedges_g"]]
    verdict = verdict_of(primary_rows(rows))
    text = summary(subject, verdict, primary_rows(rows), designs, plan.alpha, interaction=True)
    return Interaction(by, within, table, verdict, text, len(runs), left_out)
