"""Which lines of a record the evaluator reads, and the models it validates them with.

The loader (`dilemma.evaluation.load`) reads records through `dilemma.records.reader.scan`
with `choose` as the line filter: `llm_call`, `round_end` and negotiation-phase observation
lines are skipped unvalidated (recognised by the prefix `model_dump_json` writes); decision-phase
observations are validated with the slim `DecisionObservation`; other lines with their event's
own model, or with the full event union when written in another key order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from dilemma.core.observation import ArmsSource, Phase
from dilemma.records.reader import LineModel, scan
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.records.schema import (
    EVENT_ADAPTER,
    DecisionEvent,
    Header,
    LlmCallEvent,
    NegotiationEvent,
    ObservationEvent,
    ResolutionEvent,
    RoundEndEvent,
    RunEndEvent,
)

_SKIP_PREFIXES = (b'{"kind":"llm_call"', b'{"kind":"round_end"')
_OBSERVATION_PREFIX = b'{"kind":"observation"'
_DIRECT: dict[bytes, type[BaseModel]] = {
    f'{{"kind":"{model.model_fields["kind"].default}"'.encode(): model
    for model in (DecisionEvent, ResolutionEvent, NegotiationEvent, RunEndEvent)
}
_NEGOTIATION_PHASE = f'"phase":"{Phase.NEGOTIATION.value}"'.encode()


class SeenArms(BaseModel):
    """The fields of `dilemma.core.observation.OtherView` the evaluator reads (others ignored)."""

    id: str
    arms: float
    arms_source: ArmsSource
    arms_as_of_round: int


class SeenOthers(BaseModel):
    """The part of `dilemma.core.observation.Observation` the evaluator reads."""

    others: list[SeenArms]


class DecisionObservation(BaseModel):
    """A decision-phase `ObservationEvent`, read for what the observer saw of others' arms.

    Validating only these fields is three times faster than the full observation; a test
    checks that every field named here exists, with the same meaning, in the full schema.
    """

    kind: Literal["observation"]
    round: int
    state: str
    phase: Phase
    observation: SeenOthers


def choose(line: bytes) -> LineModel | None:
    """The model to validate one line with, None for lines the evaluator never reads.

    The kind is judged from the prefix `model_dump_json` writes (`kind` first) and the line is
    validated with that event's model; a line written in another key order is validated with the
    full event union (see `kept`), so the shortcut never changes a result. llm_call, round_end
    and negotiation-phase observation lines are not read (nor validated).
    """
    if line.startswith(_SKIP_PREFIXES):
        return None
    if line.startswith(_OBSERVATION_PREFIX):
        return None if _NEGOTIATION_PHASE in line[:160] else DecisionObservation
    return _DIRECT.get(line[: line.find(b'",') + 1], EVENT_ADAPTER)


def kept(event: Any) -> Any:
    """An event as the loader keeps it (None: not needed), for lines in another key order."""
    if isinstance(event, (LlmCallEvent, RoundEndEvent)):
        return None
    if isinstance(event, ObservationEvent):
        return DecisionObservation.model_validate(event.model_dump())
    return event


def read_events(path: Path) -> tuple[Header, ScenarioSnapshot, list[Any], bool]:
    """Header, scenario, kept events and truncated flag of one record (rules of read_record).

    The scenario is the header's own snapshot, never re-validated against today's scenario
    schema: a record stays readable however scenario definitions change.
    """
    found = scan(path, choose)
    events = [k for event in found.events if (k := kept(event)) is not None]
    return found.header, found.header.scenario, events, found.truncated
