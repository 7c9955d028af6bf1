"""The scenario schema: strict pydantic models loaded from YAML (docs/design.md §2)."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_serializer,
    model_validator,
)
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from dilemma.core.decision import ProposalKind
from dilemma.core.personas import Disposition, Regime, Transparency, join_doctrine

STATE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,15}$"


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

    @property
    def shown_regime(self) -> Regime:
        """The regime the models are told this state has (persona text and observations)."""
        return self.persona_regime or self.regime

    @property
    def shown_transparency(self) -> Transparency:
        """The transparency the models are told this state has."""
        return self.persona_transparency or self.transparency


class Rules(_Strict):
    """World rules."""

    rounds: StrictInt = Field(default=10, ge=1, le=200)
    subturns: StrictInt = Field(
        default=1, ge=0, le=5, description="negotiation sub-turns per round"
    )
    arms_cap_pct: StrictInt = Field(
        default=10, ge=1, le=50, description="max |arms change| per round, %"
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
    economy_growth_pct: StrictFloat = Field(default=2.0, ge=-20, le=20)
    history_full_rounds: StrictInt = Field(
        default=2, ge=0, le=10, description="rounds shown in full"
    )
    history_table_rows: StrictInt = Field(
        default=8, ge=0, le=50, description="older rounds, compact"
    )

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
