"""The engine end to end: concurrency, determinism, war, failure, record contents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from dilemma.scenarios.library import load_builtin

from dilemma.models.fake import FakeChatModel
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, RunEndEvent
from dilemma.simulation.runner import RunConfig, RunFailed, play_scenario, run_scenario
from tests.helpers.clock import HoldAfter, InFlight, wait_for_event
from tests.helpers.engine import EVENT_KINDS, fake, make_scenario, policy_model


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_decisions_run_concurrently_under_the_limit(tmp_path: Path, limit: int) -> None:
    sc = make_scenario([{"id": s} for s in "ABCD"], rounds=2, subturns=1)
    # every call waits (a bounded number of event-loop turns) for `limit` calls to be in flight
    in_flight = InFlight(wanted=limit)
    models = {s: fake(policy_model("tit-for-tat", hold=in_flight)) for s in "ABCD"}
    await play_scenario(sc, models, RunConfig(seed=0, out_dir=tmp_path, max_in_flight=limit))
    assert in_flight.calls == 4 * 2 * 2
    assert in_flight.peak == limit


def _canonical(path: Path) -> list[dict[str, Any]]:
    volatile = {"started_at", "ended_at", "latency_s"}
    out = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        out.append({k: v for k, v in event.items() if k not in volatile})
    out[0].pop("argv")
    return out


async def test_same_seed_same_record(tmp_path: Path) -> None:
    sc = load_builtin("secret-autocracies")
    specs = {"Kor": "scripted:random", "Zan": "scripted:reactive"}
    first = await run_scenario(sc, RunConfig(seed=11, out_dir=tmp_path / "a"), overrides=specs)
    second = await run_scenario(sc, RunConfig(seed=11, out_dir=tmp_path / "b"), overrides=specs)
    other = await run_scenario(sc, RunConfig(seed=12, out_dir=tmp_path / "c"), overrides=specs)
    assert _canonical(first) == _canonical(second)
    assert _canonical(first) != _canonical(other)


async def test_war_ends_the_run(tmp_path: Path) -> None:
    def go_to_war(reply: dict[str, Any]) -> None:
        if "action" in reply:
            reply["action"], reply["target"] = "full_scale_war", "B"

    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=5)
    a, b = policy_model("hawk", edit=go_to_war), policy_model("dove")
    path = await play_scenario(
        sc, {"A": fake(a), "B": fake(b)}, RunConfig(seed=0, out_dir=tmp_path)
    )
    end = read_record(path).run_end
    assert end is not None
    assert (end.outcome, end.rounds_played, end.war_round, end.war_initiator) == ("war", 1, 1, "A")


async def test_war_need_not_end_the_run(tmp_path: Path) -> None:
    def go_to_war(reply: dict[str, Any]) -> None:
        if "action" in reply:
            reply["action"], reply["target"] = "nuclear_strike", "B"

    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=3, war_ends_run=False)
    a, b = policy_model("hawk", edit=go_to_war), policy_model("dove")
    path = await play_scenario(
        sc, {"A": fake(a), "B": fake(b)}, RunConfig(seed=0, out_dir=tmp_path)
    )
    end = read_record(path).run_end
    assert end is not None and end.outcome == "war" and end.rounds_played == 3


async def test_failed_model_call_fails_the_run_with_cause(tmp_path: Path) -> None:
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=3, subturns=0)
    broken = FakeChatModel()  # no replies at all: raises on first call
    with pytest.raises(RunFailed) as info:
        await play_scenario(
            sc,
            {"A": fake(broken), "B": fake(policy_model("dove"))},
            RunConfig(seed=0, out_dir=tmp_path),
        )
    record = read_record(info.value.path)
    end = record.run_end
    assert isinstance(end, RunEndEvent) and end.outcome == "failed"
    assert end.error is not None and "no reply left" in end.error


async def test_cancelled_run_ends_its_record(tmp_path: Path) -> None:
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=50, subturns=0)
    gate = HoldAfter(free=2 * 3)  # three rounds of decisions, then the calls are held open
    models = {s: fake(policy_model("dove", hold=gate)) for s in "AB"}
    task = asyncio.create_task(play_scenario(sc, models, RunConfig(seed=0, out_dir=tmp_path)))
    await wait_for_event(gate.held, task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (path,) = tmp_path.glob("*.jsonl")
    end = read_record(path).run_end
    assert end is not None and end.outcome == "interrupted" and end.rounds_played == 3


async def test_record_holds_every_step(tmp_path: Path) -> None:
    sc = load_builtin("triad")
    path = await run_scenario(
        sc, RunConfig(seed=5, out_dir=tmp_path), default_model="scripted:tit-for-tat"
    )
    record = read_record(path)
    kinds = {e.kind for e in record.events}  # type: ignore[attr-defined]
    assert kinds == EVENT_KINDS
    header = record.header
    assert header.seed == 5 and header.prompt.name == "baseline"
    assert set(header.models) == {"Nord", "Mare", "Ost"}
    assert len(header.prompt.template_hashes) == 5
    assert "pydantic" in header.package_versions
    calls = record.of_kind(LlmCallEvent)
    assert all(c.messages[0].role == "system" and c.raw for c in calls)
    decisions = record.of_kind(DecisionEvent)
    assert len(decisions) == 3 * sc.rules.rounds and not any(d.flagged for d in decisions)


def test_truncated_last_line_is_tolerated(tmp_path: Path) -> None:
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2)
    path = asyncio.run(
        run_scenario(sc, RunConfig(seed=0, out_dir=tmp_path), default_model="scripted:dove")
    )
    text = path.read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 40])
    record = read_record(cut)
    assert record.truncated and record.run_end is None
    events = [line for line in text.splitlines()[1:] if not line.startswith('{"kind":"text"')]
    assert len(record.events) == len(events) - 1  # every event line but the cut one
