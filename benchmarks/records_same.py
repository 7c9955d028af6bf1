"""Check that two checkouts write the same records: a change meant to make writing cheaper must
not change what records hold.

    python benchmarks/records_same.py --compare DIR [--quick]

Plays one sweep (every scenario of the library, scripted policies, one and two negotiation
sub-turns) on DIR's code and on this checkout's, each in a fresh subprocess, and compares the
records line by line. Lines must be byte for byte the same, except for what differs between any
two plays of one sweep: times (`started_at`, `ended_at`, `latency_s`) and the header's
provenance (`provenance`, `package_versions`, `argv`). Prints the number of records and lines
compared and every difference found (at most 20); exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

EXPERIMENT = """
name: same
scenarios: [two-rivals, concert, triad, symmetric, secret-autocracies]
rounds: {rounds}
model: scripted:reactive
factors:
  model: [scripted:hawk, scripted:dove, scripted:tit-for-tat, scripted:reactive, scripted:random,
          scripted:grim, scripted:deceiver]
  rules.subturns: [1, 2]
repeats: {repeats}
"""

VOLATILE = frozenset(
    {"started_at", "ended_at", "latency_s", "provenance", "package_versions", "argv", "created_at"}
)
"""Keys whose values differ between two plays of one sweep on the same code."""


def play(code: Path, out: Path, rounds: int, repeats: int) -> None:
    """The sweep on `code`'s checkout (this process imports it; see checkout_import)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from checkout_import import link_tree

    sys.path.insert(0, str(link_tree(code)))
    import asyncio

    from dilemma.experiments.config import SweepConfig
    from dilemma.experiments.spec import expand, load_experiment
    from dilemma.experiments.sweep import LocalExecutor

    path = out.parent / f"{out.name}.yaml"
    path.write_text(EXPERIMENT.format(rounds=rounds, repeats=repeats))
    runs = expand(load_experiment(path), path)
    stats = asyncio.run(LocalExecutor().run(runs, SweepConfig(out, concurrency=8, argv=["same"])))
    print(json.dumps({"runs": len(runs), "calls": stats.calls}))


def _stable(value: Any) -> Any:
    """`value` without the volatile keys, at any depth."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def differences(before: Path, after: Path) -> tuple[int, int, list[str]]:
    """(records, lines compared, differences) of two folders of records."""
    found: list[str] = []
    names = sorted(p.name for p in before.glob("*.jsonl"))
    if names != sorted(p.name for p in after.glob("*.jsonl")):
        found.append("the two sweeps wrote records of different runs")
    lines = 0
    for name in names:
        old = (before / name).read_bytes().splitlines()
        new = (after / name).read_bytes().splitlines()
        if len(old) != len(new):
            found.append(f"{name}: {len(old)} lines before, {len(new)} after")
        for number, (a, b) in enumerate(zip(old, new, strict=False), 1):
            lines += 1
            if a != b and _stable(json.loads(a)) != _stable(json.loads(b)):
                found.append(f"{name} line {number}:\n  before {a[:300]!r}\n  after  {b[:300]!r}")
    return len(names), lines, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", type=Path, required=True, help="the other checkout")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    parser.add_argument("--play", nargs=2, type=Path, help=argparse.SUPPRESS)  # CODE OUT
    args = parser.parse_args()
    rounds, repeats = (4, 1) if args.quick else (8, 2)
    if args.play:
        play(args.play[0].resolve(), args.play[1], rounds, repeats)
        return
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        outs = []
        for label, code in (("before", args.compare.resolve()), ("after", here)):
            out = Path(tmp) / label
            subprocess.run(
                [sys.executable, __file__, "--compare", str(code), "--play", str(code), str(out)]
                + (["--quick"] if args.quick else []),
                check=True,
                env={**os.environ, "PYTHONPATH": str(code)},
            )
            outs.append(out)
        records, lines, found = differences(*outs)
    print(f"{records} records, {lines} lines compared: {len(found)} differences")
    for text in found[:20]:
        print(text)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
