"""Simulated binary outcomes (war) with a known truth, for the calibration of the stratified and
interaction methods of `dilemma.evaluation.binary_strata` (slow test and benchmark).

Each scenario draws event counts per stratum and cell and reports, over `reps` simulated
comparisons: the share called a change (p < 0.05) when there is none, the share of 95%
intervals covering the true contrast, and the share claiming equivalence within `margin`
(p_equivalence < 0.05) when the true contrast equals the margin. Paired interactions draw one
latent value per seed shared by the four cells (common random numbers), each cell's outcome
being that value plus its own noise above a threshold set for the cell's rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dilemma.evaluation.binary_strata import (
    INTERACTION,
    INTERACTION_LIMITS,
    MAIN,
    Cells,
    stratified_exact_p,
)
from dilemma.evaluation.exact import sign_flip_p
from scipy.stats import norm

ALPHA = 0.05
MARGIN = 0.1


@dataclass(frozen=True)
class NullFigures:
    """Shares over the simulated comparisons (see the module docstring)."""

    false_changes: float
    coverage: float
    false_equivalence: float
    reps: int


def stratified_main(
    rng: np.random.Generator, rates: tuple[float, ...], n: int, reps: int
) -> NullFigures:
    """Two levels with the same rate in each stratum (`rates`, one per stratum), n runs per level
    and stratum, runs not matched: the exact stratified test and the stratified interval."""
    base = np.asarray(rates)
    sizes = np.full((len(base), 2), n)
    shifted = np.minimum(base + MARGIN, 1.0)
    changes = covered = claims = 0
    for _ in range(reps):
        counts = np.column_stack([rng.binomial(n, base), rng.binomial(n, base)])
        changes += stratified_exact_p(counts, sizes) < ALPHA
        lo, hi = Cells(counts, sizes, MAIN).interval()
        covered += lo <= 0 <= hi
        far = np.column_stack([rng.binomial(n, shifted), rng.binomial(n, base)])
        claims += Cells(far, sizes, MAIN).p_equivalence(MARGIN) < ALPHA
    return NullFigures(changes / reps, covered / reps, claims / reps, reps)


def _with_interaction(rates: tuple[float, float, float, float]) -> np.ndarray:
    """The cell rates (a0w0, a1w0, a0w1, a1w1) with the first raised (or, near 1, the second
    lowered) so that the difference of differences is MARGIN."""
    out = np.asarray(rates, dtype=float).copy()
    if out[0] + MARGIN <= 1:
        out[0] += MARGIN
    else:
        out[1] -= MARGIN
    return out


def interaction_unmatched(
    rng: np.random.Generator, rates: tuple[float, float, float, float], n: int, reps: int
) -> NullFigures:
    """Four independent cells of n runs whose rates have no interaction (a0w0 - a1w0 = a0w1 -
    a1w1): the inverted MOVER test and interval of the difference of differences."""
    base = np.asarray(rates, dtype=float)
    truth = float(np.dot(INTERACTION, base))
    sizes = np.full((1, 4), n)
    far_rates = _with_interaction(rates)
    changes = covered = claims = 0
    for _ in range(reps):
        cells = Cells(rng.binomial(n, base)[None, :], sizes, INTERACTION, INTERACTION_LIMITS)
        changes += cells.p_two_sided() < ALPHA
        lo, hi = cells.interval()
        covered += lo <= truth <= hi
        far = Cells(rng.binomial(n, far_rates)[None, :], sizes, INTERACTION, INTERACTION_LIMITS)
        claims += far.p_equivalence(MARGIN) < ALPHA
    return NullFigures(changes / reps, covered / reps, claims / reps, reps)


def _paired_outcomes(
    rng: np.random.Generator, rates: np.ndarray, seeds: int, shared_sd: float
) -> np.ndarray:
    """0/1 outcomes, seeds x 4 cells, sharing one latent value per seed."""
    scale = np.sqrt(1 + shared_sd**2)
    with np.errstate(all="ignore"):
        threshold = np.where(rates > 0, scale * norm.isf(rates), np.inf)
    latent = rng.normal(0, shared_sd, (seeds, 1)) + rng.normal(0, 1, (seeds, 4))
    return (latent > threshold[None, :]).astype(float)


def interaction_paired(
    rng: np.random.Generator,
    rates: tuple[float, float, float, float],
    seeds: int,
    reps: int,
    shared_sd: float = 0.7,
) -> NullFigures:
    """The four cells share seeds: the exact sign-flip test of the per-seed differences of
    differences, and the MOVER interval of the cell proportions."""
    base = np.asarray(rates, dtype=float)
    truth = float(np.dot(INTERACTION, base))
    sizes = np.full((1, 4), seeds)
    far_rates = _with_interaction(rates)
    coefs = np.asarray(INTERACTION)
    changes = covered = claims = 0
    for _ in range(reps):
        y = _paired_outcomes(rng, base, seeds, shared_sd)
        d = y @ coefs
        changes += bool(np.any(d != 0)) and float(sign_flip_p(d[None, :])[0]) < ALPHA
        lo, hi = Cells(
            y.sum(axis=0)[None, :].astype(int), sizes, INTERACTION, INTERACTION_LIMITS
        ).interval()
        covered += lo <= truth <= hi
        far = _paired_outcomes(rng, far_rates, seeds, shared_sd).sum(axis=0)[None, :]
        claims += (
            Cells(far.astype(int), sizes, INTERACTION, INTERACTION_LIMITS).p_equivalence(MARGIN)
            < ALPHA
        )
    return NullFigures(changes / reps, covered / reps, claims / reps, reps)
