"""A failed model call is recorded as the model's failure only when it is one; bugs propagate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from dilemma.agents.state_agent import ModelCallError, is_transport_error
from langchain_core.messages import BaseMessage

from dilemma.models.fake import FakeChatModel, FakeModelExhausted
from dilemma.records.reader import read_record
from dilemma.records.schema import LlmCallEvent
from dilemma.simulation.runner import RunConfig, RunFailed, play_scenario, run_scenario
from tests.helpers.engine import fake, make_scenario, policy_model

# Any: the openai SDK types its errors with its own httpx fork (httpx2), httpx's with httpx.
REQUEST: Any = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
RESPONSE_503: Any = httpx.Response(503, request=REQUEST)
# A provider SDK's own error class (as anthropic's are), defined outside our packages.
ProviderError = type("APIStatusError", (Exception,), {"__module__": "some_provider._exceptions"})


def _failed_calls(path: Path) -> list[LlmCallEvent]:
    return [
        c
        for c in read_record(path).of_kind(LlmCallEvent)
        if (c.error or "").startswith("call failed")
    ]


@pytest.mark.parametrize(
    "bug",
    [
        TypeError("unsupported operand type(s) for +: 'int' and 'str'"),
        AttributeError("'NoneType' object has no attribute 'you'"),
        KeyError("arms"),
        ValueError("a bad value computed by our code"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_bug_inside_our_code_propagates_and_is_not_a_failed_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bug: Exception
) -> None:
    def broken(prompt: str) -> None:
        raise bug

    # A bug in the scripted policy, which runs inside the model call.
    monkeypatch.setattr("dilemma.models.scripted.extract_observation", broken)
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2)
    with pytest.raises(RunFailed) as info:
        await run_scenario(
            scenario, RunConfig(seed=0, out_dir=tmp_path), default_model="scripted:dove"
        )
    assert info.value.__cause__ is bug  # not wrapped as a model (transport) failure
    assert not isinstance(info.value.__cause__, ModelCallError)
    assert info.value.cause.startswith(type(bug).__name__)
    assert _failed_calls(info.value.path) == []


@pytest.mark.parametrize(
    "fault",
    [
        openai.APIConnectionError(request=REQUEST),
        openai.APITimeoutError(request=REQUEST),
        httpx.ConnectError("connection refused", request=REQUEST),
        TimeoutError("read timed out"),
        ConnectionResetError("connection reset by peer"),
        ProviderError("529 overloaded"),
        FakeModelExhausted("fake model has no reply left"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_transport_failure_is_recorded_as_a_failed_call(
    tmp_path: Path, fault: Exception
) -> None:
    def failing(messages: list[BaseMessage]) -> str:
        raise fault

    models = {"A": fake(FakeChatModel(responder=failing)), "B": fake(policy_model("dove"))}
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2, subturns=0)
    with pytest.raises(RunFailed) as info:
        await play_scenario(scenario, models, RunConfig(seed=0, out_dir=tmp_path))
    assert isinstance(info.value.__cause__, ModelCallError)
    assert info.value.__cause__.__cause__ is fault
    failed = _failed_calls(info.value.path)
    assert [(c.state, c.attempt) for c in failed] == [("A", 1)]
    assert type(fault).__name__ in (failed[0].error or "")


def test_transport_errors_are_told_from_bugs() -> None:
    transport: list[Callable[[], Exception]] = [
        lambda: openai.APIStatusError("server error", response=RESPONSE_503, body=None),
        lambda: httpx.ReadTimeout("timed out", request=REQUEST),
        lambda: ProviderError("rate limited"),
    ]
    bugs: list[Callable[[], Exception]] = [
        lambda: TypeError("x"),
        lambda: AttributeError("x"),
        lambda: NameError("x"),
        lambda: IndexError("x"),
        lambda: RuntimeError("x"),
        lambda: ModelCallError("already wrapped"),
    ]
    assert all(is_transport_error(make()) for make in transport)
    assert not any(is_transport_error(make()) for make in bugs)
