"""Faults of an OpenAI-compatible server: retries, backoff, recorded failures, intact records.

Every test talks to `FakeOpenAIServer` on 127.0.0.1 through the real openai:MODEL path
(langchain-openai -> openai SDK -> HTTP), with transport retries as ModelOptions sets them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest
from dilemma.agents import state_agent
from dilemma.scenarios.library import load_builtin, parse_scenario
from dilemma.scenarios.schema import Scenario

from dilemma.models.registry import ModelOptions, StructuredMode, resolve_model
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, RunEndEvent
from dilemma.simulation.runner import RunConfig, RunFailed, run_scenario
from tests.helpers.clock import FakeClock
from tests.helpers.fake_openai_server import (
    Behaviour,
    Drop,
    FakeOpenAIServer,
    Hang,
    RawBody,
    Reply,
    Status,
    policy_responder,
)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-faults")
    monkeypatch.delenv("DILEMMA_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The openai client's backoff and Retry-After waits pass on a fake clock: recorded, not
    slept. The state agent times its calls on the same clock."""
    clock = FakeClock()
    monkeypatch.setattr(anyio, "sleep", clock.async_sleep)
    clock.install(monkeypatch, state_agent)
    return clock


def options(
    srv: FakeOpenAIServer,
    *,
    retries: int = 2,
    timeout: float = 5.0,
    mode: StructuredMode = StructuredMode.JSON_TEXT,
) -> ModelOptions:
    return ModelOptions(
        base_url=srv.base_url, transport_retries=retries, timeout_s=timeout, structured=mode
    )


def small_scenario(rounds: int = 1, subturns: int = 0) -> Scenario:
    data = load_builtin("two-rivals").model_dump(mode="json")
    data["rules"].update(rounds=rounds, subturns=subturns)
    return parse_scenario(data, "two-rivals (short)")


async def play(
    srv: FakeOpenAIServer,
    out: Path,
    model: str = "gpt-a",
    *,
    max_retries: int = 1,
    scenario: Scenario | None = None,
    **kw: Any,
) -> Path:
    scenario = scenario or small_scenario()
    return await run_scenario(
        scenario,
        RunConfig(seed=1, out_dir=out, max_retries=max_retries),
        overrides={s: f"openai:{model}" for s in scenario.ids},
        options=options(srv, **kw),
    )


def check_integrity(path: Path) -> list[dict[str, Any]]:
    """Every line parses; one header first, one run_end last; no call or decision twice."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "header" and kinds.count("header") == 1
    assert kinds[-1] == "run_end" and kinds.count("run_end") == 1
    calls = Counter(
        (e["round"], e["state"], e["phase"], e["subturn"], e["attempt"])
        for e in lines
        if e["kind"] == "llm_call"
    )
    assert all(n == 1 for n in calls.values()), calls
    decisions = Counter((e["round"], e["state"]) for e in lines if e["kind"] == "decision")
    assert all(n == 1 for n in decisions.values()), decisions
    read_record(path)  # and the typed reader accepts it
    return lines


def same_call(srv: FakeOpenAIServer, model: str) -> list[int]:
    """How many times each distinct call (identical request body) was sent."""
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in srv.chat_requests(model))
    return list(bodies.values())


# --- transport layer: the openai:MODEL client ------------------------------------------------


async def test_retry_after_is_honoured(openai_server: FakeOpenAIServer, clock: FakeClock) -> None:
    openai_server.enqueue(Status(429, retry_after="1"))
    chat = resolve_model("openai:gpt-a", options=options(openai_server)).chat
    reply = await chat.ainvoke("hello")
    assert reply.text == "ok"
    assert len(openai_server.chat_requests()) == 2
    assert clock.sleeps == [1.0]  # waited what the server asked before retrying


async def test_server_errors_are_retried_a_bounded_number_of_times(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.enqueue(Status(500), Status(503))
    chat = resolve_model("openai:gpt-a", options=options(openai_server, retries=2)).chat
    assert (await chat.ainvoke("hello")).text == "ok"
    assert len(openai_server.chat_requests()) == 3

    openai_server.requests.clear()
    openai_server.enqueue(*[Status(503)] * 5)
    with pytest.raises(openai.InternalServerError):
        await chat.ainvoke("hello")
    assert len(openai_server.chat_requests()) == 3  # 1 + transport_retries


@pytest.mark.parametrize("fault", [Hang(), Drop()], ids=["read-timeout", "dropped"])
async def test_timeouts_and_dropped_connections_are_retried(
    openai_server: FakeOpenAIServer, fault: Behaviour
) -> None:
    openai_server.enqueue(fault)
    chat = resolve_model(
        "openai:gpt-a", options=options(openai_server, retries=1, timeout=0.5)
    ).chat
    assert (await chat.ainvoke("hello")).text == "ok"
    assert len(openai_server.chat_requests()) == 2


# --- the run: recorded failures, other runs go on --------------------------------------------


async def test_run_waits_out_429_and_completes(
    openai_server: FakeOpenAIServer, tmp_path: Path, clock: FakeClock
) -> None:
    openai_server.script("gpt-a", Status(429, retry_after="1"))
    path = await play(openai_server, tmp_path)
    lines = check_integrity(path)
    assert lines[-1]["outcome"] == "completed"
    assert sorted(same_call(openai_server, "gpt-a")) == [1, 2]  # one call was sent again
    assert clock.sleeps == [1.0]
    calls = [e for e in lines if e["kind"] == "llm_call"]
    assert len(calls) == 2 and all(c["error"] is None for c in calls)
    assert max(c["latency_s"] for c in calls) == 1.0  # the wait is part of the call


async def test_run_survives_transient_500_503_and_dropped_connection(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.script("gpt-a", Status(500), Status(503), Drop())
    path = await play(openai_server, tmp_path, retries=3)
    lines = check_integrity(path)
    assert lines[-1]["outcome"] == "completed"
    assert len(openai_server.chat_requests("gpt-a")) == 2 + 3
    assert [e["flagged"] for e in lines if e["kind"] == "decision"] == [False, False]


def _failing_for(model: str, fault: Behaviour) -> Any:
    default = policy_responder()

    def respond(body: dict[str, Any]) -> Behaviour:
        return fault if body.get("model") == model else default(body)

    return respond


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Status(503, message="overloaded"), "503"),
        (Status(429, retry_after="0", message="rate limited"), "429"),
        (Hang(), "timed out"),
        (RawBody("<html>proxy error</html>"), "Expecting value"),
    ],
    ids=["503", "429", "read-timeout", "200-not-json"],
)
async def test_persistent_fault_fails_that_run_only(
    openai_server: FakeOpenAIServer, tmp_path: Path, fault: Behaviour, cause: str
) -> None:
    openai_server.responder = _failing_for("gpt-bad", fault)
    bad, good = await asyncio.gather(
        play(openai_server, tmp_path / "bad", "gpt-bad", retries=2, timeout=0.5),
        play(openai_server, tmp_path / "good", "gpt-good", retries=2, timeout=0.5),
        return_exceptions=True,
    )
    # the good run is untouched
    assert isinstance(good, Path), good
    assert check_integrity(good)[-1]["outcome"] == "completed"
    # the bad run failed, said why, and closed its record once
    assert isinstance(bad, RunFailed), bad
    assert cause in bad.cause
    lines = check_integrity(bad.path)
    end = RunEndEvent.model_validate(lines[-1])
    assert end.outcome == "failed" and end.error is not None and cause in end.error
    # bounded: each state's call was tried at most 1 + transport_retries times
    per_call = same_call(openai_server, "gpt-bad")
    assert per_call and all(n <= 3 for n in per_call)


async def test_failed_call_is_recorded_as_an_llm_call(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """After transport retries, the failed call itself is in the record with its cause."""
    openai_server.responder = _failing_for("gpt-bad", Status(503))
    with pytest.raises(RunFailed) as info:
        await play(openai_server, tmp_path, "gpt-bad", retries=1)
    failed = [e for e in read_record(info.value.path).of_kind(LlmCallEvent) if e.error]
    assert failed, "the failed call is only in run_end, not recorded as an llm_call"
    assert "503" in (failed[0].error or "")


# --- bad content: re-asked, recorded ---------------------------------------------------------


async def test_reply_that_is_not_json_is_re_asked(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.script("gpt-a", Reply(content="Sure! Here is my decision: we arm."))
    path = await play(openai_server, tmp_path)
    record = read_record(path)
    calls = record.of_kind(LlmCallEvent)
    bad = [c for c in calls if c.error]
    assert len(bad) == 1 and bad[0].attempt == 1 and "not JSON" in (bad[0].error or "")
    assert bad[0].raw == "Sure! Here is my decision: we arm."
    assert bad[0].parsed is None
    assert not any(d.flagged for d in record.of_kind(DecisionEvent))
    retried = [c for c in calls if c.state == bad[0].state and c.attempt == 2]
    assert len(retried) == 1 and retried[0].parsed is not None
    assert "not JSON" in retried[0].messages[-1].content  # the error was shown to the model
    check_integrity(path)


async def test_tool_call_with_invalid_arguments_is_re_asked(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.script("gpt-a", Reply(tool_args='{"threat": [{"state": '))
    path = await play(openai_server, tmp_path, mode=StructuredMode.FUNCTION_CALLING)
    record = read_record(path)
    calls = record.of_kind(LlmCallEvent)
    bad = [c for c in calls if c.error]
    assert len(bad) == 1 and bad[0].attempt == 1
    assert bad[0].raw == '{"threat": [{"state": '
    assert not any(d.flagged for d in record.of_kind(DecisionEvent))
    assert sum(1 for c in calls if c.parsed is not None) == 2
    check_integrity(path)


async def test_tool_choice_names_the_offered_tool(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    """OpenAI and llama.cpp reject a tool_choice that names no offered tool (HTTP 400/500)."""
    path = await play(openai_server, tmp_path, mode=StructuredMode.FUNCTION_CALLING)
    assert check_integrity(path)[-1]["outcome"] == "completed"
    for request in openai_server.chat_requests():
        names = [t["function"]["name"] for t in request.body["tools"]]
        assert request.body["tool_choice"] == {"type": "function", "function": {"name": names[0]}}


async def test_usage_and_cost_reach_the_record(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    path = await play(openai_server, tmp_path, model="gpt-4o-mini")
    record = read_record(path)
    calls = record.of_kind(LlmCallEvent)
    assert all(c.input_tokens == 120 and c.output_tokens == 40 for c in calls)
    expected = (120 * 0.15 + 40 * 0.60) / 1e6
    assert all(c.cost_usd == pytest.approx(expected) for c in calls)
    end = record.run_end
    assert end is not None
    assert end.totals.input_tokens == 120 * len(calls)
    assert end.totals.cost_usd == pytest.approx(expected * len(calls))


async def test_unknown_price_gives_no_cost(openai_server: FakeOpenAIServer, tmp_path: Path) -> None:
    path = await play(openai_server, tmp_path, model="my-vllm-model")
    record = read_record(path)
    assert all(c.cost_usd is None for c in record.of_kind(LlmCallEvent))
    end = record.run_end
    assert end is not None and end.totals.cost_usd is None


async def test_non_json_body_is_retried_then_fails_the_run(
    openai_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    openai_server.responder = _failing_for("gpt-bad", RawBody("<html>oops</html>"))
    with pytest.raises(RunFailed) as info:
        await play(openai_server, tmp_path, "gpt-bad", retries=0)
    per_call = same_call(openai_server, "gpt-bad")
    # the first call to fail was tried 1 + 2 times; the run then stopped its other calls
    assert max(per_call) == 3
    failed = [e for e in read_record(info.value.path).of_kind(LlmCallEvent) if e.error]
    assert failed and "Expecting value" in (failed[0].error or "")
