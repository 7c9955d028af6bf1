"""Builders of valid replies and fake-model plumbing shared by the engine-level tests.

`valid_decision(["B"])` is a decision reply that validates against
`decision_reply_model(["B"], cap, [])` for any cap >= 2; override any field with keyword arguments
(`valid_decision(["B"], arms_change=5, action="sanctions", target="B")`). `valid_negotiation`
builds a negotiation reply. `responder(...)` turns builders into a FakeChatModel responder that
answers by phase, so a fake model can play any number of rounds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dilemma.agents.prompt_setup import OBSERVATION_OPEN, extract_observation
from dilemma.scenarios.library import parse_scenario
from dilemma.scenarios.schema import Scenario
from langchain_core.messages import BaseMessage, HumanMessage

from dilemma.core.observation import Observation, Phase


def valid_decision(others: list[str], **overrides: Any) -> dict[str, Any]:
    """A complete, valid decision reply toward `others`; keyword arguments replace fields."""
    reply: dict[str, Any] = {
        "threat": [{"state": s, "level": 3, "reason": f"{s} keeps its arms level"} for s in others],
        "arms_change": 1,
        "action": "status_quo",
        "target": others[0],
        "proposals": [],
        "public_statement": "We keep the peace.",
        "announced_next_arms_change": None,
        "private_rationale": "Nothing has changed.",
        "private_intent": [{"state": s, "intent": "defensive"} for s in others],
        "perceived_intent": [{"state": s, "intent": "defensive"} for s in others],
        "forecast": [{"state": s, "arms_change": 0} for s in others],
        "signals": [{"state": s, "rung": "status_quo"} for s in others],
    }
    reply.update(overrides)
    return reply


def valid_negotiation(*texts: str, to: list[str] | None = None) -> dict[str, Any]:
    """A valid negotiation reply: one message per text (to `to`, default everyone)."""
    recipients = ["all"] if to is None else list(to)
    return {"messages": [{"to": recipients, "text": t} for t in texts]}


def last_prompt(messages: list[BaseMessage]) -> str:
    """The user prompt holding the observation (the first human message of a call)."""
    return next(
        m.text for m in messages if isinstance(m, HumanMessage) and OBSERVATION_OPEN in m.text
    )


def observation_of(messages: list[BaseMessage]) -> Observation:
    """The observation a fake model was shown in one call."""
    return extract_observation(last_prompt(messages))


def responder(
    decision: Callable[[Observation], dict[str, Any]] | None = None,
    negotiation: Callable[[Observation], dict[str, Any]] | None = None,
) -> Callable[[list[BaseMessage]], str]:
    """A FakeChatModel responder answering valid replies by phase (overridable per phase)."""

    def answer(messages: list[BaseMessage]) -> str:
        obs = observation_of(messages)
        if obs.phase is Phase.NEGOTIATION:
            reply = negotiation(obs) if negotiation else valid_negotiation("Let us talk.")
        else:
            others = [o.id for o in obs.others]
            reply = decision(obs) if decision else valid_decision(others)
        return json.dumps(reply)

    return answer


PAIR_STATES: list[dict[str, Any]] = [
    {
        "id": "A",
        "name": "Aland",
        "regime": "democracy",
        "transparency": "transparent",
        "arms": 100,
        "economy": 1000,
    },
    {
        "id": "B",
        "name": "Bland",
        "regime": "autocracy",
        "transparency": "secretive",
        "arms": 100,
        "economy": 1000,
    },
]
"""A transparent democracy A and a secretive autocracy B, 100 arms each."""


def two_states(rounds: int = 1, subturns: int = 0, **rules: Any) -> Scenario:
    """A small two-state world (A transparent democracy, B secretive autocracy)."""
    data: dict[str, Any] = {
        "name": "pair",
        "states": [dict(state) for state in PAIR_STATES],
        "rules": {
            "rounds": rounds,
            "subturns": subturns,
            "arms_cap_pct": 10,
            "forewarning_threshold_pct": 3,
            **rules,
        },
    }
    return parse_scenario(data, "pair")


def only_record(out_dir: Path) -> Path:
    """The single record file a run wrote into `out_dir`."""
    files = sorted(out_dir.glob("*.jsonl"))
    assert len(files) == 1, files
    return files[0]
