"""Calibration of the Richardson reaction test under the null, and its power on reactive systems.

    python benchmarks/bench_richardson_calibration.py [--dyads 400] [--seed 1]

Simulates dyads that never react to each other (independent random arming, uniform -5..+10% a
round; fixed rates of 3, 5 or 10% a round with 1% noise; both at 10% with 1% noise) and
reactive Richardson systems (stable, rho 0.87; runaway, rho 1.12; noise sd 1), at 8 and 20
rounds, arms rounded like records. Prints, per design: the share of reaction coefficients
significant at 5% for the growth-rate test used by the verdicts (`growth`) and for a t-test of
the Richardson level coefficient (`levels`, the previous definition), and the share of dyads per
verdict and of runaways
marked `mutual_reaction`.
"""

from __future__ import annotations

import argparse

import numpy as np
from dilemma.evaluation.richardson import VERDICTS, array_fits, dynamics

NULLS = ("random", "fixed", "fixed_equal")
REACTIVE = {
    "stable": (0.10, 0.30, 5.0, 0.20, 0.25, 3.0),
    "runaway": (0.20, 0.05, 1.0, 0.15, 0.05, 1.0),
}


def simulate(kind: str, n: int, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Arms levels, shape (2, n, rounds + 1)."""
    levels = np.empty((2, n, rounds + 1))
    if kind in REACTIVE:
        a, m, g, b, nn, h = REACTIVE[kind]
        levels[:, :, 0] = [[100.0], [20.0]]
        e = rng.normal(0.0, 1.0, (2, n, rounds))
        for t in range(rounds):
            x, y = levels[0, :, t], levels[1, :, t]
            levels[0, :, t + 1] = x + a * y - m * x + g + e[0, :, t]
            levels[1, :, t + 1] = y + b * x - nn * y + h + e[1, :, t]
        return levels
    if kind == "random":
        growth = rng.uniform(-5.0, 10.0, (2, n, rounds))
    elif kind == "fixed":
        growth = rng.choice([3.0, 5.0, 10.0], (2, n, 1)) + rng.normal(0.0, 1.0, (2, n, rounds))
    else:
        growth = 10.0 + rng.normal(0.0, 1.0, (2, n, rounds))
    levels[:, :, 0] = [[100.0], [80.0]]
    for t in range(rounds):
        levels[:, :, t + 1] = np.round(levels[:, :, t] * (1 + growth[:, :, t] / 100), 6)
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dyads", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.dyads} dyads per design; shares of reaction coefficients with p < 0.05")
    head = (
        f"{'design':<12} {'rounds':>6} {'growth':>7} {'levels':>7}  "
        + "  ".join(f"{v:>21}" for v in VERDICTS)
        + "  mutual_reaction runaways"
    )
    print(head)
    for kind in (*NULLS, *REACTIVE):
        for rounds in (8, 20):
            lv = simulate(kind, args.dyads, rounds, rng)
            fx, fy = array_fits(lv[0], lv[1])
            growth = np.concatenate([fx["p_react"], fy["p_react"]])
            levels = np.concatenate([fx["p_reaction"], fy["p_reaction"]])
            dyn = dynamics(fx, fy)
            verdict = dyn["verdict"].value_counts(normalize=True)
            mutual = float((dyn["runaway_source"] == "mutual_reaction").mean())
            shares = "  ".join(f"{verdict.get(v, 0.0):>21.3f}" for v in VERDICTS)
            print(
                f"{kind:<12} {rounds:>6} {np.mean(growth < 0.05):>7.3f}"
                f" {np.mean(levels < 0.05):>7.3f}  {shares}  {mutual:>7.3f}"
            )


if __name__ == "__main__":
    main()
