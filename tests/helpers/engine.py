"""Shared helpers for engine tests: fake models that answer like scripted policies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage

from agents.fake_model import FakeChatModel
from agents.models import ResolvedModel, StructuredMode
from agents.scripted import ScriptedPolicy
from scenarios.library import parse_scenario
from scenarios.schema import Scenario

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


def policy_model(policy: str, latency_s: float = 0.0, **kw: Any) -> FakeChatModel:
    """A fake model answering as `policy`, recording its calls."""
    return FakeChatModel(responder=policy_responder(policy, **kw), latency_s=latency_s)


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
