"""Do verdicts flip with `--seed`? Flip counts at boundary cases, exact and Monte Carlo.

Each case is a run table whose exact permutation p-value lies a set distance from alpha = 0.05
(tests.helpers.boundary). With 18 pairs (2^18 sign flips) or 12 + 12 runs (2,704,156 splits)
`compare` counts every relabelling (`p_exact`), so no verdict can depend on the seed; with
EXACT_RUNS + 1 pairs (or (EXACT_RUNS + 2) / 2 runs per level) it is beyond the exact limit and
uses sequential conditional Monte Carlo (dilemma/evaluation/montecarlo.py). `compare` runs with
one primary measure (the Holm threshold is alpha itself) over 30 seeds; the flips are the seeds
whose verdict differs from the most common one. Per case it prints the verdicts, the flips, the
mean time of one `compare`, and for Monte Carlo cases the median random draws, how many seeds
ended unsettled (with the warning that names `--permutations`), and the variance of the p-value
relative to plain Monte Carlo with as many draws (p (2 - p) / draws, over p_mc_se^2; median over
seeds). `--n-perm` sets the cap on Monte Carlo draws (default: compare's, 2,000,000).

    python benchmarks/bench_mc_stability.py [--seeds 30] [--n-perm N] [--two-sample]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dilemma.evaluation.contrast import EXACT_RUNS  # noqa: E402

from tests.helpers.boundary import (  # noqa: E402
    MEASURE,
    flips,
    independent_case,
    paired_case,
)

OFFSETS = (-0.001, -0.0004, -0.0002, 0.0002, 0.0004, 0.001)


def run_seeds(table: pd.DataFrame, seeds: int, n_perm: int | None) -> tuple[dict[str, int], str]:
    """Verdict counts of `compare` over seeds 0..seeds-1, and a note on its Monte Carlo p-values
    (median draws, unsettled seeds, variance relative to plain Monte Carlo); "" when exact."""
    from dilemma.evaluation.comparison import Resampling, compare

    settings = Resampling(n_boot=99) if n_perm is None else Resampling(n_boot=99, n_perm=n_perm)
    counts: dict[str, int] = {}
    draws, unsettled, ratios = [], 0, []
    for s in range(seeds):
        v = compare(table, "f", primary=[MEASURE], secondary=[], seed=s, resampling=settings)
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
        row = v.pairs.iloc[0]
        if row["p_exact"]:
            continue
        n, p, se = int(row["n_resamples"]), float(row["p_value"]), float(row["p_mc_se"])
        draws.append(n)
        unsettled += any("within its error" in w for w in v.warnings)
        ratios.append(p * (2 - p) / n / se**2 if se > 0 else np.inf)
    if not draws:
        return counts, ""
    note = (
        f"; median {int(np.median(draws)):,} draws, {unsettled} unsettled,"
        f" variance 1/{np.median(ratios):.0f} of plain Monte Carlo's"
    )
    return counts, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--n-perm", type=int, default=None)
    parser.add_argument("--two-sample", action="store_true", help="also two-sample cases")
    args = parser.parse_args()
    beyond, per_level = EXACT_RUNS + 1, EXACT_RUNS // 2 + 1
    kinds = [
        ("paired, 18 pairs, exact", paired_case, 18),
        (f"paired, {beyond} pairs, Monte Carlo", paired_case, beyond),
    ]
    if args.two_sample:
        kinds += [
            ("two-sample, 12 + 12, exact", independent_case, 12),
            (f"two-sample, {per_level} + {per_level}, Monte Carlo", independent_case, per_level),
        ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"cap {args.n_perm or 'default'}; {args.seeds} seeds per case; load average {load}")
    for name, make, n in kinds:
        for k, offset in enumerate(OFFSETS):
            table, p = make(100 + k, n, 0.05 + offset)
            start = time.perf_counter()
            counts, note = run_seeds(table, args.seeds, args.n_perm)
            each = (time.perf_counter() - start) / args.seeds
            print(
                f"{name}: exact p {p:.5f} (alpha {offset:+.4f}): {counts},"
                f" flips {flips(counts)} of {args.seeds}; {each:.2f} s per compare{note}",
                flush=True,
            )
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
