"""The research record (DESIGN.md §6): a header line, then one tagged event per line.

Every line is a pydantic model. `RecordWriter` appends and flushes each event as it happens;
`read_record` loads a file back and tolerates a truncated last line left by a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agents.decision import Decision, NegotiationReply
from agents.ladder import Action
from agents.observation import Observation, Phase

SCHEMA_VERSION = 1


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelInfo(_Event):
    """A state's model: the spec and the parameters sent (never a key)."""

    spec: str
    provider: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    structured_output: str


class PromptInfo(_Event):
    """The prompt setup used, with the content hash of each template."""

    name: str
    version: str
    template_hashes: dict[str, str]


class Header(_Event):
    """First line of a record: everything needed to know what was run."""

    kind: Literal["header"] = "header"
    schema_version: int = SCHEMA_VERSION
    run_id: str
    scenario_source: str
    scenario: dict[str, Any]
    experiment: dict[str, Any] | None = None
    prompt: PromptInfo
    models: dict[str, ModelInfo]
    seed: int
    max_retries: int
    response_cache: Literal["off", "read_write", "replay"] = "off"
    package_versions: dict[str, str]
    git_revision: str | None
    git_dirty: bool | None
    argv: list[str]
    started_at: str


class ObservationEvent(_Event):
    """Exactly what one state was shown before one model call."""

    kind: Literal["observation"] = "observation"
    round: int
    state: str
    phase: Phase
    subturn: int
    observation: Observation


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
    started_at: str


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
    """How one state's move resolved."""

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


class TreatyEvent(_Event):
    """A treaty formed, broken or in force."""

    id: str
    kind: str
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
    source: str
    as_of_round: int


class War(_Event):
    """Who started a war against whom."""

    initiator: str
    target: str | None
    action: Action


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
    outcome: Literal["completed", "war", "failed", "interrupted"]
    rounds_played: int
    war_round: int | None
    war_initiator: str | None
    totals: Totals
    error: str | None
    ended_at: str


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


class RecordError(ValueError):
    """A record file that cannot be read."""


# Characters that str.splitlines() treats as line breaks but JSON leaves raw inside strings.
_UNICODE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def _one_line(text: str) -> str:
    """JSON text with the Unicode line breaks escaped, so one event is one line to any reader."""
    for char, escaped in _UNICODE_BREAKS.items():
        text = text.replace(char, escaped)
    return text


class RecordWriter:
    """Append-only JSONL writer; every line is flushed when written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def open(self, header: Header) -> None:
        """Create the file (it must not exist) and write the header."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("x", encoding="utf-8")
        self._write(header)

    def write(self, event: BaseModel) -> None:
        """Append one event and flush it."""
        self._write(event)

    def _write(self, model: BaseModel) -> None:
        if self._fh is None:
            raise RuntimeError("record is not open")
        self._fh.write(_one_line(model.model_dump_json()) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class Record:
    """A loaded record."""

    path: Path
    header: Header
    events: list[BaseModel] = field(default_factory=list)
    truncated: bool = False

    @property
    def run_end(self) -> RunEndEvent | None:
        """The closing event, if the run finished writing its record."""
        last = self.events[-1] if self.events else None
        return last if isinstance(last, RunEndEvent) else None

    def of_kind(self, kind: type[Any]) -> list[Any]:
        """Events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]


def parse_header(line: str | bytes, path: Path) -> Header:
    """Validate a record's first line; refuse records newer than this reader."""
    try:
        header = Header.model_validate_json(line)
    except ValidationError as exc:
        raise RecordError(f"{path}: line 1 is not a valid header: {exc}") from exc
    if header.schema_version > SCHEMA_VERSION:
        raise RecordError(
            f"{path}: schema_version {header.schema_version} is newer than this reader"
            f" ({SCHEMA_VERSION})"
        )
    return header


def read_record(path: Path) -> Record:
    """Load a record; a truncated (unparseable) last line is dropped and flagged."""
    # Split on "\n" only: splitlines() would also split inside strings holding U+2028 and the like.
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise RecordError(f"{path}: empty record")
    record = Record(path=path, header=parse_header(lines[0], path))
    for n, line in enumerate(lines[1:], start=2):
        try:
            record.events.append(EVENT_ADAPTER.validate_json(line))
        except (ValidationError, json.JSONDecodeError) as exc:
            if n == len(lines):
                record.truncated = True
                break
            raise RecordError(f"{path}: line {n}: {exc}") from exc
    return record
