"""Reply schemas under each communication rule: a closed channel's fields are not asked for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dilemma.core.decision import (
    decision_channels,
    decision_reply_model,
    messages_open,
    negotiation_reply_model,
    schema_text,
)


@pytest.mark.parametrize(
    ("rule", "statement", "proposals", "messages"),
    [
        ("full", True, True, True),
        ("public", True, True, False),
        ("private", False, True, True),
        ("none", False, False, False),
    ],
)
def test_decision_schema_holds_only_open_channels(
    rule: str, statement: bool, proposals: bool, messages: bool
) -> None:
    channels = decision_channels(rule)
    assert messages_open(rule) is messages
    schema = decision_reply_model(["B", "C"], 10, ["P1-B-1"], channels)
    fields = set(schema.model_fields)
    assert ("public_statement" in fields) is statement
    assert ("proposals" in fields) is proposals
    assert ("responses" in fields) is proposals
    text = schema_text(schema).lower()
    assert ("statement" in text) is statement
    assert ("proposal" in text) is proposals


def test_a_reply_with_a_closed_channel_is_refused() -> None:
    schema = decision_reply_model(["B"], 10, [], decision_channels("private"))
    reply = {
        "threat": [{"state": "B", "level": 3, "reason": "r"}],
        "arms_change": 0,
        "action": "status_quo",
        "target": "B",
        "private_intent": [{"state": "B", "intent": "defensive"}],
        "perceived_intent": [{"state": "B", "intent": "defensive"}],
        "forecast": [{"state": "B", "arms_change": 0}],
        "signals": [{"state": "B", "rung": "status_quo"}],
    }
    schema.model_validate(reply)
    with pytest.raises(ValidationError, match="public_statement"):
        schema.model_validate({**reply, "public_statement": "hello"})


def test_private_messages_go_to_one_named_state() -> None:
    schema = negotiation_reply_model(["B", "C"], bilateral=True)
    schema.model_validate({"messages": [{"to": ["B"], "text": "hi"}]})
    for to in (["all"], ["B", "C"]):
        with pytest.raises(ValidationError):
            schema.model_validate({"messages": [{"to": to, "text": "hi"}]})
    negotiation_reply_model(["B", "C"]).model_validate({"messages": [{"to": ["all"], "text": "x"}]})
