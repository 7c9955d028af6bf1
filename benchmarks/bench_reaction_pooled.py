"""Calibration of the pooled reaction fit (dilemma.evaluation.reaction_pooled).

    python benchmarks/bench_reaction_pooled.py [--sims 500] [--runs 20] [--rounds 8] [--seed 1]

Each simulation is one condition: `--runs` dyads of `--rounds` rounds of one system of
dilemma.evaluation.reaction_sim. Prints per system: the share of pooled fits that call a
significant reaction (k = 0 rejected at 5%: power for the reactive systems, the null rate for
the others), the coverage of the true k by the 95% interval (jackknife CV3, the one reported)
and by the CR1 interval (statsmodels' cluster-robust covariance, t(G - 1)), and, for
comparison, the share of single runs whose per-run reaction test (the growth-rate test of
dilemma.evaluation.reaction) rejects for x's equation.
"""

from __future__ import annotations

import argparse

import numpy as np
from dilemma.evaluation.reaction_pooled import pooled_reaction
from dilemma.evaluation.reaction_sim import SYSTEMS, TRUE_K, pair_rows, simulate, simulated_rows
from dilemma.evaluation.richardson import directed_fits
from scipy import stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    q = stats.t.ppf(0.975, args.runs - 1)
    print(f"{args.sims} simulated conditions of {args.runs} runs x {args.rounds} rounds per system")
    print(f"{'system':<12} {'true k':>6} {'pooled p<.05':>12} {'cover CV3':>9} "
          f"{'cover CR1':>9} {'insufficient':>12} {'single run p<.05':>16}")  # fmt: skip
    for kind in args.systems.split(","):
        k = TRUE_K.get(kind, 0.0)
        reject = cover = cover_cr1 = insufficient = 0
        single: list[bool] = []
        for _ in range(args.sims):
            levels = simulate(kind, args.runs, args.rounds, rng)
            fit = pooled_reaction(simulated_rows(levels))
            if not fit["identified"]:
                insufficient += 1
                continue
            reject += fit["p_k"] < 0.05
            cover += fit["ci_low"] <= k <= fit["ci_high"]
            cover_cr1 += abs(fit["k"] - k) <= q * fit["se_k_cr1"]
            per_run = directed_fits(pair_rows(levels[:, :1]))
            single += list(per_run.loc[per_run["i"] == "x", "p_react"] < 0.05)
        fitted = max(args.sims - insufficient, 1)
        print(
            f"{kind:<12} {k:>6.2f} {reject / fitted:>12.3f} {cover / fitted:>9.3f}"
            f" {cover_cr1 / fitted:>9.3f} {insufficient / args.sims:>12.3f}"
            f" {np.mean(single):>16.3f}"
        )


if __name__ == "__main__":
    main()
