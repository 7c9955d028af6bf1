"""Do Monte Carlo verdicts flip with `--seed`? Flip counts at boundary cases.

Each case is a run table whose exact permutation p-value lies a set distance from alpha = 0.05
(tests.helpers.boundary: 18 pairs, 2^18 sign flips, or 11 + 11 runs, 705,432 splits; both
above the 200,000 that `compare` enumerates, so its p-values are Monte Carlo). `compare` runs
with one primary measure (the Holm threshold is alpha itself) over 30 seeds; the flips are the
seeds whose verdict differs from the most common one. `--n-perm` sets the cap on relabellings
(default: compare's, 2,000,000); `--n-perm 100000` shows a fixed-size Monte Carlo for contrast.

    python benchmarks/bench_mc_stability.py [--seeds 30] [--n-perm N] [--two-sample]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
    parser.add_argument("--two-sample", action="store_true", help="also the 11 + 11 cases")
    args = parser.parse_args()
    kinds = [("paired, 18 pairs", paired_case, 18)]
    if args.two_sample:
        kinds.append(("two-sample, 11 + 11", independent_case, 11))
    print(f"cap {args.n_perm or 'default'}; {args.seeds} seeds per case")
    for name, make, n in kinds:
        for k, offset in enumerate(OFFSETS):
            table, p = make(100 + k, n, 0.05 + offset)
            counts = verdict_counts(table, range(args.seeds), args.n_perm)
            print(
                f"{name}: exact p {p:.5f} (alpha {offset:+.4f}): {counts},"
                f" flips {flips(counts)} of {args.seeds}",
                flush=True,
            )


if __name__ == "__main__":
    main()
