"""Speed of `compare` on a 2x2 experiment: 20 seeds per cell, 12 primary and secondary measures.

A synthetic run table (tests.helpers.run_tables: 4 primary, 6 secondary and 2 data-quality
measures; factor `f` crossed with `g`, seeds shared across levels) is compared by `f` (paired
within `g`: 40 pairs, Monte Carlo p-values), by `f` with the `f x g` interaction, and with
`g` fixed by a filter (20 pairs, still Monte Carlo). Prints the median wall time of each over
--repeat runs, and the verdicts.

    python benchmarks/bench_compare.py [--repeat 3] [--effect 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from dilemma.evaluation.comparison import compare  # noqa: E402

from tests.helpers.run_tables import synthetic_runs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--effect", type=float, default=0.3, help="shift of level a, in sd")
    args = parser.parse_args()
    table = synthetic_runs(np.random.default_rng(0), 20, effect=args.effect)
    measures = [c for c in table.columns if c not in ("f", "g", "seed")]
    print(f"{len(table)} runs, 2x2 cells x 20 seeds, {len(measures)} measures")
    cases = {
        "compare --by f": lambda seed: compare(table, "f", seed=seed),
        "compare --by f --interaction g": lambda seed: compare(
            table, "f", interaction="g", seed=seed
        ),
        "compare --by f --where g=g1": lambda seed: compare(
            table[table["g"] == "g1"], "f", seed=seed
        ),
    }
    compare(table.head(8), "f")  # imports and first-call setup are not timed
    for name, run in cases.items():
        times = []
        for k in range(args.repeat):
            start = time.perf_counter()
            result = run(k)
            times.append(time.perf_counter() - start)
        extra = (
            f", interaction {result.interaction.verdict}" if result.interaction is not None else ""
        )
        print(
            f"{name:<32} median {statistics.median(times):6.2f} s"
            f" (min {min(times):.2f}, max {max(times):.2f}); verdict {result.verdict}{extra}"
        )


if __name__ == "__main__":
    main()
