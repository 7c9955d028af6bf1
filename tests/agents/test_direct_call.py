"""A model call skips LangChain's wrapper only when the wrapper would do nothing.

The records of a run are the same whichever way the model was called, and callbacks, tracing
hooks, a LangChain cache or a rate limiter, when configured, are still served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.globals import set_llm_cache
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.tracers.context import register_configure_hook

from dilemma.models.scripted import ScriptedPolicy
from dilemma.models.types import ResolvedModel, StructuredMode
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model
from tests.helpers.fake_openai_server import Reply
from tests.helpers.inprocess_openai import inprocess_model
from tests.helpers.replies import only_record


class Counting(AsyncCallbackHandler):
    """Counts the chat-model starts LangChain reports to it."""

    def __init__(self) -> None:
        self.starts = 0

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.starts += 1


HOOK: ContextVar[Counting | None] = ContextVar("dilemma_test_hook", default=None)
register_configure_hook(HOOK, inheritable=True)


class CountingLimiter(InMemoryRateLimiter):
    """A rate limiter that never waits and counts what it was asked."""

    acquired: int = 0

    async def aacquire(self, *, blocking: bool = True) -> bool:
        type(self).acquired += 1
        return True


def _canonical(path: Path) -> list[dict[str, Any]]:
    """The record's lines without times, in a fixed order: concurrent states' calls may finish
    (and be written) in either order, whichever way the model is called."""
    volatile = {"started_at", "ended_at", "latency_s"}
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    lines[0].pop("argv", None)
    kept = [{k: v for k, v in line.items() if k not in volatile} for line in lines]
    return sorted(kept, key=lambda line: json.dumps(line, sort_keys=True))


def _messages(body: dict[str, Any]) -> list[BaseMessage]:
    return [
        SystemMessage(m["content"]) if m["role"] == "system" else HumanMessage(m["content"])
        for m in body["messages"]
    ]


def _openai(policy: str, mode: StructuredMode) -> ResolvedModel:
    scripted = ScriptedPolicy(policy=policy)

    def answer(body: dict[str, Any]) -> Reply:
        text = scripted._answer(_messages(body))
        return (
            Reply(tool_args=text)
            if mode is StructuredMode.FUNCTION_CALLING
            else Reply(content=text)
        )

    return inprocess_model(answer, mode, name=f"gpt-{policy}")


async def _play(out: Path, models: dict[str, ResolvedModel]) -> Path:
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2, subturns=1)
    await play_scenario(scenario, models, RunConfig(seed=5, out_dir=out, argv=["test"]))
    return only_record(out)


def _fakes() -> dict[str, ResolvedModel]:
    return {"A": fake(policy_model("hawk")), "B": fake(policy_model("tit-for-tat"))}


@pytest.fixture
def global_cache() -> Iterator[InMemoryCache]:
    cache = InMemoryCache()
    set_llm_cache(cache)
    try:
        yield cache
    finally:
        set_llm_cache(None)


async def test_a_tracing_hook_sees_every_call_and_the_record_is_unchanged(tmp_path: Path) -> None:
    plain = await _play(tmp_path / "plain", _fakes())
    handler = Counting()
    token = HOOK.set(handler)
    try:
        hooked = await _play(tmp_path / "hooked", _fakes())
    finally:
        HOOK.reset(token)
    calls = sum(1 for e in _canonical(hooked) if e.get("kind") == "llm_call")
    assert calls > 0 and handler.starts == calls
    assert _canonical(plain) == _canonical(hooked)


@pytest.mark.parametrize("mode", [StructuredMode.FUNCTION_CALLING, StructuredMode.JSON_TEXT])
async def test_an_openai_model_writes_the_same_record_with_and_without_callbacks(
    tmp_path: Path, mode: StructuredMode
) -> None:
    plain = await _play(
        tmp_path / "plain", {"A": _openai("hawk", mode), "B": _openai("dove", mode)}
    )
    handler = Counting()
    models = {"A": _openai("hawk", mode), "B": _openai("dove", mode)}
    for model in models.values():
        model.chat.callbacks = [handler]
    with_callbacks = await _play(tmp_path / "callbacks", models)
    assert handler.starts == sum(
        1 for e in _canonical(with_callbacks) if e.get("kind") == "llm_call"
    )
    assert _canonical(plain) == _canonical(with_callbacks)
    calls = [e for e in _canonical(plain) if e.get("kind") == "llm_call"]
    assert calls and all(c["input_tokens"] == 120 and c["output_tokens"] == 40 for c in calls)


async def test_a_global_langchain_cache_is_still_consulted(
    tmp_path: Path, global_cache: InMemoryCache
) -> None:
    await _play(tmp_path / "cached", _fakes())
    assert global_cache._cache  # every reply went through the wrapper into the cache


async def test_a_rate_limiter_is_still_applied(tmp_path: Path) -> None:
    CountingLimiter.acquired = 0
    models = _fakes()
    for model in models.values():
        model.chat.rate_limiter = CountingLimiter(requests_per_second=1000)
    record = await _play(tmp_path / "limited", models)
    calls = sum(1 for e in _canonical(record) if e.get("kind") == "llm_call")
    assert calls > 0 and CountingLimiter.acquired == calls
