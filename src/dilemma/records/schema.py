"""The record format: a header line, then one tagged event per line, each a pydantic model.

`dilemma.records.writer` writes these models and `dilemma.records.reader` is the only code that
reads them back.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    field_validator,
    model_validator,
)

from dilemma.core.decision import Decision, NegotiationReply, ProposalKind
from dilemma.core.ladder import Action, Rung
from dilemma.core.observation import ArmsSource, Observation, Phase
from dilemma.core.structured_mode import StructuredMode
from dilemma.records.scenario_snapshot import ScenarioSnapshot

SCHEMA_VERSION = 5
"""Version of the record format written by this code; `migrations` upgrades older ones."""


class _Event(BaseModel):
    # No infinity or NaN: JSON has no such numbers, and pydantic would write them as null,
    # leaving a record that cannot be read back. An event holding one fails when it is made.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelInfo(_Event):
    """A state's model: the spec and the parameters sent (never a key)."""

    spec: str
    provider: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    structured_output: StructuredMode
    attempt_timeout_s: float | None = None
    """Bound on one HTTP attempt (`--timeout`); None for models without HTTP, or older records."""
    call_deadline_s: float | None = None
    """Bound on one call with every retry (`--call-deadline`); None: unbounded, or older records."""


class PromptInfo(_Event):
    """The prompt setup used, with the content hash of each template."""

    name: str
    version: str
    template_hashes: dict[str, str]


Spending = Literal["obrien_fleming", "pocock"]
"""Alpha-spending functions of a sequential plan (Lan-DeMets O'Brien-Fleming and Pocock types)."""


class SequentialPlan(_Event):
    """Looks an experiment plans in advance: seeds per cell at each look, and how alpha is spent
    across them (`dilemma.evaluation.sequential`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    looks: list[Annotated[StrictInt, Field(ge=2)]] = Field(min_length=1, max_length=20)
    """Seeds per cell at each look, increasing; the last is the most the study will run."""
    spending: Spending = "obrien_fleming"

    @field_validator("looks")
    @classmethod
    def _increasing(cls, looks: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(looks)):
            raise ValueError(f"looks must increase strictly (got {looks})")
        return looks


class ExperimentInfo(_Event):
    """The experiment a run belongs to, and the run's condition (level) of each factor."""

    name: str | None
    """The experiment's name; None only in version-1 records written without one."""
    source: str | None
    """The experiment file; None when the sweep was started from code."""
    runs: int | None
    """Runs the experiment declares; None when the sweep was started from code."""
    conditions: dict[str, str]
    """Factor -> level label (`experiments.spec.level_label`); `scenario` names the scenario."""
    primary: list[str] | None = None
    """Primary measures the experiment declares for `dilemma compare`; None: the default set."""
    margins: dict[str, float] = Field(default_factory=dict)
    """Equivalence margins the experiment declares, by measure."""
    sequential: SequentialPlan | None = None
    """The looks the experiment planned (`sequential:`); None: no plan, or an older record."""
    overrides: dict[str, int] = Field(default_factory=dict)
    """What the sweep's command line changed from the experiment file (`repeats`, `rounds`:
    `dilemma sweep --repeats N --rounds R`); empty: the full design (and every run before
    version 4). A run with overrides belongs to a pilot, not to the declared design."""

    @property
    def pilot(self) -> bool:
        """Whether the run belongs to a pilot (a sweep with overrides), not the full design."""
        return bool(self.overrides)


class PersonaText(_Event):
    """The name and doctrine one state was shown as its own, as rendered (the system prompt's
    `$name` and `$doctrine`, the observation's `you`); other states see the same name."""

    name: str
    doctrine: str


class Header(_Event):
    """First line of a record: everything needed to know what was run."""

    kind: Literal["header"] = "header"
    schema_version: int = SCHEMA_VERSION
    run_id: str
    scenario_source: str
    scenario: ScenarioSnapshot
    persona_text: dict[str, PersonaText]
    """State id -> the name and doctrine it was shown (per-level text resolved); records before
    version 3 get the scenario's `name` and `doctrine`, the only text there was."""
    experiment: ExperimentInfo | None = None
    prompt: PromptInfo
    models: dict[str, ModelInfo]
    seed: int
    max_retries: int
    response_cache: Literal["off", "read_write", "replay"] = "off"
    package_versions: dict[str, str]
    git_revision: str | None
    git_dirty: bool | None
    argv: list[str]
    started_at: AwareDatetime


class ObservationEvent(_Event):
    """Exactly what one state was shown before one model call."""

    kind: Literal["observation"] = "observation"
    round: int
    state: str
    phase: Phase
    subturn: int
    observation: Observation


class StoredObservationEvent(ObservationEvent):
    """An `observation` line as written: the observation in full (a state's first, or one
    whose keys moved), or since version 5 `delta`, its changes from the state's previous
    observation line (`dilemma.records.delta`). Readers return `ObservationEvent`."""

    observation: Observation | None = None  # type: ignore[assignment]
    delta: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> StoredObservationEvent:
        if (self.observation is None) == (self.delta is None):
            raise ValueError("an observation line holds either `observation` or `delta`")
        return self


class ChatMessage(_Event):
    """One message sent to a model."""

    role: str
    content: str


class LlmCallEvent(_Event):
    """One model call: what was sent, what came back, and whether it validated."""

    kind: Literal["llm_call"] = "llm_call"
    round: int
    state: str
    phase: Phase
    subturn: int
    attempt: int
    model: str
    messages: list[ChatMessage]
    raw: str
    parsed: dict[str, Any] | None
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None = None
    latency_s: float
    started_at: AwareDatetime


class TextEvent(_Event):
    """A long text stored once per record (a system prompt, a turn's instructions and reply
    schema); the messages of `llm_call` lines refer to it by `hash` (version 4)."""

    kind: Literal["text"] = "text"
    hash: str
    text: str


class TextRef(_Event):
    """A part of a stored message: the text of the record's `text` line with this hash."""

    text: str


class ObservationRef(_Event):
    """A part of a stored message: the JSON of the call's observation (the `observation` line of
    the same state, round, phase and sub-turn, written just before the call)."""

    observation: Literal[True]


class StoredMessage(_Event):
    """A message as version 4 stores it: its content is the concatenation of `parts`."""

    role: str
    parts: list[str | TextRef | ObservationRef]


class StoredLlmCallEvent(LlmCallEvent):
    """An `llm_call` line as written: messages in full, or as parts that refer to `text` and
    `observation` lines (readers return `LlmCallEvent`, with every message in full)."""

    messages: list[ChatMessage | StoredMessage]  # type: ignore[assignment]
    parsed: dict[str, Any] | Literal["raw"] | None  # type: ignore[assignment]
    """`"raw"`: the parsed reply is exactly `raw` read as JSON, so it is not written twice."""


class Delivered(_Event):
    """A negotiation message as delivered."""

    sender: str
    to: list[str]
    text: str


class NegotiationEvent(_Event):
    """All messages written in one sub-turn, delivered together at its end."""

    kind: Literal["negotiation"] = "negotiation"
    round: int
    subturn: int
    replies: dict[str, NegotiationReply | None]
    delivered: list[Delivered]
    flagged: list[str]


class DecisionEvent(_Event):
    """A state's decision; `decision` is None and `flagged` True when no valid reply came."""

    kind: Literal["decision"] = "decision"
    round: int
    state: str
    decision: Decision | None
    flagged: bool
    attempts: int
    error: str | None


class StateOutcome(_Event):
    """How one state's move resolved.

    `arms_after` and `economy_after` are end-of-round values, after any war losses:
    arms_after = arms_before * (1 + applied_change / 100) - war_arms_lost.
    """

    state: str
    requested_change: int | None
    applied_change: float
    adjustments: list[str]
    arms_before: float
    arms_after: float
    economy_after: float
    action: Action
    target: str | None
    fallback: bool
    war_arms_lost: float = 0.0
    """Arms destroyed by wars this round (all wars the state fought; see `War.losses`)."""
    war_economy_lost: float = 0.0
    """Economy destroyed by wars this round."""


class TreatyEvent(_Event):
    """A treaty formed, broken or in force."""

    id: str
    kind: ProposalKind
    parties: list[str]
    value: int
    since_round: int


class Breach(_Event):
    """A party's arms change that violated a treaty."""

    treaty: str
    state: str
    applied_change: float
    limit: str


class IntelEstimate(_Event):
    """What `observer` will believe about `target`'s arms next round."""

    observer: str
    target: str
    estimate: float
    source: ArmsSource
    as_of_round: int


class WarLosses(_Event):
    """What one war destroyed (simulation.world.war_losses): amounts in arms and economy units."""

    offense_defense: float
    force_share: float
    """The initiator's share of effective force: b * x_i / (b * x_i + x_t)."""
    initiator_arms_lost: float
    target_arms_lost: float
    initiator_economy_lost: float
    target_economy_lost: float


class War(_Event):
    """Who started a war against whom, and what it cost when the run goes on after it."""

    round: int
    """The round whose resolution started the war."""
    initiator: str
    target: str | None
    action: Action
    losses: WarLosses | None = None
    """None when the war ends the run (no losses are applied) or in version-1 records."""


class Accident(_Event):
    """An order carried out one rung higher than given (`rules.accident_rate`)."""

    kind: Literal["accident"] = "accident"
    round: int
    actor: str
    target: str | None
    intended_action: Action
    intended_rung: Rung
    executed_action: Action
    executed_rung: Rung


class ResolutionEvent(_Event):
    """The simultaneous resolution of a round."""

    kind: Literal["resolution"] = "resolution"
    round: int
    outcomes: list[StateOutcome]
    proposals_opened: list[TreatyEvent]
    treaties_formed: list[TreatyEvent]
    breaches: list[Breach]
    treaties_ended: list[str]
    wars: list[War]
    intel: list[IntelEstimate]
    accidents: list[Accident] = Field(default_factory=list)
    """Orders carried out one rung higher this round (the outcomes hold the executed action);
    empty in records made before version 4, which had no accidents."""


class RoundEndEvent(_Event):
    """State of the world after a round."""

    kind: Literal["round_end"] = "round_end"
    round: int
    arms: dict[str, float]
    economy: dict[str, float]
    threat: dict[str, dict[str, int]]
    summit: bool


class Totals(_Event):
    """Counters over the whole run."""

    llm_calls: int = 0
    retries: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    """None when any call's price is unknown."""


class RunEndEvent(_Event):
    """Last line of a complete record."""

    kind: Literal["run_end"] = "run_end"
    outcome: Literal["completed", "war", "failed", "interrupted", "stopped"]
    """`completed` (every round played) and `war` (a war ended it) are finished runs; `failed`
    (a model call failed beyond its retries, or an error), `interrupted` (Ctrl-C, cancelled) and
    `stopped` (a spend limit, `--max-cost` / `--max-calls`, was reached) are unfinished runs
    that a resumed sweep sets aside and plays again."""
    rounds_played: int
    ended_by: Literal["last_round", "continuation", "war"] | None = None
    """Why a finished run ended: `last_round` (it reached `rules.rounds`, the fixed horizon or a
    geometric horizon's cap), `continuation` (a geometric horizon's draw ended the crisis) or
    `war` (a war under `war_ends_run`). None for unfinished runs. Records before 0.3.0 are
    migrated from their outcome (their horizon was always known)."""
    war_round: int | None
    war_initiator: str | None
    totals: Totals
    error: str | None
    ended_at: AwareDatetime


Event = Annotated[
    ObservationEvent
    | LlmCallEvent
    | NegotiationEvent
    | DecisionEvent
    | ResolutionEvent
    | RoundEndEvent
    | RunEndEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

Line = Annotated[
    Header
    | TextEvent
    | StoredObservationEvent
    | StoredLlmCallEvent
    | NegotiationEvent
    | DecisionEvent
    | ResolutionEvent
    | RoundEndEvent
    | RunEndEvent,
    Field(discriminator="kind"),
]
"""Any line of a record as written (the header first, then events and `text` lines); its JSON
Schema is the format's. Readers return `Event`s: `text` lines and message parts resolved."""
LINE_ADAPTER: TypeAdapter[Any] = TypeAdapter(Line)


class RecordError(ValueError):
    """A record file that cannot be read."""
