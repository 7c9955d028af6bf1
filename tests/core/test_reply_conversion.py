"""A reply validated by its reply model becomes the persisted decision or negotiation reply
without a second validation, and exactly as validating its JSON again would make it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dilemma.core.decision import (
    MAX_MESSAGES,
    MAX_PROPOSALS,
    MESSAGE_MAX,
    REASON_MAX,
    STATEMENT_MAX,
    Channels,
    Decision,
    Intent,
    NegotiationReply,
    ProposalKind,
    decision_reply_model,
    negotiation_reply_model,
    to_decision,
    to_negotiation,
)
from dilemma.core.ladder import Action, Rung

OTHERS = ["Borea", "Cyra"]
CAP = 5
_TEXT = st.text(max_size=30)


def _per_state(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.tuples(*(st.fixed_dictionaries({"state": st.just(s), **fields}) for s in OTHERS)).map(
        list
    )


_PCT = st.integers(-CAP, CAP)
_DECISION = st.fixed_dictionaries(
    {
        "threat": _per_state(level=st.integers(0, 10), reason=st.text(max_size=REASON_MAX)),
        "arms_change": _PCT,
        "action": st.sampled_from(list(Action)).map(lambda a: a.value),
        "target": st.sampled_from(OTHERS),
        "private_intent": _per_state(intent=st.sampled_from([i.value for i in Intent])),
        "perceived_intent": _per_state(intent=st.sampled_from([i.value for i in Intent])),
        "forecast": _per_state(arms_change=_PCT),
        "signals": _per_state(rung=st.sampled_from([r.value for r in Rung])),
    },
    optional={
        "proposals": st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from([k.value for k in ProposalKind]),
                    "parties": st.lists(st.sampled_from(OTHERS), min_size=1, max_size=2),
                },
                optional={"value": st.integers(0, CAP)},
            ),
            max_size=MAX_PROPOSALS,
        ),
        "responses": st.lists(
            st.fixed_dictionaries(
                {"proposal": st.sampled_from(["p1", "p2"]), "accept": st.booleans()}
            ),
            max_size=2,
        ),
        "public_statement": st.text(max_size=STATEMENT_MAX),
        "announced_next_arms_change": st.none() | _PCT,
        "private_rationale": _TEXT,
    },
)


def _same(converted: BaseModel, validated: BaseModel) -> None:
    assert type(converted) is type(validated)
    assert converted == validated
    assert converted.model_dump_json() == validated.model_dump_json()
    assert converted.model_fields_set == validated.model_fields_set


@settings(max_examples=150, deadline=None)
@given(data=_DECISION, statement=st.booleans(), proposals=st.booleans())
def test_a_validated_decision_reply_converts_as_validating_it_again_would(
    data: dict[str, Any], statement: bool, proposals: bool
) -> None:
    model = decision_reply_model(OTHERS, CAP, ["p1", "p2"], Channels(statement, proposals))
    if not statement:
        data.pop("public_statement", None)
    if not proposals:
        data.pop("proposals", None)
        data.pop("responses", None)
    reply = model.model_validate(data)
    _same(to_decision(reply), Decision.model_validate(reply.model_dump(mode="json")))


@settings(max_examples=100, deadline=None)
@given(
    messages=st.lists(
        st.fixed_dictionaries(
            {
                "to": st.lists(st.sampled_from(["all", *OTHERS]), min_size=1, max_size=3),
                "text": st.text(min_size=1, max_size=MESSAGE_MAX),
            }
        ),
        max_size=MAX_MESSAGES,
    )
)
def test_a_validated_negotiation_reply_converts_as_validating_it_again_would(
    messages: list[dict[str, Any]],
) -> None:
    reply = negotiation_reply_model(OTHERS).model_validate({"messages": messages})
    _same(to_negotiation(reply), NegotiationReply.model_validate(reply.model_dump(mode="json")))


class _Custom(BaseModel):
    """A reply model not made by decision_reply_model: its replies are validated again."""

    threat: list[dict[str, Any]]
    arms_change: int
    action: str
    private_intent: list[dict[str, Any]]
    forecast: list[dict[str, Any]]


def test_a_reply_of_another_model_is_validated_with_the_persisted_model() -> None:
    reply = _Custom(
        threat=[{"state": "Borea", "level": 3, "reason": "r"}],
        arms_change=2,
        action="status_quo",
        private_intent=[{"state": "Borea", "intent": "defensive"}],
        forecast=[{"state": "Borea", "arms_change": 1}],
    )
    decision = to_decision(reply)
    assert isinstance(decision, Decision) and decision.action is Action.STATUS_QUO
    bad = reply.model_copy(update={"action": "not an action"})
    with pytest.raises(ValidationError, match="action"):
        to_decision(bad)
