"""The LLM state agent: renders the prompt, asks for structured output, validates, re-asks.

`StateAgent` implements the engine's `Agent` protocol (`dilemma.core.agent`); replies are parsed
and validated by `dilemma.agents.reply_parsing`. A reply that does not validate is re-asked with
the validation error up to `max_retries` times; after that the caller gets `None` plus the last
error and records a flagged fallback. Transport failures (after the client's own retries) raise
`ModelCallError`: they are not parse failures. Any other exception of a call (a bug in our code
or in a library) propagates unchanged, so it is never recorded as the model's failure.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
from dilemma.agents.direct_call import cache_configured, direct_path, generate_directly
from dilemma.agents.prompt_setup import PromptSetup, render_retry, render_system, render_turn
from dilemma.agents.reply_parsing import ParseFailure, parse_reply
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration
from langchain_core.runnables import RunnableBinding
from pydantic import BaseModel

from dilemma.core.agent import AskResult, CallLog, Log
from dilemma.core.decision import schema_of, schema_text
from dilemma.core.observation import Observation
from dilemma.core.personas import Persona
from dilemma.core.safe_text import public_url
from dilemma.models.budget import SpendBudget, output_ceiling, prompt_token_bound
from dilemma.models.openai_chat import NotAChatCompletion
from dilemma.models.pricing import Price, cost_at, price_of
from dilemma.models.response_cache import CallIdentity, ResponseCache, cache_key, cache_params
from dilemma.models.spec import OPENAI
from dilemma.models.types import ModelUnavailable, ResolvedModel, StructuredMode

OPENAI_URL = "https://api.openai.com/v1"
"""Where `openai:` models go without a base URL (named in connection errors)."""

REPLY_TOOL = "reply"
BODY_RETRIES = 2
"""Retries of a response whose body is not JSON."""
BODY_ERRORS: tuple[type[Exception], ...] = (
    json.JSONDecodeError,
    openai.APIResponseValidationError,
    NotAChatCompletion,  # an HTML or plain-text body, however it is labelled
)
"""What a body that is not JSON raises; retried BODY_RETRIES times."""


def body_retry_wait(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, ...): 2 ** (attempt - 1) plus up to
    1 s of jitter, as tenacity's `wait_exponential_jitter()` (what `with_retry` used)."""
    return 2.0 ** (attempt - 1) + random.uniform(0, 1.0)


class ModelCallError(RuntimeError):
    """A model call failed at the transport level after the client's retries."""


TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    openai.APIError,  # HTTP status, connection, timeout, unusable body (the local server too)
    httpx.HTTPError,
    OSError,  # connection refused or reset, name resolution
    TimeoutError,
    json.JSONDecodeError,  # a body that is still not JSON after BODY_RETRIES
    ModelUnavailable,  # our stand-in models (a fake model with no reply left)
)
"""Exceptions of a model call that are the model's or the network's fault."""
_NOT_PROVIDER_PACKAGES = frozenset(
    {
        "builtins",
        "dilemma",
        "langchain",
        "langchain_core",
        "pydantic",
        "pydantic_core",
    }
)


def is_transport_error(exc: Exception) -> bool:
    """Whether a failed call is the model's or the network's fault rather than a bug.

    Besides `TRANSPORT_ERRORS`, an exception class defined by another package counts: that is
    a provider SDK's own error (e.g. anthropic.APIStatusError). Built-in exceptions (TypeError,
    AttributeError, KeyError, ValueError, ...) and exceptions of our packages, LangChain's core
    or pydantic are bugs.
    """
    if isinstance(exc, TRANSPORT_ERRORS):
        return True
    return type(exc).__module__.partition(".")[0] not in _NOT_PROVIDER_PACKAGES


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _role(message: BaseMessage) -> str:
    return _ROLES.get(message.type, message.type)


def _logged(messages: list[BaseMessage]) -> list[tuple[str, str]]:
    """(role, text) of each message for the record (a plain string content is its text)."""
    return [(_role(m), m.content if isinstance(m.content, str) else m.text) for m in messages]


@dataclass(frozen=True)
class RunIdentity:
    """The run an agent plays in, part of every response-cache key (repeats never share)."""

    run_id: str
    seed: int


class StateAgent:
    """One state's voice (an `Agent`): a persona, a prompt setup and a chat model.

    With a response `cache`, `run` is required: the cache key of every call holds the run's
    identity and the call's place in it (state, round, phase, sub-turn, attempt).
    """

    def __init__(
        self,
        persona: Persona,
        model: ResolvedModel,
        setup: PromptSetup,
        *,
        max_retries: int = 2,
        limiter: asyncio.Semaphore | None = None,
        cache: ResponseCache | None = None,
        run: RunIdentity | None = None,
        budget: SpendBudget | None = None,
    ) -> None:
        if cache is not None and run is None:
            raise ValueError("a state agent with a response cache needs its run's identity")
        self.persona = persona
        self.model = model
        self.setup = setup
        self.max_retries = max_retries
        self.limiter = limiter or asyncio.Semaphore(1)
        self.cache = cache
        self.run = run
        self.budget = budget
        url = model.params.get("base_url") or (OPENAI_URL if model.provider == OPENAI else None)
        self._server = f" (server {public_url(str(url))})" if url else ""
        """Where the model's calls go, for error messages (no credentials)."""
        self._runnables: dict[type[BaseModel], Any] = {}
        self._price: tuple[Price | None] | None = None
        self._system_messages: dict[str, SystemMessage] = {}

    def _cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """USD cost of one call (None when unknown); the price is looked up at the first call
        and kept for the agent's run (a price file edited mid-run does not split a run's cost)."""
        if self._price is None:
            self._price = (price_of(self.model.provider, self.model.model),)
        return cost_at(self._price[0], input_tokens, output_tokens)

    def _messages(self, obs: Observation, schema: type[BaseModel]) -> list[BaseMessage]:
        text_mode = self.model.structured is StructuredMode.JSON_TEXT
        schema_json = schema_text(schema)
        system = render_system(self.setup, self.persona, obs)
        message = self._system_messages.get(system)
        if message is None:  # the same text (and message) in every call of a run
            message = self._system_messages[system] = SystemMessage(system)
        return [
            message,
            HumanMessage(render_turn(self.setup, obs, schema_json if text_mode else None)),
        ]

    @staticmethod
    def _call_identity(run: RunIdentity, obs: Observation, attempt: int) -> CallIdentity:
        return CallIdentity(
            run_id=run.run_id,
            seed=run.seed,
            state=obs.you.id,
            round=obs.round,
            phase=obs.phase.value,
            subturn=obs.subturn,
            attempt=attempt,
        )

    async def _invoke(
        self, messages: list[BaseMessage], schema: type[BaseModel], obs: Observation, attempt: int
    ) -> AIMessage:
        if self.cache is None or self.run is None:  # __init__ requires a run with a cache
            return await self._call(messages, schema)
        call = self._call_identity(self.run, obs, attempt)
        identity = {
            "spec": self.model.spec,
            "params": cache_params(self.model.params),
            "structured": self.model.structured.value,
        }
        key = cache_key(call, identity, messages, schema_of(schema))
        cached = self.cache.get(key, call)
        if cached is not None:
            return cached
        reply = await self._call(messages, schema)
        self.cache.put(key, call, self.model.spec, reply)
        return reply

    def _runnable(self, schema: type[BaseModel]) -> tuple[Any, dict[str, Any], bool]:
        """The model, the call arguments binding it to this reply schema, and whether it may be
        called directly (`direct_call.direct_path`); built once per schema.

        A tool binding is unwrapped into its model and arguments: `RunnableBinding.ainvoke`
        would only add them (its config is empty), at the cost of another config merge.
        """
        runnable = self._runnables.get(schema)
        if runnable is None:
            chat: Any = self.model.chat
            kwargs: dict[str, Any] = {}
            if self.model.structured is StructuredMode.FUNCTION_CALLING:
                bound = chat.bind_tools(
                    [{**schema_of(schema), "title": REPLY_TOOL, "description": "Your reply."}],
                    tool_choice=REPLY_TOOL,
                )
                if (
                    isinstance(bound, RunnableBinding)
                    and not bound.config
                    and not bound.config_factories
                ):
                    chat, kwargs = bound.bound, dict(bound.kwargs)
                else:
                    chat = bound
            direct = isinstance(chat, BaseChatModel) and direct_path(chat, kwargs)
            runnable = (chat, kwargs, direct)
            self._runnables[schema] = runnable
        return runnable

    async def _ainvoke(self, schema: type[BaseModel], messages: list[BaseMessage]) -> Any:
        """The model's reply, with bounded retries (and backoff) of a body that is not JSON.

        A 200 whose body is not JSON (a proxy's error page) is a transport fault the client
        does not retry itself. The loop does what LangChain's `with_retry` did here (same
        exceptions, attempts and waits) without a runnable wrapper's per-call cost.

        A chat model is called through `agenerate`, the public entry point its `ainvoke` wraps:
        the same callbacks, tracing, rate limiter and generation, without `ainvoke`'s config
        merge and input conversion (we pass no config, and the messages are already messages).
        When that wrapper would do nothing (no callbacks, tracing, rate limiter, cache or
        streaming), the model's own `_agenerate` is called directly (agents/direct_call.py).
        """
        chat, kwargs, direct = self._runnable(schema)
        for attempt in range(1, BODY_RETRIES + 2):
            try:
                if direct and not cache_configured(chat):
                    return await generate_directly(chat, messages, kwargs)
                if isinstance(chat, BaseChatModel):
                    generation = (await chat.agenerate([messages], **kwargs)).generations[0][0]
                    return generation.message if isinstance(generation, ChatGeneration) else None
                return await chat.ainvoke(messages, **kwargs)
            except BODY_ERRORS:
                if attempt > BODY_RETRIES:
                    raise
            await asyncio.sleep(body_retry_wait(attempt))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _tool_text(self, schema: type[BaseModel]) -> str:
        """The reply schema's text when the model gets it as a tool (else it is in the prompt)."""
        if self.model.structured is StructuredMode.FUNCTION_CALLING:
            return schema_text(schema)
        return ""

    async def _call(self, messages: list[BaseMessage], schema: type[BaseModel]) -> AIMessage:
        """One model call, once a place under the limit on calls in flight is free and the spend
        budget (if any) allows it: SpendLimitReached when it does not, before anything is sent."""
        deadline = self.model.call_deadline_s
        provider, model = self.model.provider, self.model.model
        async with self.limiter:
            budget = self.budget
            estimate = (
                budget.reserve(
                    provider,
                    model,
                    prompt_token_bound([*(m.text for m in messages), self._tool_text(schema)]),
                    output_ceiling(self.model.params),
                )
                if budget is not None
                else 0.0
            )
            cost: float | None = 0.0  # a call that fails or is cancelled is recorded as free
            bound = asyncio.timeout(deadline)  # starts once the call may go out
            try:
                async with bound:
                    reply = await self._ainvoke(schema, messages)
                if isinstance(reply, AIMessage):
                    usage = reply.usage_metadata
                    cost = self._cost(
                        usage["input_tokens"] if usage else None,
                        usage["output_tokens"] if usage else None,
                    )
            except TimeoutError as exc:
                if not bound.expired():
                    raise ModelCallError(f"{type(exc).__name__}: {exc}{self._server}") from exc
                raise ModelCallError(
                    f"no reply within the call deadline of {deadline:g} s (every attempt and"
                    f" retry included){self._server}"
                ) from exc
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                raise ModelCallError(f"{type(exc).__name__}: {exc}{self._server}") from exc
            finally:
                if budget is not None:
                    budget.settle(provider, model, estimate, cost)
        if not isinstance(reply, AIMessage):
            raise ModelCallError(f"model returned {type(reply).__name__}, not an AI message")
        return reply

    @property
    def spec(self) -> str:
        """The model's spec, as recorded."""
        return self.model.spec

    @property
    def is_human(self) -> bool:
        """Whether the model is a person's seat (a `HumanAgent` plays such a state)."""
        return self.model.is_human

    async def ask(self, obs: Observation, schema: type[BaseModel], log: Log) -> AskResult:
        """Ask until a reply validates or retries run out; `log` receives every attempt."""
        messages = self._messages(obs, schema)
        error: str | None = None
        for attempt in range(1, self.max_retries + 2):
            started = datetime.now(UTC)
            t0 = time.perf_counter()
            try:
                reply = await self._invoke(messages, schema, obs, attempt)
            except ModelCallError as exc:
                log(_failed_call(attempt, messages, str(exc), time.perf_counter() - t0, started))
                raise
            latency = time.perf_counter() - t0
            usage = reply.usage_metadata
            tokens_in = usage["input_tokens"] if usage else None
            tokens_out = usage["output_tokens"] if usage else None
            parsed: BaseModel | None = None
            data: dict[str, Any] | None = None
            try:
                raw, parsed = parse_reply(reply, schema, self.model.structured)
                data = parsed.model_dump(mode="json")
                error = None
            except ParseFailure as exc:
                raw, error = exc.raw, exc.reason
            log(
                CallLog(
                    attempt=attempt,
                    messages=_logged(messages),
                    raw=raw,
                    parsed=data,
                    error=error,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_usd=self._cost(tokens_in, tokens_out),
                    latency_s=latency,
                    started_at=started,
                )
            )
            if parsed is not None:
                return AskResult(parsed, attempt, None, data)
            messages = [
                *messages,
                AIMessage(raw[:2000]),
                HumanMessage(render_retry(self.setup, error or "invalid reply")),
            ]
        return AskResult(None, self.max_retries + 1, error)


def _failed_call(
    attempt: int, messages: list[BaseMessage], error: str, latency: float, started: datetime
) -> CallLog:
    """The record of a call that failed at the transport level (no reply at all)."""
    return CallLog(
        attempt=attempt,
        messages=_logged(messages),
        raw="",
        parsed=None,
        error=f"call failed: {error}",
        input_tokens=None,
        output_tokens=None,
        cost_usd=0.0,  # no reply came back, so nothing was billed
        latency_s=latency,
        started_at=started,
    )
