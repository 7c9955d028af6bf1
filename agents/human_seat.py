"""A person in a state's seat: the same observation and reply schema as a model, from a desk.

`HumanAgent` (an `Agent`) plays a state whose model spec is `human` instead of a `StateAgent`. Each
turn it posts a `SeatRequest` (the observation, the briefing a model would get as its system
prompt, and the very reply schema a model must satisfy) to a `Desk`, a front-end: the terminal
(`dilemma play`) or the web app (`dilemma serve`, through `SeatQueue`). The answer is validated
with that schema, like a model's reply, and logged as one call of model `human` whose latency is
the time the person took. A desk that gives no answer within its deadline returns None: the turn
gets the usual flagged fallback, and the call's error starts with `timeout`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from dilemma.agents.prompt_setup import PromptSetup, render_system, render_turn
from pydantic import BaseModel, ValidationError

from dilemma.core.agent import AskResult, CallLog, Log
from dilemma.core.decision import schema_of, schema_text
from dilemma.core.observation import Observation
from dilemma.core.personas import Persona
from dilemma.models.human import human_model as human_model
from dilemma.models.spec import HUMAN_SPEC as HUMAN_SPEC
from dilemma.models.types import ResolvedModel, StructuredMode

TIMEOUT = "timeout"
"""How the error of a turn a person did not answer in time begins."""
TURN_CLOSED = "this turn is closed (answered, timed out, or replaced by a newer one)"
"""What `SeatQueue.submit` says of an answer to a turn that is no longer open."""


_ids = itertools.count(1)


@dataclass
class SeatRequest:
    """One turn waiting for a person: what they see and the schema their answer must fit."""

    state: str
    observation: Observation
    schema: type[BaseModel]
    briefing: str
    """The system prompt a model in this seat gets (persona, rules, ladder)."""
    instructions: str
    """The turn's prompt a model gets (with the observation as JSON)."""
    id: int = field(default_factory=lambda: next(_ids))
    deadline_s: float | None = None
    posted_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def others(self) -> list[str]:
        """The other states, in the order the reply lists them."""
        return [o.id for o in self.observation.others]

    @property
    def arms_range(self) -> tuple[int, int]:
        """The smallest and largest arms change the schema allows (the rules' cap)."""
        values = schema_of(self.schema)["properties"]["arms_change"]["enum"]
        return min(values), max(values)

    @property
    def offers(self) -> list[str]:
        """Ids of the open offers this state may answer (made by others)."""
        me = self.state
        return [p.id for p in self.observation.open_proposals or () if p.proposer != me]


@dataclass(frozen=True)
class SeatAnswer:
    """A validated answer from a person."""

    reply: BaseModel
    raw: str
    """The answer as submitted (JSON)."""


class Desk(Protocol):
    """A front-end that gets a person's answer to a request (None: no answer in time)."""

    async def ask(self, request: SeatRequest) -> SeatAnswer | None: ...


def _place(loc: tuple[int | str, ...]) -> str:
    """A field's place in words: `("threat", 0, "level")` is `threat 1, level`."""
    words: list[str] = []
    for part in loc:
        if isinstance(part, int):
            words[-1:] = [f"{words[-1] if words else 'item'} {part + 1}"]
        else:
            words.append(str(part).replace("_", " "))
    return ", ".join(words) or "the answer"


def _problem(err: Any) -> str:
    """What is wrong with a field, in plain words."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("too_short", "string_too_short"):
        return f"needs at least {ctx.get('min_length', 1)}"
    if kind in ("too_long", "string_too_long"):
        return f"is too long (at most {ctx.get('max_length')})"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        numbers = [int(n) for n in re.findall(r"-?\d+", expected)]
        if numbers and re.fullmatch(r"[-\d, or]+", expected):
            return f"must be a whole number from {min(numbers)} to {max(numbers)}"
        return f"must be one of {expected}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be yes or no"
    if kind == "extra_forbidden":
        return "is not part of this answer"
    return str(err.get("msg", "is not accepted"))


def validation_errors(exc: ValidationError) -> list[str]:
    """The errors of an answer in plain words, one a field (`threat 1, level: must be ...`)."""
    return [f"{_place(tuple(err['loc']))}: {_problem(err)}" for err in exc.errors()]


def validate_answer(
    schema: type[BaseModel], data: dict[str, Any]
) -> tuple[SeatAnswer | None, list[str]]:
    """Validate an answer with the seat's reply schema: (answer, []) or (None, errors)."""
    try:
        reply = schema.model_validate(data)
    except ValidationError as exc:
        return None, validation_errors(exc)
    return SeatAnswer(reply, json.dumps(data, ensure_ascii=False)), []


Timer = Callable[[float], Awaitable[Any]]


class SeatQueue:
    """The pending turns of a run's human seats, for front-ends that poll (the web app).

    `ask` posts a request and waits for `submit` to answer it, or for the deadline: `timer`
    (default asyncio.sleep) is awaited for `deadline_s` seconds, so tests can pass an event.
    `version` changes whenever a request is posted or closed.
    """

    def __init__(self, deadline_s: float | None = None, timer: Timer = asyncio.sleep) -> None:
        self.deadline_s = deadline_s
        self.timer = timer
        self.version = 0
        self._pending: dict[str, tuple[SeatRequest, asyncio.Future[SeatAnswer]]] = {}

    def pending(self, state: str) -> SeatRequest | None:
        """The turn waiting for this seat, if any."""
        entry = self._pending.get(state)
        return entry[0] if entry is not None else None

    def submit(self, state: str, request_id: int, data: dict[str, Any]) -> list[str]:
        """Answer the seat's pending turn: [] when accepted, [TURN_CLOSED] when the turn is no
        longer open (answered already, by an earlier submission too, timed out or replaced),
        else the errors to show. Only the first valid answer of a turn is accepted."""
        entry = self._pending.get(state)
        if entry is None or entry[0].id != request_id or entry[1].done():
            return [TURN_CLOSED]
        request, future = entry
        answer, errors = validate_answer(request.schema, data)
        if answer is None:
            return errors
        future.set_result(answer)
        del self._pending[state]  # closed now, not when `ask` next runs
        self.version += 1
        return []

    async def ask(self, request: SeatRequest) -> SeatAnswer | None:
        """Post the request and wait for its answer; None when the deadline passes first."""
        request.deadline_s = self.deadline_s
        future: asyncio.Future[SeatAnswer] = asyncio.get_running_loop().create_future()
        self._pending[request.state] = (request, future)
        self.version += 1
        waits: set[asyncio.Future[Any]] = {future}
        if self.deadline_s is not None:
            waits.add(asyncio.ensure_future(self.timer(self.deadline_s)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return future.result() if future.done() else None
        finally:
            for waiting in waits:
                if not waiting.done():
                    waiting.cancel()
            if self._pending.get(request.state, (None,))[0] is request:
                del self._pending[request.state]
            self.version += 1


class HumanAgent:
    """A state played by a person (an `Agent`): each turn goes to a desk, not a chat model."""

    def __init__(
        self, persona: Persona, model: ResolvedModel, setup: PromptSetup, desk: Desk
    ) -> None:
        self.persona = persona
        self.model = model
        self.setup = setup
        self.desk = desk

    @property
    def spec(self) -> str:
        """The seat's spec (`human`), as recorded."""
        return self.model.spec

    @property
    def is_human(self) -> bool:
        """Always: a person answers (their turns are not counted as model calls)."""
        return True

    async def ask(self, obs: Observation, schema: type[BaseModel], log: Log) -> AskResult:
        """Post the turn to the desk; log the answer (or the timeout) as one `human` call."""
        text_mode = self.model.structured is StructuredMode.JSON_TEXT
        request = SeatRequest(
            state=obs.you.id,
            observation=obs,
            schema=schema,
            briefing=render_system(self.setup, self.persona, obs),
            instructions=render_turn(self.setup, obs, schema_text(schema) if text_mode else None),
        )
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        answer = await self.desk.ask(request)
        latency = time.perf_counter() - t0
        shown = [("system", request.briefing), ("user", request.instructions)]
        if answer is None:
            error = f"{TIMEOUT}: no answer within the deadline of {request.deadline_s:g} s"
            log(_call(shown, "", None, error, latency, started))
            return AskResult(None, 1, error)
        parsed = answer.reply.model_dump(mode="json")
        log(_call(shown, answer.raw, parsed, None, latency, started))
        return AskResult(answer.reply, 1, None)


def _call(
    messages: list[tuple[str, str]],
    raw: str,
    parsed: dict[str, Any] | None,
    error: str | None,
    latency: float,
    started: datetime,
) -> CallLog:
    return CallLog(
        attempt=1,
        messages=messages,
        raw=raw,
        parsed=parsed,
        error=error,
        input_tokens=None,
        output_tokens=None,
        cost_usd=0.0,
        latency_s=latency,
        started_at=started,
    )
