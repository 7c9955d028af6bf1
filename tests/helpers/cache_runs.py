"""Sweeps of a repeated experiment on fake models, for the response-cache tests: a model whose
every reply differs, one that must never be called, and the runs and resolver that use them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from dilemma.experiments.spec import RunSpec, expand, load_experiment
from dilemma.models.fake import FakeChatModel
from dilemma.models.types import ResolvedModel
from tests.helpers.engine import fake, policy_model

# Both states transparent: round 1 shows every seed exactly the same prompt, the case where a
# cache keyed by messages alone handed the first seed's reply to every other seed.
REPEATS = """
name: repeats
scenarios: [two-rivals]
rounds: 3
model: fake:noisy
factors:
  transparency: [[transparent, transparent]]
repeats: 4
"""


def noisy_model() -> FakeChatModel:
    """A deliberately non-deterministic model: every call gets a different valid reply.

    It answers as the dove policy, with the arms change and the words of every reply drawn from
    a counter shared by all calls, so no two calls ever get the same reply.
    """
    counter = itertools.count(1)

    def vary(reply: dict[str, Any]) -> None:
        n = next(counter)
        if "arms_change" in reply:  # a decision
            reply["arms_change"] = n % 7 - 3
            reply["public_statement"] = f"Call {n}."
        else:
            reply["messages"] = [{"to": ["all"], "text": f"Message {n}."}]

    return policy_model("dove", edit=vary)


def silent_model() -> FakeChatModel:
    """A model with nothing to say: any call that reaches it fails the run."""
    return FakeChatModel()


def runs_of(tmp_path: Path) -> list[RunSpec]:
    path = tmp_path / "exp.yaml"
    path.write_text(REPEATS)
    return expand(load_experiment(path), path)


def resolver_for(chat: FakeChatModel) -> Any:
    def resolve(run: RunSpec) -> dict[str, ResolvedModel]:
        return {sid: fake(chat, spec) for sid, spec in run.models.items()}

    return resolve
