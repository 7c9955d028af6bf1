"""A scripted two-state run whose call history has everything a reader looks for: priced calls
with tokens, markup in model text, a re-ask after a validation error, and a fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dilemma.models.registry import ResolvedModel, StructuredMode
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import HeldChatModel, make_scenario, policy_responder
from tests.helpers.priced import realistic_usage

SCRIPT = "<script>document.title='pwned'</script>"
"""Model text that would run if a page did not escape it."""
STATEMENT = f"We are calm. {SCRIPT} & <b>bold</b>"
MESSAGE = f"Talk? {SCRIPT}"
RATIONALE = "Hold & wait <i>quietly</i>."


def _editor() -> Any:
    """A's replies: decisions 1 and 2 invalid (round 1: a re-ask, then a fallback); decision 3
    invalid and decision 4 valid (round 2: a re-ask that succeeds); markup in every text."""
    decisions = 0

    def edit(reply: dict[str, Any]) -> None:
        nonlocal decisions
        if "messages" in reply:
            reply["messages"] = [{"to": ["all"], "text": MESSAGE}]
            return
        decisions += 1
        if decisions in (1, 2, 3):
            reply["arms_change"] = 999
        else:
            reply["public_statement"] = STATEMENT
            reply["private_rationale"] = RATIONALE

    return edit


def _priced(edit: Any) -> ResolvedModel:
    chat = HeldChatModel(responder=policy_responder("dove", edit=edit), usage=realistic_usage)
    return ResolvedModel(
        spec="openai:gpt-4o-mini",
        provider="openai",
        model="gpt-4o-mini",
        chat=chat,
        structured=StructuredMode.JSON_TEXT,
        params={},
    )


async def play_calls(out_dir: Path, rounds: int = 3, seed: int = 3) -> Path:
    """The run (A edited as above, B a plain dove), with one re-ask allowed; its record."""
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=rounds, subturns=1)
    models = {"A": _priced(_editor()), "B": _priced(None)}
    config = RunConfig(seed=seed, out_dir=out_dir, max_retries=1, argv=["test"])
    return await play_scenario(sc, models, config)
