"""The engine needs only the `Agent` protocol: any object with a spec, a seat kind and `ask`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from dilemma.core.agent import Agent, AskResult, CallLog, Log
from dilemma.core.observation import Observation
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, RunEndEvent
from dilemma.simulation.engine import Engine
from dilemma.simulation.replay import Replay, ReplayingAgent
from dilemma.simulation.runner import RunConfig, run_scenario
from dilemma.simulation.world import new_world
from tests.helpers.engine import make_scenario


class Silent:
    """An agent of its own kind: logs one call a turn and never gives a valid reply."""

    def __init__(self, spec: str, *, is_human: bool = False) -> None:
        self.spec = spec
        self.is_human = is_human
        self.asked: list[tuple[str, int, str]] = []

    async def ask(self, obs: Observation, schema: type[BaseModel], log: Log) -> AskResult:
        self.asked.append((obs.you.id, obs.round, obs.phase.value))
        log(
            CallLog(
                attempt=1,
                messages=[("user", "turn")],
                raw="",
                parsed=None,
                error="no reply",
                input_tokens=3,
                output_tokens=None,
                cost_usd=0.0,
                latency_s=0.0,
                started_at=datetime.now(UTC),
            )
        )
        return AskResult(None, 1, "no reply")


async def test_the_engine_plays_any_agent_and_counts_only_model_calls():
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2, subturns=1)
    model, person = Silent("test:model"), Silent("human", is_human=True)
    assert isinstance(model, Agent)
    events: list[BaseModel] = []
    engine = Engine(new_world(scenario, 0), {"A": model, "B": person}, events.append)
    end = await engine.play()
    turns = 2 * 2  # two rounds of one negotiation sub-turn and one decision
    assert len(model.asked) == len(person.asked) == turns
    calls = [e for e in events if isinstance(e, LlmCallEvent)]
    assert sorted({(c.state, c.model) for c in calls}) == [("A", "test:model"), ("B", "human")]
    assert end.totals.llm_calls == turns  # a person's answers are logged, not counted
    assert end.totals.input_tokens == 2 * turns * 3
    assert end.totals.fallbacks == 2 * turns
    decisions = [e for e in events if isinstance(e, DecisionEvent)]
    assert decisions and all(d.flagged and d.error == "no reply" for d in decisions)


async def test_a_replay_needs_nothing_of_the_live_agent_but_the_protocol(tmp_path: Path):
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=3, subturns=1)
    specs = {"A": "scripted:tit-for-tat", "B": "scripted:random"}
    path = await run_scenario(scenario, RunConfig(seed=5, out_dir=tmp_path), overrides=specs)
    record = read_record(path)
    replay = Replay.of(record)
    live = {sid: Silent(spec) for sid, spec in specs.items()}
    agents = {sid: ReplayingAgent(agent, replay) for sid, agent in live.items()}
    events: list[BaseModel] = []
    end = await Engine(new_world(scenario, 5), agents, events.append).play()
    assert all(not agent.asked for agent in live.values())  # every turn came from the record
    assert [a.replayed for a in agents.values()] == [replay.turns // 2] * 2

    def decisions(stream: list[BaseModel]) -> list[object]:
        return [(e.state, e.decision) for e in stream if isinstance(e, DecisionEvent)]

    assert decisions(events) == decisions(record.events)
    recorded_end = record.run_end
    assert isinstance(recorded_end, RunEndEvent)
    assert end.totals == recorded_end.totals
