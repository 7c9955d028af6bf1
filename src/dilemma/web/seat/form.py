"""The web seat's form: its fields for a turn, and a submitted form turned into a reply.

Pure (no web framework): the form's HTML constraints come from `form_spec`, and the reply built
by `form_reply` is then validated with the turn's pydantic schema (dilemma.agents.human_seat), which
alone decides whether an answer is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dilemma.agents.human_seat import SeatRequest
from dilemma.core.decision import (
    MAX_MESSAGES,
    MAX_PROPOSALS,
    MESSAGE_MAX,
    REASON_MAX,
    STATEMENT_MAX,
    ProposalKind,
)
from dilemma.core.observation import Phase
from dilemma.web.seat.view import ACTIONS, INTENTS

Form = Mapping[str, Sequence[str]]
"""A submitted form: every value of each field name (checkboxes repeat a name)."""


@dataclass(frozen=True)
class FormSpec:
    """What the form of a turn offers, and its bounds."""

    decision: bool
    others: list[str]
    low: int
    high: int
    offers: list[str]
    intents: list[str]
    actions: list[str]
    kinds: list[str]
    proposals: int = MAX_PROPOSALS
    messages: int = MAX_MESSAGES
    reason_max: int = REASON_MAX
    statement_max: int = STATEMENT_MAX
    message_max: int = MESSAGE_MAX


def form_spec(request: SeatRequest) -> FormSpec:
    """The form of one turn: its states, the arms range from the schema, the open offers."""
    decision = request.observation.phase is Phase.DECISION
    low, high = request.arms_range if decision else (0, 0)
    return FormSpec(
        decision=decision,
        others=request.others,
        low=low,
        high=high,
        offers=request.offers if decision else [],
        intents=INTENTS,
        actions=ACTIONS,
        kinds=[k.value for k in ProposalKind],
    )


class _Fields:
    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: list[str] = []

    def text(self, name: str) -> str:
        values = self.form.get(name) or [""]
        return values[0].replace("\r\n", "\n").strip()

    def values(self, name: str) -> list[str]:
        return [v for v in self.form.get(name) or [] if v]

    def number(self, name: str, label: str, optional: bool = False) -> int | None:
        text = self.text(name)
        if not text and optional:
            return None
        try:
            return int(text)
        except ValueError:
            self.errors.append(f"{label}: a whole number is required")
            return None


def form_reply(request: SeatRequest, form: Form) -> tuple[dict[str, Any], list[str]]:
    """The reply a submitted form stands for, and the errors of fields that are not numbers."""
    spec = form_spec(request)
    f = _Fields(form)
    if not spec.decision:
        messages = []
        for i in range(spec.messages):
            text = f.text(f"message_{i}")
            if text:
                messages.append({"to": f.values(f"to_{i}") or ["all"], "text": text})
        return {"messages": messages}, f.errors
    reply: dict[str, Any] = {
        "threat": [
            {
                "state": s,
                "level": f.number(f"threat_{s}", f"threat from {s}"),
                "reason": f.text(f"reason_{s}"),
            }
            for s in spec.others
        ],
        "arms_change": f.number("arms_change", "arms change"),
        "action": f.text("action"),
        "target": f.text("target"),
        "proposals": [
            {
                "kind": f.text(f"proposal_{i}_kind"),
                "parties": f.values(f"proposal_{i}_parties"),
                "value": f.number(f"proposal_{i}_value", f"proposal {i + 1} value", True) or 0,
            }
            for i in range(spec.proposals)
            if f.text(f"proposal_{i}_kind")
        ],
        "public_statement": f.text("public_statement"),
        "announced_next_arms_change": f.number("announced", "announced arms change", True),
        "private_rationale": f.text("private_rationale"),
        "private_intent": [{"state": s, "intent": f.text(f"intent_{s}")} for s in spec.others],
        "perceived_intent": [{"state": s, "intent": f.text(f"perceived_{s}")} for s in spec.others],
        "forecast": [
            {"state": s, "arms_change": f.number(f"forecast_{s}", f"forecast of {s}")}
            for s in spec.others
        ],
    }
    if spec.offers:
        reply["responses"] = [
            {"proposal": o, "accept": f.text(f"accept_{o}") == "yes"}
            for o in spec.offers
            if f.text(f"accept_{o}") in ("yes", "no")
        ]
    return reply, f.errors
