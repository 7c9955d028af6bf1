"""Scoring speed: 100 and 1,000 generated records of 20 rounds x 4 states.

Prints load and scoring time, records per second, and the ratio of the two sizes' times (about
10 when cost grows linearly). Records are written once with the test builder (decision and
negotiation observations, llm_call lines, about 5% fallbacks) into --dir and reused.

    python benchmarks/bench_scoring.py [--dir /tmp/bench-records] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dilemma.evaluation.load import load_tables  # noqa: E402
from dilemma.evaluation.tables import score_tables  # noqa: E402

from tests.helpers.records import random_builder  # noqa: E402

SIZES = (100, 1000)


def ensure_records(folder: Path, n: int) -> list[Path]:
    """The first n generated records in `folder`, writing those missing."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        path = folder / f"bench-{k:05d}.jsonl"
        if not path.exists():
            random_builder(k, n_states=4, rounds=20, chatter=True).write(path)
        paths.append(path)
    return paths


def timed(paths: list[Path]) -> tuple[float, float]:
    """Seconds to load and to score `paths`."""
    t0 = time.perf_counter()
    tables = load_tables(paths)
    t1 = time.perf_counter()
    scores = score_tables(tables)
    t2 = time.perf_counter()
    assert len(scores.runs) == len(paths)
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-scoring-records"))
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    t = time.perf_counter()
    paths = ensure_records(args.dir, max(SIZES))
    size_mb = sum(p.stat().st_size for p in paths) / 1e6 / len(paths)
    print(f"records ready in {time.perf_counter() - t:.1f}s ({size_mb:.2f} MB each)")
    totals: dict[int, float] = {}
    for n in SIZES:
        runs = [timed(paths[:n]) for _ in range(args.repeat)]
        load, scoring = min(runs, key=sum)
        totals[n] = load + scoring
        print(
            f"{n:>5} records: load {load:6.2f}s  score {scoring:6.2f}s  total {totals[n]:6.2f}s"
            f"  -> {n / totals[n]:6.1f} records/s (scoring alone {n / scoring:7.1f}/s)"
        )
    small, large = SIZES
    print(
        f"time ratio {large}/{small}: {totals[large] / totals[small]:.2f}"
        f" (linear = {large / small:.0f})"
    )


if __name__ == "__main__":
    main()
