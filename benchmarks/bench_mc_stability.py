"""Do verdicts flip with `--seed`? Flip counts at boundary cases, exact and Monte Carlo.

Each case is a run table whose exact permutation p-value lies a set distance from alpha = 0.05
(tests.helpers.boundary). With 18 pairs (2^18 sign flips) or 12 + 12 runs (2,704,156 splits)
`compare` counts every relabelling (`p_exact`), so no verdict can depend on the seed; with
EXACT_RUNS + 1 pairs (or (EXACT_RUNS + 2) / 2 runs per level) it is beyond the exact limit and
uses sequential Monte Carlo. `compare` runs with one primary measure (the Holm threshold is
alpha itself) over 30 seeds; the flips are the seeds whose verdict differs from the most common
one. `--n-perm` sets the cap on Monte Carlo relabellings (default: compare's, 2,000,000);
`--n-perm 100000` shows a fixed-size Monte Carlo for contrast.

    python benchmarks/bench_mc_stability.py [--seeds 30] [--n-perm N] [--two-sample]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dilemma.evaluation.contrast import EXACT_RUNS  # noqa: E402

from tests.helpers.boundary import (  # noqa: E402
    flips,
    independent_case,
    paired_case,
    verdict_counts,
)

OFFSETS = (-0.001, -0.0004, -0.0002, 0.0002, 0.0004, 0.001)


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
    print(f"cap {args.n_perm or 'default'}; {args.seeds} seeds per case")
    for name, make, n in kinds:
        for k, offset in enumerate(OFFSETS):
            table, p = make(100 + k, n, 0.05 + offset)
            start = time.perf_counter()
            counts = verdict_counts(table, range(args.seeds), args.n_perm)
            each = (time.perf_counter() - start) / args.seeds
            print(
                f"{name}: exact p {p:.5f} (alpha {offset:+.4f}): {counts},"
                f" flips {flips(counts)} of {args.seeds}; {each:.2f} s per compare",
                flush=True,
            )


if __name__ == "__main__":
    main()
