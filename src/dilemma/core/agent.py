"""What the round engine needs from the voice of a state: the `Agent` protocol and its results.

An agent is asked one turn at a time: given the state's observation and the reply schema of the
turn, it returns a validated reply (or None, for the engine's flagged fallback) and hands every
call it made to `log`, which writes it to the record. The LLM agent, a person's seat, a replay
of a record and any test double implement the protocol; none needs to subclass another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from dilemma.core.observation import Observation


@dataclass(frozen=True)
class CallLog:
    """One attempt, for the record."""

    attempt: int
    messages: list[tuple[str, str]]
    raw: str
    parsed: dict[str, Any] | None
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_s: float
    started_at: datetime


@dataclass(frozen=True)
class AskResult:
    """A validated reply (or None after every attempt failed) and the attempts made."""

    reply: BaseModel | None
    attempts: int
    error: str | None
    data: dict[str, Any] | None = None
    """The reply's JSON form (`reply.model_dump(mode="json")`, as recorded), when it validated."""


Log = Callable[[CallLog], None]
"""Where an agent hands each call it makes (the engine writes it to the record)."""


@runtime_checkable
class Agent(Protocol):
    """One state's voice, as the engine sees it."""

    @property
    def spec(self) -> str:
        """The model spec written with each of its calls (`llm_call.model`)."""
        ...

    @property
    def is_human(self) -> bool:
        """Whether a person answers: their turns are logged but not counted as model calls."""
        ...

    async def ask(self, obs: Observation, schema: type[BaseModel], log: Log) -> AskResult:
        """Answer one turn with a reply of `schema` (None: no valid reply); log every call."""
        ...
