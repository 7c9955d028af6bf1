"""Folders that mix what researchers keep together: sweeps, plain runs, unfinished runs, junk.

sweep_record(folder, "rt", {"regime": "democracy"}, seed=1)   a run of experiment "rt"
plain_record(folder, seed=2)                                  a run without an experiment
junk_file(folder, "empty")                                    a file no reader can read

Records are written by `tests.helpers.records.RecordBuilder` (a few scripted rounds whose arms
changes and threats vary with the seed and the conditions), so they are valid records.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from dilemma.core.decision import Intent
from dilemma.records.schema import ExperimentInfo
from tests.helpers.records import Move, RecordBuilder

Unfinished = Literal["failed", "interrupted", "stopped"]
JUNK = ("empty", "binary", "not_json", "header_only_garbage")


def _record(
    path: Path,
    run_id: str,
    seed: int,
    experiment: ExperimentInfo | None,
    *,
    rounds: int,
    outcome: Unfinished | None,
    run_end: bool,
) -> Path:
    rng = random.Random(f"{run_id}:{seed}")
    builder = RecordBuilder(
        ["A", "B"], rounds=rounds, run_id=run_id, seed=seed, experiment=experiment
    )
    for _ in range(rounds):
        builder.play(
            {
                s: Move(
                    change=float(rng.randint(-5, 10)),
                    threat=rng.randint(0, 10),
                    intent=rng.choice(list(Intent)),
                    forecast=rng.randint(-5, 10),
                )
                for s in ("A", "B")
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return builder.write(path, run_end=run_end, outcome=outcome)


def sweep_record(
    folder: Path,
    experiment: str,
    conditions: dict[str, str],
    seed: int,
    *,
    rounds: int = 3,
    outcome: Unfinished | None = None,
    run_end: bool = True,
) -> Path:
    """One run of `experiment` under `conditions` (factor -> level), written into `folder`."""
    label = "-".join(f"{k}={v}" for k, v in sorted(conditions.items()))
    run_id = f"{experiment}-{label}-s{seed}"
    info = ExperimentInfo(name=experiment, source=None, runs=None, conditions=conditions)
    return _record(
        folder / f"{run_id}.jsonl", run_id, seed, info, rounds=rounds, outcome=outcome,
        run_end=run_end,
    )  # fmt: skip


def plain_record(
    folder: Path,
    seed: int,
    *,
    rounds: int = 3,
    outcome: Unfinished | None = None,
    run_end: bool = True,
) -> Path:
    """One run made with `dilemma run` (no experiment), written into `folder`."""
    run_id = f"plain-s{seed}-{outcome or ('complete' if run_end else 'open')}"
    return _record(
        folder / f"{run_id}.jsonl", run_id, seed, None, rounds=rounds, outcome=outcome,
        run_end=run_end,
    )  # fmt: skip


def junk_file(folder: Path, kind: str, n: int = 0) -> Path:
    """A `.jsonl` file that is no record: one of JUNK."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"junk-{kind}-{n}.jsonl"
    content = {
        "empty": b"",
        "binary": bytes(range(256)),
        "not_json": b"this is not a record\n",
        "header_only_garbage": b'{"kind":"header","run_id":1}\n{"kind":"run_end"}\n',
    }[kind]
    path.write_bytes(content)
    return path
