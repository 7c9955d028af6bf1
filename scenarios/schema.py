"""The scenario schema: strict pydantic models loaded from YAML (docs/design.md §2)."""

from __future__ import annotations

import math

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from dilemma.core.decision import ProposalKind
from dilemma.core.personas import Disposition, Regime, Transparency, join_doctrine
from dilemma.core.rule_defaults import omit_default_rules
from dilemma.core.str_enum import FastStrEnum

STATE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,15}$"
RESERVED_IDS = ("all", "public")
"""Words the message protocol gives a meaning (a message to `all` goes to every state; a public
statement is said to `public`), so no state may be called so, in any case (a person at the
terminal names states case-insensitively)."""
MAX_ROUNDS = 200
MAX_ARMS_CAP_PCT = 50
MAX_GROWTH_PCT = 20
GROWTH_BOUND = (1 + MAX_ARMS_CAP_PCT / 100) ** MAX_ROUNDS
"""How much arms (at most +MAX_ARMS_CAP_PCT% a round) and economy (at most +MAX_GROWTH_PCT% a
round, and arming only spends it) can grow over the longest run: 1.5^200, about 1.2e35."""
SAFE_MAGNITUDE = 1e74
"""Every quantity of a run stays below this, so that what the evaluator computes from it stays
a finite float (the largest is about 1.8e308): its least-squares fits multiply two sums, over up
to MAX_ROUNDS rounds, of products of two values, (200 * 1e74**2)**2 = 4e300."""
MAX_START = 10.0 ** math.floor(math.log10(SAFE_MAGNITUDE / GROWTH_BOUND))
"""The largest initial arms or economy: 1e38, derived from GROWTH_BOUND and SAFE_MAGNITUDE."""
_TOO_LARGE = (
    f"must be at most {MAX_START:g}: {MAX_ROUNDS} rounds of the largest growth (x{GROWTH_BOUND:.1e}"
    f" at +{MAX_ARMS_CAP_PCT}% a round) must keep every value of a run below {SAFE_MAGNITUDE:g},"
    " so that no computation overflows"
)


class _Strict(BaseModel):
    """No unknown keys, no coercion (`rounds: true`, `arms: '100'`), no infinity or NaN."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RegimeText(_Strict):
    """A doctrine fragment for each regime; the state is shown the one for its regime.

    An empty fragment says the neutral doctrine needs nothing added at that level."""

    democracy: str = Field(max_length=400)
    autocracy: str = Field(max_length=400)


class TransparencyText(_Strict):
    """A doctrine fragment for each transparency; the state is shown the one for its level."""

    transparent: str = Field(max_length=400)
    secretive: str = Field(max_length=400)


class RegimeName(_Strict):
    """The state's name under each regime (e.g. "Republic of Aria" / "Arian State")."""

    democracy: str = Field(min_length=1, max_length=60)
    autocracy: str = Field(min_length=1, max_length=60)


LEVEL_TEXT_FIELDS = ("name_by_regime", "doctrine_by_regime", "doctrine_by_transparency")
"""Optional per-level text of a state; left out of its serialized form when not given, so a
scenario without them dumps (and hashes into run ids) exactly as before they existed."""


class StateSpec(_Strict):
    """One state of the world.

    `regime` and `transparency` are the rules in force for the state: the world's mechanics
    (democratic forewarning, intelligence on secretive states) branch on them. What the models
    are told the state is (persona text, labels in every observation) is `persona_regime` /
    `persona_transparency` when given, else the same values: see `shown_regime` and
    `shown_transparency`.
    """

    id: str = Field(pattern=STATE_ID_PATTERN, description="short id used in prompts and records")
    name: str = Field(min_length=1, max_length=60)
    regime: Regime = Field(description="regime whose rules apply (e.g. democratic forewarning)")
    transparency: Transparency = Field(
        description="transparency whose rules apply (secretive: others see intelligence estimates)"
    )
    persona_regime: Regime | None = Field(
        default=None, description="regime the models are told (default: `regime`)"
    )
    persona_transparency: Transparency | None = Field(
        default=None, description="transparency the models are told (default: `transparency`)"
    )
    arms: StrictFloat = Field(ge=0, description="initial arms (arbitrary units)")
    economy: StrictFloat = Field(gt=0, description="initial economy; arming costs economy")
    disposition: Disposition = Disposition.SECURITY_SEEKER
    doctrine: str = Field(default="", max_length=600, description="short doctrine and history")
    model: str | None = Field(default=None, description="model spec for this state only")
    name_by_regime: RegimeName | None = Field(
        default=None, description="the name shown under each regime (default: `name`)"
    )
    doctrine_by_regime: RegimeText | None = Field(
        default=None, description="doctrine fragment added for the shown regime"
    )
    doctrine_by_transparency: TransparencyText | None = Field(
        default=None, description="doctrine fragment added for the shown transparency"
    )

    @model_serializer(mode="wrap")
    def _omit_unset_level_text(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        for key in LEVEL_TEXT_FIELDS:
            if data.get(key, 0) is None:
                del data[key]
        return data

    @property
    def shown_name(self) -> str:
        """The name the models are told (per the shown regime when `name_by_regime` is given)."""
        if self.name_by_regime is None:
            return self.name
        return str(getattr(self.name_by_regime, self.shown_regime.value))

    @property
    def shown_doctrine(self) -> str:
        """The doctrine the models are told: neutral text plus the fragments for the shown
        regime and transparency (exactly `doctrine` when no fragments are given)."""
        by_regime, by_transparency = self.doctrine_by_regime, self.doctrine_by_transparency
        return join_doctrine(
            self.doctrine,
            None if by_regime is None else getattr(by_regime, self.shown_regime.value),
            None
            if by_transparency is None
            else getattr(by_transparency, self.shown_transparency.value),
        )

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in RESERVED_IDS:
            raise ValueError(
                f"{value!r} is reserved by the message protocol (a message to 'all' goes to every"
                " state; public statements are said to 'public'); choose another id"
            )
        return value

    @field_validator("arms", "economy")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if value > MAX_START:
            raise ValueError(_TOO_LARGE)
        return value

    @property
    def shown_regime(self) -> Regime:
        """The regime the models are told this state has (persona text and observations)."""
        return self.persona_regime or self.regime

    @property
    def shown_transparency(self) -> Transparency:
        """The transparency the models are told this state has."""
        return self.persona_transparency or self.transparency


class Horizon(FastStrEnum):
    """What the states are told about how long the crisis lasts (docs/scenarios.md)."""

    KNOWN = "known"
    """A fixed number of rounds (`rounds`), told to every state ("round r of R")."""
    HIDDEN = "hidden"
    """A fixed number of rounds (`rounds`), not told: states know only that it is not known."""
    GEOMETRIC = "geometric"
    """After each round from `min_rounds` on, the crisis goes on with probability
    `continuation` (drawn from the run's seed); `rounds` is the hard cap. States are told the
    continuation probability and `min_rounds`, never the cap."""


class Communication(FastStrEnum):
    """Which channels the states have (docs/scenarios.md)."""

    FULL = "full"
    """Negotiation messages, public statements and arms-control proposals."""
    PUBLIC = "public"
    """Public statements (and proposals); no negotiation messages."""
    PRIVATE = "private"
    """Bilateral negotiation messages, each to one named state (and proposals); no statements."""
    NONE = "none"
    """No messages, statements or proposals (no negotiation phase); scenario treaties hold."""


class Rules(_Strict):
    """World rules."""

    rounds: StrictInt = Field(default=10, ge=1, le=MAX_ROUNDS)
    subturns: StrictInt = Field(
        default=1, ge=0, le=5, description="negotiation sub-turns per round"
    )
    arms_cap_pct: StrictInt = Field(
        default=10, ge=1, le=MAX_ARMS_CAP_PCT, description="max |arms change| per round, %"
    )
    forewarning_threshold_pct: StrictInt = Field(
        default=3, ge=0, le=50, description="democracies: larger rises need an announcement"
    )
    intel_noise: StrictFloat = Field(
        default=0.15, ge=0, le=1, description="sd of the relative error"
    )
    intel_lag: StrictInt = Field(
        default=1, ge=0, le=5, description="rounds of delay of intelligence"
    )
    summit_every: StrictInt = Field(default=0, ge=0, le=50, description="0 = never")
    offense_defense: StrictFloat = Field(
        default=1.0,
        gt=0,
        le=5,
        description=(
            "offense-defense balance: > 1 offense has the advantage (in a war the attacker's arms"
            " count that many times over), < 1 defense has it, 1 = neutral; shown to every state"
        ),
    )
    war_ends_run: StrictBool = True
    arms_cost: StrictFloat = Field(
        default=1.0, ge=0, description="economy spent per unit of arms bought"
    )
    economy_growth_pct: StrictFloat = Field(default=2.0, ge=-MAX_GROWTH_PCT, le=MAX_GROWTH_PCT)
    history_full_rounds: StrictInt = Field(
        default=2, ge=0, le=10, description="rounds shown in full"
    )
    history_table_rows: StrictInt = Field(
        default=8, ge=0, le=50, description="older rounds, compact"
    )
    accident_rate: StrictFloat = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "probability that a coercive or violent order (non-violent or violent escalation) is"
            " carried out one rung higher (dilemma.core.ladder.ACCIDENT_ESCALATION); 0 = never"
        ),
    )
    accidents_disclosed: StrictBool = Field(
        default=False,
        description="whether the prompts tell the states that orders can misfire, and how often",
    )
    horizon: Horizon = Field(
        default=Horizon.KNOWN,
        description="known: 'round r of R' is told; hidden: R is not told; geometric: the crisis"
        " goes on after each round from min_rounds on with probability `continuation`",
    )
    continuation: StrictFloat | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="geometric horizon: probability the crisis goes on after a round (used only"
        " when horizon is geometric)",
    )
    min_rounds: StrictInt = Field(
        default=1,
        ge=1,
        le=MAX_ROUNDS,
        description="geometric horizon: rounds always played before the first continuation draw",
    )
    communication: Communication = Field(
        default=Communication.FULL,
        description="full, public (statements only), private (bilateral messages only) or none",
    )

    @model_serializer(mode="wrap")
    def _omit_default_new_rules(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        omit_default_rules(data)
        return data

    @model_validator(mode="after")
    def _horizon_complete(self) -> Rules:
        if self.horizon is Horizon.GEOMETRIC:
            if self.continuation is None:
                raise ValueError(
                    "horizon geometric needs `continuation`, the probability (0 < delta < 1) that"
                    " the crisis goes on after each round from min_rounds on"
                )
            if self.min_rounds > self.rounds:
                raise ValueError(
                    f"min_rounds ({self.min_rounds}) must not exceed rounds ({self.rounds}), the"
                    " hard cap of a geometric horizon"
                )
        return self

    @model_validator(mode="after")
    def _threshold_within_cap(self) -> Rules:
        if self.forewarning_threshold_pct > self.arms_cap_pct:
            raise ValueError(
                f"forewarning_threshold_pct ({self.forewarning_threshold_pct}) must not exceed "
                f"arms_cap_pct ({self.arms_cap_pct})"
            )
        return self


class TreatySpec(_Strict):
    """A treaty already in force when the run starts."""

    kind: ProposalKind
    parties: list[str] = Field(min_length=2)
    value: StrictInt = Field(default=0, ge=0, le=50)

    @field_validator("parties")
    @classmethod
    def _distinct(cls, parties: list[str]) -> list[str]:
        for n, party in enumerate(parties):
            if party in parties[:n]:
                raise ValueError(
                    f"{party!r} is named more than once; a treaty binds two or more different"
                    " states"
                )
        return parties


class Scenario(_Strict):
    """A world: states, rules, initial treaties, prompt setup and default model."""

    name: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=600)
    states: list[StateSpec] = Field(min_length=2, max_length=8)
    rules: Rules = Field(default_factory=Rules)
    treaties: list[TreatySpec] = Field(default_factory=list)
    prompt_setup: str = "baseline"
    model: str | None = Field(default=None, description="default model spec for every state")

    @model_validator(mode="after")
    def _ids_resolve(self) -> Scenario:
        ids = [s.id for s in self.states]
        for n, sid in enumerate(ids):
            if sid in ids[:n]:
                raise ValueError(f"states.{n}.id: state ids must be unique; {sid!r} is repeated")
        for n, treaty in enumerate(self.treaties):
            for p in treaty.parties:
                if p not in ids:
                    raise ValueError(f"treaties.{n}.parties: unknown state id {p!r} (known: {ids})")
        return self

    def state(self, state_id: str) -> StateSpec:
        """The state with this id."""
        for s in self.states:
            if s.id == state_id:
                return s
        raise KeyError(state_id)

    @property
    def ids(self) -> list[str]:
        """State ids in scenario order."""
        return [s.id for s in self.states]
