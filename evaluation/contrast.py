"""One contrast between two conditions, and the settings every comparison test shares.

`Contrast` is what `dilemma.evaluation.inference` returns per measure; the constants are the
levels, permutation counts and bootstrap sizes used by the tests and power figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ALPHA = 0.05
POWER = 0.80
EXACT_RUNS = 40
"""Most values (pairs, or runs of both levels together) whose relabellings are all counted:
permutation p-values are exact up to this size (`dilemma.evaluation.exact`)."""
N_PERMUTATIONS = 2_000_000
"""Most random relabellings of one Monte Carlo p-value (`dilemma compare --permutations`): the
sequential Monte Carlo of `dilemma.evaluation.montecarlo` stops earlier once the verdict cannot
move."""
N_FIRST = 10_000
"""Random relabellings of the first Monte Carlo batch (every p-value gets them)."""
N_BOOT = 9_999

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Contrast:
    """One measure's contrast between two conditions (a - b)."""

    design: str
    method: str
    n_a: int
    n_b: int
    n_pairs: int
    estimate: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    p_exact: bool
    p_mc_se: float
    n_resamples: int
    min_p: float
    p_equivalence: float
    sd: float
    df: float
    p_mc_settled: bool = True
    """False when a Monte Carlo p-value is still within its error of a threshold at the cap."""

    def row(self) -> dict[str, Any]:
        """The fields as a flat dict (one row of a results table)."""
        return dict(self.__dict__)


def empty_contrast(design: str, method: str, n_a: int, n_b: int, n_pairs: int) -> Contrast:
    """A contrast with no estimate and no test (too few runs for the design)."""
    nan = math.nan
    return Contrast(
        design, method, n_a, n_b, n_pairs, nan, nan, nan, "none", nan, False, nan, 0, nan, nan,
        nan, nan,
    )  # fmt: skip
