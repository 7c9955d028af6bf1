"""Resuming a run from its record: the seeded replay retraces it, and no submitted answer is
lost when the server stops mid-phase."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from dilemma.scenarios.library import load_scenario
from starlette.testclient import TestClient

from dilemma.models.fake import FakeChatModel
from dilemma.models.registry import resolve_model
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, RoundEndEvent
from dilemma.simulation.replay import Replay
from dilemma.simulation.runner import RunConfig, RunFailed, play_scenario
from dilemma.web.seat.app import create_app
from tests.helpers.engine import fake, policy_model
from tests.helpers.seat_pages import turn_of, wait_for_turn
from tests.helpers.seats import seat_run

TIMING = {"started_at", "ended_at", "latency_s"}


def events(path: Path) -> list[dict[str, Any]]:
    """The record's events after the header, without wall-clock fields."""
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    return [{k: v for k, v in e.items() if k not in TIMING} for e in lines]


async def test_replaying_a_record_retraces_it_exactly(tmp_path: Path) -> None:
    scenario, _ = load_scenario("two-rivals")
    models = {
        "Aria": resolve_model("scripted:random", seed=3),
        "Borea": resolve_model("scripted:reactive", seed=3),
    }
    first = await play_scenario(scenario, models, RunConfig(seed=3, out_dir=tmp_path / "a"))
    silent = {sid: fake(FakeChatModel()) for sid in scenario.ids}  # fails if ever asked
    config = RunConfig(seed=3, out_dir=tmp_path / "b", replay=Replay.of(read_record(first)))
    again = await play_scenario(scenario, silent, config)
    old, new = events(first), events(again)
    for e in old + new:  # the spec of the models differs; nothing else may
        if e["kind"] == "llm_call":
            e.pop("model")
    assert new == old


async def test_a_replay_with_another_seed_is_refused(tmp_path: Path) -> None:
    scenario, _ = load_scenario("two-rivals")
    models = {sid: resolve_model("scripted:hawk", seed=0) for sid in scenario.ids}
    first = await play_scenario(scenario, models, RunConfig(seed=0, out_dir=tmp_path))
    config = RunConfig(seed=1, out_dir=tmp_path, replay=Replay.of(read_record(first)))
    try:
        await play_scenario(scenario, models, config)
    except RunFailed as exc:
        assert "ReplayMismatch" in exc.cause
    else:
        raise AssertionError("a replay with another seed was accepted")


def test_a_submitted_decision_survives_a_server_stop(tmp_path: Path) -> None:
    calls = 0

    @asynccontextmanager
    async def hold() -> AsyncIterator[None]:
        nonlocal calls
        calls += 1
        if calls > 3:  # Borea's round-2 decision never comes: the server stops mid-phase
            await asyncio.Event().wait()
        yield

    borea = fake(policy_model("hawk", hold=hold), spec="scripted:hawk")
    run = seat_run(tmp_path / "first", ["Aria"], rounds=2, models={"Borea": borea})
    token = run.tokens["Aria"]
    url, submit = f"/seat/Aria?token={token}", f"/seat/Aria/submit?token={token}"
    decision = {
        "threat_Borea": "4",
        "reason_Borea": "steady",
        "perceived_Borea": "deterrent",
        "intent_Borea": "defensive",
        "forecast_Borea": "2",
        "signal_Borea": "de_escalation",
        "action": "propose_talks",
        "target": "Borea",
    }
    with TestClient(create_app(run), base_url="http://127.0.0.1") as client:
        for arms in ("1", "-2"):
            html = wait_for_turn(client, url, "negotiation")
            client.post(submit, data={"turn": turn_of(html)})
            html = wait_for_turn(client, url, "decision")
            client.post(submit, data={**decision, "turn": turn_of(html), "arms_change": arms})
        (path,) = (tmp_path / "first").glob("*.jsonl")
        for _ in range(2000):
            recorded = [
                c
                for c in read_record(path).of_kind(LlmCallEvent)
                if c.state == "Aria" and c.round == 2 and c.phase == "decision"
            ]
            if recorded:
                break
        assert recorded and recorded[0].parsed is not None
    first = read_record(path)
    assert first.run_end is not None and first.run_end.outcome == "interrupted"
    assert not [d for d in first.of_kind(DecisionEvent) if d.round == 2]

    resumed = seat_run(tmp_path / "second", ["Aria"], rounds=2, replay=Replay.of(first))
    token = resumed.tokens["Aria"]
    with TestClient(create_app(resumed), base_url="http://127.0.0.1") as client:
        for _ in range(2000):
            status = client.get(f"/seat/Aria/status?token={token}").json()
            assert status["turn"] is None  # the person is asked nothing again
            if status["finished"]:
                break
    assert resumed.record is not None, resumed.error
    final = read_record(resumed.record)
    assert final.run_end is not None and final.run_end.outcome == "completed"
    aria = {d.round: d for d in final.of_kind(DecisionEvent) if d.state == "Aria"}
    assert aria[2].decision is not None and aria[2].decision.arms_change == -2
    assert aria[1].decision is not None and aria[1].decision.arms_change == 1
    (old_end,) = first.of_kind(RoundEndEvent)
    assert final.of_kind(RoundEndEvent)[0] == old_end  # the replay reached the same world
