"""Helpers of the Ray executor tests: a small experiment and records compared without times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.spec import RunSpec, expand, load_experiment

EXPERIMENT = """
name: on-ray
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
repeats: 3
"""
CALLS_PER_RUN = 12
"""2 states x 3 rounds x (1 negotiation sub-turn + 1 decision)."""
TIMES = ("started_at", "ended_at", "latency_s")


def experiment(folder: Path, text: str = EXPERIMENT) -> tuple[Path, list[RunSpec]]:
    """The experiment file written in `folder`, and its runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "on-ray.yaml"
    path.write_text(text)
    return path, expand(load_experiment(path), path)


def without_times(path: Path) -> list[dict[str, Any]]:
    """A record's events with their times left out."""
    events = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for key in TIMES:
            event.pop(key, None)
        events.append(event)
    return events


def records(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record of a sweep folder (not `failed/`) by run id, without times."""
    return {p.stem: without_times(p) for p in sorted(folder.glob("*.jsonl"))}
