"""Simulated dyads with known dynamics, for the calibration of the reaction fits.

Used by benchmarks/bench_reaction_pooled.py and the tests; not by scoring.

Systems (arms of x and y, one row per run):
  stable     reactive, x(t) = x + k*y - m*x + g_x + e with k = 0.10, m = 0.30 (both sides),
             spectral radius 0.8; grievances 5 + N(0, 1) per run and side
  explosive  reactive, k = 0.15, m = 0.05, spectral radius 1.10; grievances 1 + N(0, 1)
  random     independent random arming, growth uniform -5..+10% a round (no reaction)
  fixed      fixed rates of 3, 5 or 10% a round per run and side, with 1% noise (no reaction)
  fixed_sides fixed rates of 10% for x and 3% for y in every run, 1% noise (no reaction)
Reactive systems start at uniform 50-150 (x) and 20-100 (y) with noise sd 1; the others start
at 100 and 80 and round arms to 6 decimals like records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from dilemma.evaluation.reaction_pooled import reaction_rows

TRUE_K = {"stable": 0.10, "explosive": 0.15}
"""The true reaction coefficient of the reactive systems (0 for the others)."""
TRUE_FATIGUE = {"stable": 0.30, "explosive": 0.05, "random": -0.025}
"""The true fatigue -c where one exists: the reactive systems' m, and for random arming minus
the mean growth rate (the arms change is own * g with E[g] = 2.5%). The fixed-rate systems have
a different own-level coefficient per run or side, so none."""
SYSTEMS = ("stable", "explosive", "random", "fixed", "fixed_sides")
_REACTIVE = {"stable": (0.10, 0.30, 5.0), "explosive": (0.15, 0.05, 1.0)}


def simulate(kind: str, runs: int, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Arms levels of `runs` dyads of one system, shape (2, runs, rounds + 1)."""
    levels = np.empty((2, runs, rounds + 1))
    if kind in _REACTIVE:
        k, m, g = _REACTIVE[kind]
        levels[0, :, 0] = rng.uniform(50.0, 150.0, runs)
        levels[1, :, 0] = rng.uniform(20.0, 100.0, runs)
        grievance = g + rng.normal(0.0, 1.0, (2, runs))
        e = rng.normal(0.0, 1.0, (2, runs, rounds))
        for t in range(rounds):
            x, y = levels[0, :, t], levels[1, :, t]
            levels[0, :, t + 1] = x + k * y - m * x + grievance[0] + e[0, :, t]
            levels[1, :, t + 1] = y + k * x - m * y + grievance[1] + e[1, :, t]
        return levels
    if kind == "random":
        growth = rng.uniform(-5.0, 10.0, (2, runs, rounds))
    elif kind == "fixed":
        rates = rng.choice([3.0, 5.0, 10.0], (2, runs, 1))
        growth = rates + rng.normal(0.0, 1.0, (2, runs, rounds))
    elif kind == "fixed_sides":
        growth = np.array([10.0, 3.0])[:, None, None] + rng.normal(0.0, 1.0, (2, runs, rounds))
    else:
        raise ValueError(f"unknown system {kind!r}; systems: {', '.join(SYSTEMS)}")
    levels[:, :, 0] = [[100.0], [80.0]]
    for t in range(rounds):
        levels[:, :, t + 1] = np.round(levels[:, :, t] * (1 + growth[:, :, t] / 100), 6)
    return levels


def pair_rows(levels: np.ndarray, prefix: str = "r") -> pd.DataFrame:
    """Pair rows (as `dilemma.evaluation.pairs.pair_rounds` gives them) of simulated dyads.

    Every round is answered and war-free; states are x and y; run ids are prefix + number.
    """
    _, runs, cols = levels.shape
    run = np.repeat([f"{prefix}{n}" for n in range(runs)], cols - 1)
    rnd = np.tile(np.arange(1, cols), runs)
    growth = np.diff(levels, axis=2) / levels[:, :, :-1] * 100.0
    frames = []
    for own, rival, i, j in ((0, 1, "x", "y"), (1, 0, "y", "x")):
        frames.append(
            pd.DataFrame(
                {
                    "run_id": run,
                    "round": rnd,
                    "i": i,
                    "j": j,
                    "fallback_i": False,
                    "arms_before_i": levels[own, :, :-1].ravel(),
                    "arms_after_i": levels[own, :, 1:].ravel(),
                    "arms_before_j": levels[rival, :, :-1].ravel(),
                    "growth_pct_i": growth[own].ravel(),
                    "growth_pct_j": growth[rival].ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def simulated_rows(levels: np.ndarray, prefix: str = "r") -> pd.DataFrame:
    """`reaction_rows` of simulated dyads (see `pair_rows`)."""
    return reaction_rows(pair_rows(levels, prefix))
