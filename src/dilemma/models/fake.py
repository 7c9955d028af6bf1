"""A scripted fake chat model for tests and benchmarks.

Queue replies with `enqueue`, or pass `responder` to compute each reply from the messages. Every
call is kept in `calls`. When the queue is empty and there is no responder it raises, rather than
repeating a reply, so a test never passes on a reply it did not script. With `usage`, each reply
reports token counts (input, output) computed from the messages and the reply text, as a
provider's usage metadata.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from dilemma.models.types import ModelUnavailable


class FakeModelExhausted(ModelUnavailable):
    """The fake model was called with no reply left to give (recorded as a failed call)."""


class FakeChatModel(BaseChatModel):
    """Replies from a queue or a callable; records every call; optional fixed latency."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responder: Callable[[list[BaseMessage]], str] | None = None
    usage: Callable[[list[BaseMessage], str], tuple[int, int]] | None = None
    """(input, output) tokens of a call from its messages and reply; None: none reported."""
    latency_s: float = 0.0
    name_: str = Field(default="fake", alias="name_")
    _queue: list[str] = PrivateAttr(default_factory=list)
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _spans: list[tuple[float, float]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake"

    def enqueue(self, *replies: str) -> FakeChatModel:
        """Add replies to give, in order."""
        self._queue.extend(replies)
        return self

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The messages of every call so far."""
        return self._calls

    @property
    def spans(self) -> list[tuple[float, float]]:
        """(start, end) monotonic times of every call, to measure overlap."""
        return self._spans

    def _next(self, messages: list[BaseMessage]) -> str:
        self._calls.append(list(messages))
        if self._queue:
            return self._queue.pop(0)
        if self.responder is not None:
            return self.responder(messages)
        raise FakeModelExhausted(f"fake model has no reply left (call {len(self._calls)})")

    def _result(self, messages: list[BaseMessage], text: str) -> ChatResult:
        if self.usage is None:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])
        tokens_in, tokens_out = self.usage(messages, text)
        usage = UsageMetadata(
            input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out
        )
        message = AIMessage(text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        start = time.monotonic()
        if self.latency_s:
            time.sleep(self.latency_s)
        text = self._next(messages)
        self._spans.append((start, time.monotonic()))
        return self._result(messages, text)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        start = time.monotonic()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        text = self._next(messages)
        self._spans.append((start, time.monotonic()))
        return self._result(messages, text)
