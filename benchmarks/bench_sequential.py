"""False `changes` under the null with planned looks, and with unplanned ones.

Simulates experiments with no effect (tests.helpers.sequential_null: 2 cells x 40 seeds, four
primary measures) and compares each at 10, 20 and 40 seeds per cell: with a sequential plan
(alpha spending: each look at its nominal level) and without (alpha at every look, as
"compare, add seeds, compare" does). Prints the share of experiments with `changes` at any look.

    python benchmarks/bench_sequential.py [--experiments 200] [--spending obrien_fleming]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.sequential_null import LOOKS, null_rates  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--spending", choices=["obrien_fleming", "pocock"], default="obrien_fleming"
    )
    args = parser.parse_args()
    planned, unplanned = null_rates(args.experiments, args.seed, args.spending)
    looks = "/".join(str(x) for x in LOOKS)
    print(
        f"{args.experiments} null experiments, looks at {looks} seeds per cell:"
        f" 'changes' at any look {planned:.1%} with the {args.spending} plan,"
        f" {unplanned:.1%} comparing at alpha at every look"
    )


if __name__ == "__main__":
    main()
