"""The web seat's form: its fields for a turn, and a submitted form turned into a reply.

Pure (no web framework): the form's HTML constraints come from `form_spec`; `form_reply` parses
every field with the parsers of the terminal seat (dilemma.web.seat.input), so both seats accept
and refuse the same text, and the reply is then validated with the turn's pydantic schema
(dilemma.agents.human_seat), which alone decides whether an answer is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
from dilemma.web.seat.input import (
    InputError,
    parse_choice,
    parse_int,
    parse_optional_int,
    parse_states,
    parse_text,
    parse_yes_no,
)
from dilemma.web.seat.view import ACTIONS, INTENTS, RUNGS

T = TypeVar("T")

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
    rungs: tuple[str, ...] = RUNGS


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
    """The submitted values, each parsed as the terminal seat parses what a person types
    (dilemma.web.seat.input); every refusal is kept, in plain words, as `label: reason`."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: list[str] = []

    def _raw(self, name: str) -> str:
        values = self.form.get(name) or [""]
        return values[0]

    def _parse(self, label: str, parse: Callable[[], T], fallback: T) -> T:
        try:
            return parse()
        except InputError as exc:
            self.errors.append(f"{label}: {exc}")
            return fallback

    def text(self, name: str, label: str, max_length: int) -> str:
        return self._parse(label, lambda: parse_text(self._raw(name), max_length), "")

    def present(self, name: str) -> bool:
        return bool(self._raw(name).strip())

    def choice(self, name: str, label: str, options: Sequence[str]) -> str:
        return self._parse(label, lambda: parse_choice(self._raw(name), options), "")

    def choices(self, name: str, label: str, options: Sequence[str]) -> list[str]:
        chosen = [v for v in self.form.get(name) or [] if v.strip()]
        if not chosen:
            return []
        return self._parse(label, lambda: parse_states(",".join(chosen), options), [])

    def yes_no(self, name: str, label: str) -> bool:
        return self._parse(label, lambda: parse_yes_no(self._raw(name)), False)

    def number(self, name: str, label: str, low: int, high: int) -> int | None:
        return self._parse(label, lambda: parse_int(self._raw(name), low, high), None)

    def optional_number(self, name: str, label: str, low: int, high: int) -> int | None:
        return self._parse(label, lambda: parse_optional_int(self._raw(name), low, high), None)


def form_reply(request: SeatRequest, form: Form) -> tuple[dict[str, Any], list[str]]:
    """The reply a submitted form stands for, and the errors of the fields that do not parse
    (the reply is then validated with the turn's schema, which alone accepts it)."""
    spec = form_spec(request)
    f = _Fields(form)
    if not spec.decision:
        recipients = ["all", *spec.others]
        messages = []
        for i in range(spec.messages):
            label = f"message {i + 1}"
            text = f.text(f"message_{i}", label, spec.message_max)
            if text:
                to = f.choices(f"to_{i}", f"{label}, to", recipients) or ["all"]
                messages.append({"to": to, "text": text})
        return {"messages": messages}, f.errors
    low, high = spec.low, spec.high
    reply: dict[str, Any] = {
        "threat": [
            {
                "state": s,
                "level": f.number(f"threat_{s}", f"threat from {s}", 0, 10),
                "reason": f.text(f"reason_{s}", f"reason about {s}", spec.reason_max),
            }
            for s in spec.others
        ],
        "arms_change": f.number("arms_change", "arms change", low, high),
        "action": f.choice("action", "action", spec.actions),
        "target": f.choice("target", "target", spec.others),
        "proposals": [
            {
                "kind": f.choice(f"proposal_{i}_kind", f"proposal {i + 1} kind", spec.kinds),
                "parties": f.choices(
                    f"proposal_{i}_parties", f"proposal {i + 1} states", spec.others
                ),
                "value": f.optional_number(
                    f"proposal_{i}_value", f"proposal {i + 1} value", 0, high
                )
                or 0,
            }
            for i in range(spec.proposals)
            if f.present(f"proposal_{i}_kind")
        ],
        "public_statement": f.text("public_statement", "public statement", spec.statement_max),
        "announced_next_arms_change": f.optional_number(
            "announced", "announced arms change", low, high
        ),
        "private_rationale": f.text("private_rationale", "private rationale", spec.statement_max),
        "private_intent": [
            {"state": s, "intent": f.choice(f"intent_{s}", f"your intent toward {s}", INTENTS)}
            for s in spec.others
        ],
        "perceived_intent": [
            {"state": s, "intent": f.choice(f"perceived_{s}", f"what {s} intends", INTENTS)}
            for s in spec.others
        ],
        "forecast": [
            {
                "state": s,
                "arms_change": f.number(f"forecast_{s}", f"forecast of {s}", low, high),
            }
            for s in spec.others
        ],
        "signals": [
            {"state": s, "rung": f.choice(f"signal_{s}", f"signal to {s}", list(spec.rungs))}
            for s in spec.others
        ],
    }
    if spec.offers:
        reply["responses"] = [
            {
                "proposal": o,
                "accept": f.yes_no(f"accept_{o}", f"offer {o}"),
            }
            for o in spec.offers
            if f.present(f"accept_{o}")
        ]
    return reply, f.errors
