"""What one state is shown at one moment: the agent's whole input, built by the engine.

Everything here is already filtered by the visibility rules; prompts render it and scripted
policies read it, so an LLM and a scripted policy see exactly the same facts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from copy import deepcopy
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_serializer
from pydantic_core import SchemaSerializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from dilemma.core.decision import ProposalKind
from dilemma.core.ladder import Action, Rung
from dilemma.core.observation_compact import expand_compact
from dilemma.core.personas import Disposition, Regime, Transparency
from dilemma.core.str_enum import FastStrEnum


class Phase(FastStrEnum):
    """Which step of the round a model call belongs to."""

    NEGOTIATION = "negotiation"
    DECISION = "decision"


class ArmsSource(FastStrEnum):
    """How the observer knows another state's arms."""

    EXACT = "exact"
    INTELLIGENCE = "intelligence_estimate"
    VERIFICATION = "verification_treaty"
    SUMMIT = "summit_disclosure"


class _View(BaseModel):
    # Frozen: an observation is written to the record and rendered into the prompt from one
    # serialisation (`Observation.json_text`), so it must not change once made.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _omit_none(
    view: BaseModel, handler: SerializerFunctionWrapHandler, keys: tuple[str, ...]
) -> dict[str, Any]:
    """The serialized view without the listed keys whose value is None: a field added in
    version 4 is then absent from observations (and prompts) where it does not apply, so those
    read exactly as before (and never name a rule that is not in force)."""
    return _drop_none(handler(view), keys)


def _drop_none(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`data` without those of `keys` whose value is None."""
    for key in keys:
        if key in data and data[key] is None:
            del data[key]
    return data


_SELF_OMITTED_WHEN_NONE = ("last_order",)
_OTHER_OMITTED_WHEN_NONE = ("last_signals",)


class OrderNotice(_View):
    """Told to a state whose last order was carried out differently (an accident)."""

    round: int
    target: str | None
    ordered: Action
    executed: Action


class SelfView(_View):
    """The observer's own state, exact."""

    id: str
    name: str
    regime: Regime
    transparency: Transparency
    disposition: Disposition
    doctrine: str
    arms: float
    economy: float
    last_arms_change: float | None
    my_announced_arms_change: int | None
    last_order: OrderNotice | None = None
    """Only after an accident: what the state ordered last round and what was carried out."""

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(self, handler, _SELF_OMITTED_WHEN_NONE)


class OtherView(_View):
    """Another state as the observer sees it."""

    id: str
    name: str
    regime: Regime
    transparency: Transparency
    arms: float
    arms_source: ArmsSource
    arms_as_of_round: int
    arms_uncertainty_pct: int
    last_arms_change: float | None
    announced_next_arms_change: int | None
    last_action: Action | None
    last_target: str | None
    last_signals: dict[str, Rung] | None = None
    """The rung it publicly declared last round toward each other state (absent when it gave
    none: round 1, a fallback, records before version 4)."""

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_none(self, handler, _OTHER_OMITTED_WHEN_NONE)


class Said(_View):
    """A public statement or a message; `text` is untrusted, written by another state."""

    round: int
    sender: str
    to: list[str]
    text: str


class ProposalView(_View):
    """An open arms-control offer awaiting answers."""

    id: str
    proposer: str
    kind: ProposalKind
    parties: list[str]
    value: int


class TreatyView(_View):
    """An arms-control treaty in force."""

    id: str
    kind: ProposalKind
    parties: list[str]
    value: int
    since_round: int


class Plan(_View):
    """A plan disclosed at a summit: announced arms change for this round (None = none given)."""

    state: str
    announced_arms_change: int | None


class HistoryRow(_View):
    """One older round, compact: arms as the observer saw them and everyone's action."""

    round: int
    arms: dict[str, float]
    actions: dict[str, Action]


class RulesView(_View):
    """The rules that bind the observer."""

    arms_cap_pct: int
    forewarning_threshold_pct: int | None
    summit_this_round: bool
    summit_next_round: bool
    war_ends_run: bool
    offense_defense: float = 1.0
    """The offense-defense balance: above 1 offense has the advantage (in a war the striker's
    arms count that many times over and the side struck first loses more), below 1 defense has
    it. Default 1.0 (neutral) for observations recorded before it was shown."""
    continuation: float | None = None
    """Geometric horizon: the probability that the crisis goes on after a round from
    `min_rounds` on. None (and left out of the JSON) under a known or hidden horizon."""
    min_rounds: int | None = None
    """Geometric horizon: rounds always played before the first continuation draw."""
    accident_rate: float | None = None
    """Chance that a coercive or violent order is carried out one rung higher, shown only when
    the scenario discloses accidents (`rules.accidents_disclosed`); absent otherwise."""


_OMITTED_WHEN_NONE = ("rounds_total", "statements", "messages", "open_proposals")
_RULES_OMITTED_WHEN_NONE = ("continuation", "min_rounds", "accident_rate")


class Observation(_View):
    """Everything one state sees at one model call."""

    round: int
    rounds_total: int | None = None
    """The number of rounds, when the horizon is known; None (and left out of the JSON) when
    the states are not told it (hidden or geometric horizon)."""
    phase: Phase
    subturn: int
    subturns_total: int
    you: SelfView
    others: list[OtherView]
    rules: RulesView
    statements: list[Said] | None = None
    """Public statements; None (and left out of the JSON) when statements are closed."""
    messages: list[Said] | None = None
    """Negotiation messages; None (and left out of the JSON) when messages are closed."""
    open_proposals: list[ProposalView] | None = None
    """Open arms-control offers; None (and left out of the JSON) under communication none."""
    treaties: list[TreatyView]
    disclosed_plans: list[Plan]
    history: list[HistoryRow]

    _json: str | None = PrivateAttr(default=None)
    _plain: bool | None = PrivateAttr(default=None)

    @model_serializer(mode="wrap")
    def _omit_closed(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out what the state is not told: a closed channel, an unknown horizon."""
        data = _drop_none(handler(self), _OMITTED_WHEN_NONE)
        rules = data.get("rules")
        if isinstance(rules, dict):
            _drop_none(rules, _RULES_OMITTED_WHEN_NONE)
        return data

    def __eq__(self, other: object) -> bool:
        """Equal fields (the cached JSON text is not part of an observation's value)."""
        if not isinstance(other, Observation):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __copy__(self) -> Observation:
        """A shallow copy without the cached JSON (`model_copy(update=...)` changes fields)."""
        copy = super().__copy__()
        copy._json = copy._plain = None
        return copy

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Observation:
        """A deep copy without the cached JSON (its lists may be changed afterwards)."""
        copy = super().__deepcopy__(memo)
        copy._json = copy._plain = None
        return copy

    def json_text(self) -> str:
        """`model_dump_json()`, made once: the record and the prompt both use it.

        Raises PydanticSerializationError as `model_dump_json` does (a lone surrogate).
        """
        private = self.__pydantic_private__  # (not `self._json`: pydantic's __getattr__ is slow)
        text: str | None = private["_json"] if private else None
        if text is None:
            text = _plain_serializer().to_json(self, exclude=self._omitted()).decode()
            self._json = text
        return text

    def _omitted(self) -> dict[str, Any]:
        """What the views' serializers leave out of this observation (None values of the
        listed keys), as `exclude` for a serializer without them."""
        leave: dict[str, Any] = {k: True for k in _OMITTED_WHEN_NONE if getattr(self, k) is None}
        rules = {k for k in _RULES_OMITTED_WHEN_NONE if getattr(self.rules, k) is None}
        if rules:
            leave["rules"] = rules
        you = {k for k in _SELF_OMITTED_WHEN_NONE if getattr(self.you, k) is None}
        if you:
            leave["you"] = you
        others: dict[int, set[str]] = {}
        for i, other in enumerate(self.others):
            gone = {k for k in _OTHER_OMITTED_WHEN_NONE if getattr(other, k) is None}
            if gone:
                others[i] = gone
        if others:
            leave["others"] = others
        return leave

    def plain_floats(self) -> bool:
        """Whether every float is one that pydantic writes as `json.dumps` does (see
        FAST_FLOAT_MIN), so JSON of any part of it is the same text either way (made once)."""
        private = self.__pydantic_private__
        plain: bool | None = private["_plain"] if private else None
        if plain is None:
            plain = _all_plain(observation_floats(self))
            self._plain = plain
        return plain


FAST_FLOAT_MIN = 1e-4
FAST_FLOAT_MAX = 1e16
"""Floats x with FAST_FLOAT_MIN <= |x| < FAST_FLOAT_MAX (or 0) are written alike by pydantic and
by `json.dumps` (shortest round trip, no exponent); outside, the exponent notations differ, and
pydantic writes inf and nan as null where `json.dumps` writes Infinity and NaN."""


def _all_plain(values: list[float | None]) -> bool:
    """Whether every value is None, 0 or FAST_FLOAT_MIN <= |v| < FAST_FLOAT_MAX (in C loops: a
    sum that is finite holds no inf or nan, which min and max would not order)."""
    numbers = [v for v in values if v]  # (None and zeros are written alike)
    if not numbers:
        return True
    total = sum(numbers)
    if total != total or total in (math.inf, -math.inf):
        return False
    sizes = list(map(abs, numbers))
    return min(sizes) >= FAST_FLOAT_MIN and max(sizes) < FAST_FLOAT_MAX


def observation_floats(obs: Observation) -> list[float | None]:
    """Every float of an observation (tests/agents/test_prompt_json.py checks none is missed)."""
    values: list[float | None] = [
        obs.you.arms,
        obs.you.economy,
        obs.you.last_arms_change,
        obs.rules.offense_defense,
        obs.rules.continuation,
        obs.rules.accident_rate,
    ]
    for other in obs.others:
        values += (other.arms, other.last_arms_change)
    for row in obs.history:
        values += row.arms.values()
    return values


_PLAIN: list[SchemaSerializer] = []


def _plain_serializer() -> SchemaSerializer:
    """`Observation`'s serializer without the views' wrap functions, which only leave out the
    None values of listed keys (`Observation._omitted` gives those to it as `exclude`): the
    same JSON, about twice as fast, as the whole observation is no longer built as Python
    objects first. Made at the first use; ImportError names any other wrap function, which
    `_omitted` would not know."""
    if not _PLAIN:
        known = {
            Observation._omit_closed,
            SelfView._serialize,
            OtherView._serialize,
        }
        schema = deepcopy(Observation.__pydantic_core_schema__)
        found: list[Any] = []

        def strip(node: Any) -> None:
            if isinstance(node, dict):
                serialization = node.get("serialization")
                if isinstance(serialization, dict) and serialization.get("type") == "function-wrap":
                    found.append(serialization.get("function"))
                    del node["serialization"]
                for value in node.values():
                    strip(value)
            elif isinstance(node, list):
                for value in node:
                    strip(value)

        strip(schema)
        unknown = [f for f in found if getattr(f, "__func__", f) not in known]
        if unknown or len(found) != len(known):
            raise ImportError(f"Observation has serializers that json_text does not know: {found}")
        _PLAIN.append(SchemaSerializer(schema))
    return _PLAIN[0]


OBSERVATION_OPEN = "<observation>"
OBSERVATION_CLOSE = "</observation>"
"""Tags around the observation JSON in a rendered prompt (scripted policies read it back)."""


def extract_observation(prompt: str) -> Observation:
    """Read the observation back out of a rendered user prompt (used by scripted policies),
    in the full or the compact JSON rendering."""
    start = prompt.rfind(OBSERVATION_OPEN)
    end = prompt.rfind(OBSERVATION_CLOSE)
    if start < 0 or end < start:
        raise ValueError("prompt holds no <observation> block")
    text = prompt[start + len(OBSERVATION_OPEN) : end]
    try:
        return Observation.model_validate_json(text)
    except ValidationError as exc:
        # Perhaps the compact rendering (dilemma.core.observation_compact): restore what it
        # leaves out; if that does not validate either, the first error is the one to show.
        try:
            data = json.loads(text)
            return Observation.model_validate(expand_compact(data, Observation))
        except (ValueError, TypeError, AttributeError):
            raise exc from None
