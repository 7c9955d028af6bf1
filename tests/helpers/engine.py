"""Shared helpers for engine tests: fake models that answer like scripted policies."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from dilemma.scenarios.library import parse_scenario
from dilemma.scenarios.schema import Scenario
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from dilemma.models.fake import FakeChatModel
from dilemma.models.registry import ResolvedModel, StructuredMode
from dilemma.models.scripted import ScriptedPolicy

EVENT_KINDS = frozenset(
    {"observation", "llm_call", "negotiation", "decision", "resolution", "round_end", "run_end"}
)
"""Every event kind a complete run writes after its header."""


def fake(chat: Any, spec: str = "fake") -> ResolvedModel:
    """Wrap a chat model as a resolved model that answers JSON in text."""
    return ResolvedModel(
        spec=spec,
        provider="fake",
        model=spec,
        chat=chat,
        structured=StructuredMode.JSON_TEXT,
        params={},
    )


def policy_responder(
    policy: str, edit: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[list[BaseMessage]], str]:
    """A responder giving a scripted policy's reply, optionally edited."""
    scripted = ScriptedPolicy(policy=policy)

    def respond(messages: list[BaseMessage]) -> str:
        reply = json.loads(scripted._answer(messages))
        if edit is not None:
            edit(reply)
        return json.dumps(reply)

    return respond


class HeldChatModel(FakeChatModel):
    """A FakeChatModel whose async calls each run inside `hold()` (see tests/helpers/clock.py).

    A gate can count the calls in flight, or hold a call open until the test lets go, so tests
    of concurrency and cancellation wait on events instead of sleeping.
    """

    hold: Callable[[], AbstractAsyncContextManager[None]] | None = None

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.hold is None:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        async with self.hold():
            return await super()._agenerate(messages, stop, run_manager, **kwargs)


def policy_model(
    policy: str,
    hold: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    **kw: Any,
) -> HeldChatModel:
    """A fake model answering as `policy`, recording its calls; `hold` gates its async calls."""
    return HeldChatModel(responder=policy_responder(policy, **kw), hold=hold)


def make_scenario(states: list[dict[str, Any]], **rules: Any) -> Scenario:
    """A small scenario from state dicts (defaults filled) and rule overrides."""
    full = [
        {
            "name": s["id"],
            "regime": "autocracy",
            "transparency": "transparent",
            "arms": 100,
            "economy": 1000,
            **s,
        }
        for s in states
    ]
    return parse_scenario(
        {"name": "test", "states": full, "rules": {"rounds": 3, "subturns": 1, **rules}},
        "test",
    )


def prompts_of(model: FakeChatModel) -> list[str]:
    """The full text of every call's messages."""
    return ["\n".join(m.text for m in call) for call in model.calls]
