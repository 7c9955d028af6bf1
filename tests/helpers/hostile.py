"""A hostile two-state run for the transcript and report tests: markup, a fallback, then war."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model

INJECTED = "<script>alert(1)</script> we come in peace & <b>mean it</b>"
STATEMENT = "Our <i>intentions</i> are <script>alert(2)</script> peaceful."
RATIONALE = "Strike first while they are weak."


def hostile_editor() -> Any:
    """A's edits: markup in messages and statements, an invalid first decision, then war."""
    decisions = 0

    def edit(reply: dict[str, Any]) -> None:
        nonlocal decisions
        if "messages" in reply:
            reply["messages"] = [{"to": ["all"], "text": INJECTED}]
            return
        decisions += 1
        if decisions == 1:
            reply["arms_change"] = 999  # out of range: with no retries, a flagged fallback
        else:
            reply["action"], reply["target"] = "full_scale_war", "B"
            reply["public_statement"] = STATEMENT
            reply["private_rationale"] = RATIONALE

    return edit


async def play_hostile(out_dir: Path, seed: int = 1) -> Path:
    """A two-state run: A's first decision is flagged, A starts a war in round 2; B hawkish."""
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=4, subturns=1)
    a = policy_model("hawk", edit=hostile_editor())
    b = policy_model("hawk")
    return await play_scenario(
        sc,
        {"A": fake(a, "fake-a"), "B": fake(b, "fake-b")},
        RunConfig(seed=seed, out_dir=out_dir, max_retries=0, argv=["test"]),
    )
