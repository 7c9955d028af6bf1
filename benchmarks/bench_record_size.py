"""Bytes per record: the record as written against writing every event in full.

    python benchmarks/bench_record_size.py [--rounds 10]

Plays scripted runs of the built-in scenarios (seed 1) and reports, per scenario, the record's
bytes as written against the same events written the way version 3 (release 0.2.0) wrote them
(every `llm_call` with its messages and parsed reply in full, no `text` lines, every observation
whole), as a ratio measured in one run, with the share of the record each kind of line takes.
Version 4 (0.3.0) stored long texts once and referred to the observation (two-rivals: 0.37);
version 5 (0.4.0) also writes each observation as a delta against the state's previous one.
Target for a 10-round `two-rivals` run: at most 0.35.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dilemma.scenarios.library import builtin_names, load_builtin  # noqa: E402

from dilemma.records.reader import read_record  # noqa: E402
from dilemma.records.writer import one_line  # noqa: E402
from dilemma.simulation.runner import RunConfig, run_scenario  # noqa: E402

TARGET = 0.35


def full_bytes(path: Path) -> int:
    """The record's bytes with every event written in full, as version 3 wrote them."""
    record = read_record(path)
    lines = [path.read_bytes().split(b"\n", 1)[0]]
    lines += [one_line(e.model_dump_json()).encode() for e in record.events]
    return sum(len(line) + 1 for line in lines)


def kinds(path: Path) -> Counter[str]:
    """Bytes per line kind."""
    shares: Counter[str] = Counter()
    for line in path.read_bytes().splitlines():
        shares[json.loads(line)["kind"]] += len(line) + 1
    return shares


async def measure(scenario: str, rounds: int, out: Path) -> None:
    sc = load_builtin(scenario)
    sc = sc.model_copy(update={"rules": sc.rules.model_copy(update={"rounds": rounds})})
    specs = {s.id: "scripted:reactive" for s in sc.states}
    path = await run_scenario(sc, RunConfig(seed=1, out_dir=out), overrides=specs)
    written, full = path.stat().st_size, full_bytes(path)
    shares = kinds(path)
    top = ", ".join(f"{k} {v / written:.0%}" for k, v in shares.most_common(4))
    ratio = written / full
    met = "met" if ratio <= TARGET else "NOT met"
    target = f" (target <= {TARGET}: {met})" if scenario == "two-rivals" else ""
    print(
        f"{scenario:>20}: {written / 1000:7.1f} kB written, {full / 1000:7.1f} kB in full,"
        f" ratio {ratio:.2f}{target}; {top}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in builtin_names():
            asyncio.run(measure(scenario, args.rounds, Path(tmp) / scenario))


if __name__ == "__main__":
    main()
