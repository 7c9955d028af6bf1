"""FakeChatModel: queued replies in order, call history, callable mode, no silent repeats, latency.

When it runs out of replies inside a run, the run fails loudly: the record ends with a `failed`
run_end naming the cause, and the CLI exits 1 pointing at the record.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents import state_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.core.observation import Phase
from dilemma.models import fake as fake_model_module
from dilemma.models.fake import FakeChatModel, FakeModelExhausted
from dilemma.models.registry import ResolvedModel
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, RunEndEvent
from dilemma.simulation import runner as runner_module
from dilemma.simulation.runner import RunConfig, RunFailed, play_scenario
from tests.helpers.clock import FakeClock
from tests.helpers.engine import fake
from tests.helpers.replies import only_record, responder, two_states, valid_decision

LATENCY = 0.05


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The fake model's clock: its latency passes on this clock, nobody waits for it."""
    clock = FakeClock()
    clock.install(monkeypatch, fake_model_module, async_sleep=True)
    return clock


def _ask(model: FakeChatModel, text: str) -> str:
    reply = model.invoke([HumanMessage(text)])
    assert isinstance(reply, AIMessage)
    return reply.text


def test_enqueued_replies_come_back_in_order() -> None:
    model = FakeChatModel().enqueue("first", "second")
    model.enqueue("third")
    assert [_ask(model, f"q{i}") for i in range(3)] == ["first", "second", "third"]


def test_enqueue_is_chainable() -> None:
    model = FakeChatModel().enqueue("a").enqueue("b")
    assert _ask(model, "x") == "a"
    assert _ask(model, "y") == "b"


def test_call_history_keeps_every_call() -> None:
    model = FakeChatModel().enqueue("r1", "r2")
    first: list[BaseMessage] = [SystemMessage("sys"), HumanMessage("one")]
    model.invoke(first)
    model.invoke([HumanMessage("two")])
    assert [[m.text for m in call] for call in model.calls] == [["sys", "one"], ["two"]]
    assert [m.type for m in model.calls[0]] == ["system", "human"]
    # The history is a snapshot: changing the caller's list later does not rewrite it.
    first.append(HumanMessage("later"))
    assert len(model.calls[0]) == 2


async def test_async_calls_use_the_same_queue_and_history() -> None:
    model = FakeChatModel().enqueue("a", "b")
    r1 = await model.ainvoke([HumanMessage("x")])
    r2 = model.invoke([HumanMessage("y")])
    assert (r1.text, r2.text) == ("a", "b")
    assert [call[0].text for call in model.calls] == ["x", "y"]


def test_responder_computes_each_reply_from_the_messages() -> None:
    seen: list[int] = []

    def echo(messages: list[BaseMessage]) -> str:
        seen.append(len(messages))
        return "echo: " + messages[-1].text

    model = FakeChatModel(responder=echo)
    assert _ask(model, "hello") == "echo: hello"
    assert _ask(model, "again") == "echo: again"
    assert seen == [1, 1]
    assert len(model.calls) == 2


def test_queue_is_used_before_the_responder() -> None:
    model = FakeChatModel(responder=lambda _m: "computed").enqueue("queued")
    assert [_ask(model, "a"), _ask(model, "b"), _ask(model, "c")] == [
        "queued",
        "computed",
        "computed",
    ]


def test_raises_when_empty_from_the_start() -> None:
    with pytest.raises(FakeModelExhausted):
        FakeChatModel().invoke([HumanMessage("anyone?")])


def test_raises_instead_of_repeating_the_last_reply() -> None:
    model = FakeChatModel().enqueue("only")
    assert _ask(model, "1") == "only"
    with pytest.raises(FakeModelExhausted, match="no reply left"):
        model.invoke([HumanMessage("2")])


async def test_raises_in_async_mode_too() -> None:
    model = FakeChatModel().enqueue("only")
    await model.ainvoke([HumanMessage("1")])
    with pytest.raises(FakeModelExhausted):
        await model.ainvoke([HumanMessage("2")])


def test_latency_and_spans_sync(clock: FakeClock) -> None:
    model = FakeChatModel(latency_s=LATENCY).enqueue("a", "b")
    _ask(model, "1")
    _ask(model, "2")
    assert clock.sleeps == [LATENCY, LATENCY]
    # each call spans its latency, and sequential calls do not overlap
    assert model.spans == [(0.0, LATENCY), (LATENCY, pytest.approx(2 * LATENCY))]


async def test_async_latency_lets_calls_overlap(clock: FakeClock) -> None:
    model = FakeChatModel(latency_s=LATENCY).enqueue("a", "b", "c")
    replies = await asyncio.gather(*(model.ainvoke([HumanMessage(str(i))]) for i in range(3)))
    assert sorted(r.text for r in replies) == ["a", "b", "c"]
    assert clock.sleeps == [LATENCY] * 3
    # the waits ran concurrently: three calls in flight together, done after one latency
    assert model.spans == [(0.0, LATENCY)] * 3
    assert clock.now == LATENCY


async def test_engine_records_fake_latency(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.install(monkeypatch, state_agent)  # the engine times its calls on the same clock
    a_chat = FakeChatModel(responder=responder(), latency_s=LATENCY)
    b_chat = FakeChatModel(responder=responder(), latency_s=LATENCY)
    out = tmp_path / "runs"
    await play_scenario(
        two_states(),
        {"A": fake(a_chat), "B": fake(b_chat)},
        RunConfig(seed=0, out_dir=out, max_in_flight=2, argv=["test"]),
    )
    calls = read_record(only_record(out)).of_kind(LlmCallEvent)
    assert [c.latency_s for c in calls] == [LATENCY, LATENCY]
    # The two states decided concurrently.
    assert a_chat.spans == b_chat.spans == [(0.0, LATENCY)]


async def test_run_with_exhausted_fake_fails_with_cause_in_record(tmp_path: Path) -> None:
    # A answers round 1 only; in round 2 its fake has nothing left.
    a_chat = FakeChatModel().enqueue('{"messages": []}', json.dumps(valid_decision(["B"])))
    b_chat = FakeChatModel(responder=responder())
    out = tmp_path / "runs"
    with pytest.raises(RunFailed) as info:
        await play_scenario(
            two_states(rounds=3, subturns=1),
            {"A": fake(a_chat), "B": fake(b_chat)},
            RunConfig(seed=0, out_dir=out, argv=["test"]),
        )
    path = only_record(out)
    assert info.value.path == path
    assert "FakeModelExhausted" in info.value.cause

    record = read_record(path)
    assert not record.truncated
    end = record.run_end
    assert isinstance(end, RunEndEvent)
    assert end.outcome == "failed"
    assert end.error is not None and "FakeModelExhausted" in end.error
    assert "no reply left" in end.error
    assert end.rounds_played == 1
    # Round 1 is complete in the record; nothing was invented for round 2.
    decisions = record.of_kind(DecisionEvent)
    assert [(d.round, d.state, d.flagged) for d in decisions] == [(1, "A", False), (1, "B", False)]
    a_calls = [c for c in record.of_kind(LlmCallEvent) if c.state == "A"]
    assert [(c.round, c.phase) for c in a_calls] == [
        (1, Phase.NEGOTIATION),
        (1, Phase.DECISION),
        (2, Phase.NEGOTIATION),
    ]
    # the call that failed is in the record with its cause, and without an invented reply
    failed = a_calls[-1]
    assert failed.raw == "" and failed.parsed is None
    assert failed.error is not None and "no reply left" in failed.error


def test_cli_reports_run_failed_with_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted_models(specs: dict[str, str], *_a: Any, **_kw: Any) -> dict[str, ResolvedModel]:
        return {sid: fake(FakeChatModel()) for sid in specs}

    monkeypatch.setattr(runner_module, "resolve_models", exhausted_models)
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        app,
        ["run", "two-rivals", "--model", "scripted:dove", "--rounds", "2", "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    path = only_record(out)
    message = " ".join(result.stderr.split())
    assert "run failed" in message
    assert str(path) in message
    assert "FakeModelExhausted" in message
    end = read_record(path).run_end
    assert end is not None and end.outcome == "failed"
    assert end.error is not None and "FakeModelExhausted" in end.error
