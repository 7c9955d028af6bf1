"""The scenario as a record's header keeps it: a frozen snapshot owned by the record format.

It mirrors `dilemma.scenarios.schema.Scenario` field for field but carries none of its validation
limits: a record says what was run, and must keep loading when today's scenario rules (bounds,
patterns, cross-field checks) change. A field of `Scenario` that the snapshot lacks makes
`ScenarioSnapshot.of` fail, so the two cannot drift apart silently; a field added here is a
change of the record format (see docs/records.md).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_serializer
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from dilemma.core.decision import ProposalKind
from dilemma.core.personas import Disposition, Regime, Transparency, join_doctrine
from dilemma.core.rule_defaults import omit_default_rules


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegimeTextSnapshot(_Snapshot):
    """Text per regime (a doctrine fragment or a name)."""

    democracy: str
    autocracy: str


class TransparencyTextSnapshot(_Snapshot):
    """A doctrine fragment per transparency."""

    transparent: str
    secretive: str


class StateSnapshot(_Snapshot):
    """One state as it was defined for the run."""

    id: str
    name: str
    regime: Regime
    """The regime whose rules applied."""
    transparency: Transparency
    """The transparency whose rules applied."""
    persona_regime: Regime | None = None
    """The regime the models were told, when it differed from `regime` (None: the same)."""
    persona_transparency: Transparency | None = None
    """The transparency the models were told, when it differed (None: the same)."""
    arms: float
    economy: float
    disposition: Disposition
    doctrine: str
    model: str | None
    name_by_regime: RegimeTextSnapshot | None = None
    """The name under each regime, when the scenario gave one (None: always `name`)."""
    doctrine_by_regime: RegimeTextSnapshot | None = None
    """Doctrine fragment added for the shown regime (None: none)."""
    doctrine_by_transparency: TransparencyTextSnapshot | None = None
    """Doctrine fragment added for the shown transparency (None: none)."""

    @property
    def shown_regime(self) -> Regime:
        """The regime the models were told this state has."""
        return self.persona_regime or self.regime

    @property
    def shown_transparency(self) -> Transparency:
        """The transparency the models were told this state has."""
        return self.persona_transparency or self.transparency

    @property
    def shown_name(self) -> str:
        """The name the models were told."""
        if self.name_by_regime is None:
            return self.name
        return str(getattr(self.name_by_regime, self.shown_regime.value))

    @property
    def shown_doctrine(self) -> str:
        """The doctrine the models were told: neutral text plus the shown levels' fragments."""
        by_regime, by_transparency = self.doctrine_by_regime, self.doctrine_by_transparency
        return join_doctrine(
            self.doctrine,
            None if by_regime is None else getattr(by_regime, self.shown_regime.value),
            None
            if by_transparency is None
            else getattr(by_transparency, self.shown_transparency.value),
        )


class RulesSnapshot(_Snapshot):
    """The world rules of the run."""

    rounds: int
    subturns: int
    arms_cap_pct: int
    forewarning_threshold_pct: int
    intel_noise: float
    intel_lag: int
    summit_every: int
    offense_defense: float
    war_ends_run: bool
    arms_cost: float
    economy_growth_pct: float
    history_full_rounds: int
    history_table_rows: int
    accident_rate: float = 0.0
    """Chance that a coercive or violent order is carried out one rung higher (0 before v4)."""
    accidents_disclosed: bool = False
    """Whether the prompts told the states about accidents (False before v4)."""
    horizon: str = "known"
    """known / hidden / geometric (records before 0.3.0: known, the only horizon then)."""
    continuation: float | None = None
    """Geometric horizon: probability the crisis goes on after a round (None: not set)."""
    min_rounds: int = 1
    """Geometric horizon: rounds played before the first continuation draw."""
    communication: str = "full"
    """full / public / private / none (records before 0.3.0: full)."""

    @model_serializer(mode="wrap")
    def _omit_default_new_rules(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """Dumped as the scenario's rules are: the rules added in 0.3.0 only when not default."""
        data: dict[str, object] = handler(self)
        omit_default_rules(data)
        return data


class TreatySnapshot(_Snapshot):
    """A treaty in force from the start of the run."""

    kind: ProposalKind
    parties: tuple[str, ...]
    value: int


class ScenarioSnapshot(_Snapshot):
    """The scenario of a run, exactly as it was played."""

    name: str
    description: str
    states: tuple[StateSnapshot, ...]
    rules: RulesSnapshot
    treaties: tuple[TreatySnapshot, ...]
    prompt_setup: str
    model: str | None

    @classmethod
    def of(cls, scenario: BaseModel) -> ScenarioSnapshot:
        """The snapshot of a validated scenario (any field the snapshot lacks is an error)."""
        return cls.model_validate(scenario.model_dump(mode="json"))

    def state(self, state_id: str) -> StateSnapshot:
        """The state with this id."""
        for s in self.states:
            if s.id == state_id:
                return s
        raise KeyError(state_id)

    @property
    def ids(self) -> list[str]:
        """State ids in scenario order."""
        return [s.id for s in self.states]
