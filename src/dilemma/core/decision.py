"""The structured decision: the persisted model and the per-run reply schemas.

Why a decision holds what it holds: docs/design.md §4.

`Decision` is what records hold. `decision_reply_model` builds, for one state in one round, a
schema whose state ids, levels and percentages are enums, so a grammar-constrained small model
cannot name a state that does not exist or a value out of range; it validates the same way when a
model answers in plain text.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
)

from dilemma.core.ladder import Action, Rung
from dilemma.core.str_enum import FastStrEnum

REASON_MAX = 160
STATEMENT_MAX = 400
MESSAGE_MAX = 400
MAX_PROPOSALS = 2
MAX_MESSAGES = 2


class Intent(FastStrEnum):
    """A state's private intent toward another state, mildest first."""

    DEFENSIVE = "defensive"
    DETERRENT = "deterrent"
    COERCIVE = "coercive"
    AGGRESSIVE = "aggressive"


class ProposalKind(FastStrEnum):
    """Arms-control offers.

    arms_cap: every party keeps its arms change at or below `value` percent per round.
    mutual_reduction: every party cuts its arms by at least `value` percent per round.
    verification: parties see each other's exact arms (value unused).
    """

    ARMS_CAP = "arms_cap"
    MUTUAL_REDUCTION = "mutual_reduction"
    VERIFICATION = "verification"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThreatItem(_Strict):
    """Perceived threat from one other state."""

    state: str
    level: StrictInt = Field(ge=0, le=10)
    reason: str = Field(max_length=REASON_MAX)


class IntentItem(_Strict):
    """Private intent toward one other state."""

    state: str
    intent: Intent


class PerceivedIntentItem(_Strict):
    """What the deciding state believes one other state intends toward it."""

    state: str
    intent: Intent


class ForecastItem(_Strict):
    """Expected arms change (percent) of one other state next round."""

    state: str
    arms_change: StrictInt


class SignalItem(_Strict):
    """The rung the deciding state publicly declares it takes toward one other state this round."""

    state: str
    rung: Rung


class ProposalItem(_Strict):
    """An arms-control offer made to the listed states."""

    kind: ProposalKind
    parties: list[str] = Field(min_length=1)
    value: StrictInt = 0


class ResponseItem(_Strict):
    """An answer to an open offer."""

    proposal: str
    accept: StrictBool


class Decision(_Strict):
    """One state's decision for one round, as persisted in records."""

    threat: list[ThreatItem]
    arms_change: StrictInt
    action: Action
    target: str | None = None
    proposals: list[ProposalItem] = Field(default_factory=list)
    responses: list[ResponseItem] = Field(default_factory=list)
    public_statement: str = Field(default="", max_length=STATEMENT_MAX)
    announced_next_arms_change: StrictInt | None = None
    private_rationale: str = Field(default="", max_length=STATEMENT_MAX)
    private_intent: list[IntentItem]
    perceived_intent: list[PerceivedIntentItem] | None = None
    """What the state believes each other state intends toward it; None in version-1 records,
    whose decisions did not ask (the evaluator then reports intent measures as missing)."""
    forecast: list[ForecastItem]
    signals: list[SignalItem] | None = None
    """The public signal: the rung declared toward each other state this round, revealed with
    the round's resolution; None in records made before version 4 (or by a custom schema that
    did not ask), so signal measures are missing there, not zero."""


class OutgoingMessage(_Strict):
    """A negotiation message: to everyone (`["all"]`) or to named states."""

    to: list[str] = Field(min_length=1)
    text: str = Field(min_length=1, max_length=MESSAGE_MAX)


class NegotiationReply(_Strict):
    """What a state says in one negotiation sub-turn (possibly nothing)."""

    messages: list[OutgoingMessage] = Field(default_factory=list, max_length=MAX_MESSAGES)


def _literal(values: list[Any]) -> Any:
    return Literal[tuple(values)]


def _integer(value: Any) -> Any:
    """Refuse what a lax integer Literal would take: JSON true/false (as 1/0), 2.0, "2"."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Input should be an integer, not {type(value).__name__} {value!r:.40}")
    return value


def _int_literal(values: list[int]) -> Any:
    """An integer enum (its JSON schema an `enum`) that accepts integers only."""
    return Annotated[_literal(values), BeforeValidator(_integer)]


class Channels(NamedTuple):
    """Which communication fields a decision reply holds (`rules.communication`)."""

    statement: bool
    """`public_statement`: open under full and public communication."""
    proposals: bool
    """`proposals` and `responses`: closed only under communication none."""


ALL_CHANNELS = Channels(statement=True, proposals=True)


def decision_channels(communication: str) -> Channels:
    """The decision fields open under a communication rule (full, public, private, none)."""
    return Channels(
        statement=communication in ("full", "public"),
        proposals=communication != "none",
    )


def messages_open(communication: str) -> bool:
    """Whether negotiation messages exist (a negotiation phase) under a communication rule."""
    return communication in ("full", "private")


def decision_reply_model(
    others: list[str], cap: int, open_proposals: list[str], channels: Channels = ALL_CHANNELS
) -> type[BaseModel]:
    """Reply schema for a state facing `others`, with arms changes in [-cap, cap] (cached).

    A closed channel's fields are not in the schema at all (a reply holding them is refused)."""
    return _decision_reply_model(tuple(others), cap, tuple(open_proposals), channels)


@lru_cache(maxsize=256)
def _decision_parts(others_t: tuple[str, ...], cap: int) -> dict[str, Any]:
    """The types of a decision reply that do not depend on the open proposals (cached apart:
    a new set of proposals then costs two small models, not fifteen)."""
    others = list(others_t)
    strict = ConfigDict(extra="forbid")

    def per_state(name: str, **extra: Any) -> Any:
        """A fixed-length array with one item per other state, in order (JSON prefixItems).

        A grammar built from it cannot skip or repeat a state, which a list of free items
        allowed small models to do.
        """
        items = [
            create_model(f"{name}{s}", __config__=strict, state=(_literal([s]), ...), **extra)
            for s in others
        ]
        return tuple[tuple(items)]  # type: ignore[misc]

    other_t = _literal(others)
    pct_t = _int_literal(list(range(-cap, cap + 1)))
    level_t = _int_literal(list(range(0, 11)))
    return {
        "other": other_t,
        "pct": pct_t,
        "threat": per_state(
            "ThreatFrom",
            level=(level_t, Field(description="0 = no threat, 10 = imminent attack")),
            reason=(str, Field(max_length=REASON_MAX)),
        ),
        "intent": per_state("IntentToward", intent=(Intent, ...)),
        "perceived": per_state("PerceivedIntentOf", intent=(Intent, ...)),
        "forecast": per_state("ForecastOf", arms_change=(pct_t, ...)),
        "signal": per_state(
            "SignalTo",
            rung=(Rung, Field(description="the ladder rung you declare you take toward it")),
        ),
        "proposal": create_model(
            "Proposal",
            __config__=strict,
            kind=(ProposalKind, ...),
            parties=(list[other_t], Field(min_length=1)),  # type: ignore[valid-type]
            value=(_int_literal(list(range(0, cap + 1))), Field(default=0)),
        ),
    }


@lru_cache(maxsize=1024)
def _decision_reply_model(
    others_t: tuple[str, ...], cap: int, proposals_t: tuple[str, ...], channels: Channels
) -> type[BaseModel]:
    others, open_proposals = list(others_t), list(proposals_t)
    parts = _decision_parts(others_t, cap)
    other_t, pct_t, proposal_t = parts["other"], parts["pct"], parts["proposal"]
    strict = ConfigDict(extra="forbid")
    fields: dict[str, Any] = {
        "threat": (
            parts["threat"],
            Field(description=f"one entry per other state, in order {others}"),
        ),
        "arms_change": (pct_t, Field(description="percent change of your arms this round")),
        "action": (Action, ...),
        "target": (other_t, Field(description="the state your action is directed at")),
        "proposals": (
            list[proposal_t],  # type: ignore[valid-type]
            Field(default_factory=list, max_length=MAX_PROPOSALS),
        ),
        "public_statement": (str, Field(default="", max_length=STATEMENT_MAX)),
        "announced_next_arms_change": (pct_t | None, Field(default=None)),
        "private_rationale": (str, Field(default="", max_length=STATEMENT_MAX)),
        "private_intent": (parts["intent"], ...),
        "perceived_intent": (
            parts["perceived"],
            Field(
                description=(
                    f"one entry per other state, in order {others}: what you believe it"
                    " intends toward you"
                )
            ),
        ),
        "forecast": (parts["forecast"], ...),
        "signals": (
            parts["signal"],
            Field(
                description=(
                    f"one entry per other state, in order {others}: the rung of the escalation"
                    " ladder you publicly declare you take toward it this round; made public"
                    " with the round's actions"
                )
            ),
        ),
    }
    if not channels.statement:
        del fields["public_statement"]
    if not channels.proposals:
        del fields["proposals"]
    if open_proposals and channels.proposals:
        response_t = create_model(
            "Response",
            __config__=strict,
            proposal=(_literal(open_proposals), ...),
            accept=(StrictBool, ...),
        )
        fields["responses"] = (list[response_t], Field(default_factory=list))

    return create_model("DecisionReply", __config__=strict, **fields)


def negotiation_reply_model(others: list[str], bilateral: bool = False) -> type[BaseModel]:
    """Reply schema for one negotiation sub-turn (cached); `bilateral` (private communication):
    each message goes to exactly one named state, never to "all"."""
    return _negotiation_reply_model(tuple(others), bilateral)


@lru_cache(maxsize=256)
def _negotiation_reply_model(others_t: tuple[str, ...], bilateral: bool) -> type[BaseModel]:
    others = list(others_t)
    to_t = _literal(others if bilateral else ["all", *others])
    message_t = create_model(
        "Message",
        __config__=ConfigDict(extra="forbid"),
        to=(
            list[to_t],  # type: ignore[valid-type]
            Field(min_length=1, max_length=1) if bilateral else Field(min_length=1),
        ),
        text=(str, Field(min_length=1, max_length=MESSAGE_MAX)),
    )
    return create_model(
        "NegotiationReply",
        __config__=ConfigDict(extra="forbid"),
        messages=(list[message_t], Field(default_factory=list, max_length=MAX_MESSAGES)),
    )


def to_decision(reply: BaseModel, data: dict[str, Any] | None = None) -> Decision:
    """Convert a validated reply into the persisted decision; `data`, when given, is the reply's
    `model_dump(mode="json")` already made (for the record), so it is not made again."""
    return Decision.model_validate(data if data is not None else reply.model_dump(mode="json"))


def to_negotiation(reply: BaseModel, data: dict[str, Any] | None = None) -> NegotiationReply:
    """Convert a validated negotiation reply into the persisted form (`data`: see to_decision)."""
    return NegotiationReply.model_validate(
        data if data is not None else reply.model_dump(mode="json")
    )


@lru_cache(maxsize=2048)
def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a reply model (cached; do not mutate the result)."""
    return model.model_json_schema()


@lru_cache(maxsize=2048)
def schema_text(model: type[BaseModel]) -> str:
    """The compact JSON text of a reply model's schema (cached)."""
    return json.dumps(schema_of(model), separators=(",", ":"))
