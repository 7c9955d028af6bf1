"""Null calibration of the binary (war) methods for stratified designs and interactions.

For war rates of 0 to 30% (tests.helpers.binary_null): the share of false changes (p < 0.05
with no effect), the coverage of the 95% intervals, and the share of false equivalence claims
(true contrast equal to the 0.1 margin) for

- the exact stratified test and stratified Newcombe interval of a main effect (runs not matched
  by seed, the rates differing between strata),
- the difference of differences with unmatched runs (inverted MOVER-Wilson interval),
- the difference of differences paired by seed across both factors (exact sign-flip test on
  the per-seed differences, MOVER-Wilson interval as if the cells were independent).

    python benchmarks/bench_binary_calibration.py [--reps 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.binary_null import (  # noqa: E402
    NullFigures,
    interaction_paired,
    interaction_unmatched,
    stratified_main,
)

STRATA = ((0.0, 0.0), (0.0, 0.1), (0.05, 0.3), (0.2, 0.3), (0.1, 0.1, 0.3, 0.0))
CELLS = (
    (0.0, 0.0, 0.0, 0.0),
    (0.05, 0.05, 0.05, 0.05),
    (0.1, 0.1, 0.3, 0.3),
    (0.05, 0.15, 0.1, 0.2),
    (0.0, 0.1, 0.2, 0.3),
    (0.3, 0.3, 0.3, 0.3),
)


def line(name: str, fig: NullFigures) -> str:
    return (
        f"{name:<44} false changes {fig.false_changes:6.1%}  coverage {fig.coverage:6.1%}"
        f"  false equivalence {fig.false_equivalence:6.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    start = time.process_time()
    print(f"{args.reps} simulated comparisons per row; load average {os.getloadavg()[0]:.2f}")
    designs = (
        ("stratified {}, {}/level/stratum", stratified_main, STRATA, (10, 25)),
        ("interaction unmatched {}, {}/cell", interaction_unmatched, CELLS, (10, 25)),
        ("interaction paired {}, {} seeds", interaction_paired, CELLS, (20, 40)),
    )
    rows: list[NullFigures] = []
    for label, simulate, settings, sizes in designs:
        for n in sizes:
            for rates in settings:
                rows.append(simulate(rng, rates, n, args.reps))
                print(line(label.format(rates, n), rows[-1]), flush=True)
    worst = (
        max(fig.false_changes for fig in rows),
        min(fig.coverage for fig in rows),
        max(fig.false_equivalence for fig in rows),
    )
    print(
        f"worst: false changes {worst[0]:.1%}, coverage {worst[1]:.1%}, false equivalence"
        f" {worst[2]:.1%}; CPU {time.process_time() - start:.0f} s;"
        f" load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
