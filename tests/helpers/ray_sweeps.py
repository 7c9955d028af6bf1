"""Helpers of the Ray executor tests: a small experiment and records compared without times."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from dilemma.experiments.spec import RunSpec, expand, load_experiment
from dilemma.models.fake import FakeChatModel
from dilemma.models.types import ResolvedModel
from tests.helpers.engine import fake, policy_model

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


def noisy(run: RunSpec) -> dict[str, ResolvedModel]:
    """A fresh non-deterministic fake model per run (a resolver: picklable, so Ray workers can
    use it): every call gets a different valid reply, as the dove policy with varied words."""
    counter = itertools.count(1)

    def vary(reply: dict[str, Any]) -> None:
        n = next(counter)
        if "arms_change" in reply:  # a decision
            reply["arms_change"] = n % 7 - 3
            reply["public_statement"] = f"Call {n}."
        else:
            reply["messages"] = [{"to": ["all"], "text": f"Message {n}."}]

    chat = policy_model("dove", edit=vary)
    return {sid: fake(chat, spec) for sid, spec in run.models.items()}


def silent(run: RunSpec) -> dict[str, ResolvedModel]:
    """A model with nothing to say (a resolver): any call that reaches it fails the run."""
    chat = FakeChatModel()
    return {sid: fake(chat, spec) for sid, spec in run.models.items()}
