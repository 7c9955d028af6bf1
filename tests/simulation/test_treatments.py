"""Horizon, communication and the symmetric family through the engine, with known answers.

Every run here is a real engine run with scripted policies; the answers follow from the
policies' definitions (dilemma.models.scripted) and the rules (docs/scenarios.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation.tables import score
from dilemma.scenarios.library import load_builtin, parse_scenario, with_n_states
from dilemma.scenarios.schema import Scenario
from langchain_core.messages import BaseMessage

from dilemma.core.observation import extract_observation
from dilemma.models.fake import FakeChatModel
from dilemma.models.registry import resolve_model
from dilemma.models.scripted import ScriptedPolicy
from dilemma.records.reader import read_record
from dilemma.records.schema import (
    LlmCallEvent,
    NegotiationEvent,
    ObservationEvent,
    ResolutionEvent,
    RunEndEvent,
)
from dilemma.simulation.horizon import realized_rounds
from dilemma.simulation.runner import RunConfig, play_scenario, run_scenario
from tests.helpers.engine import fake


def _symmetric(n: int = 2, **rules: Any) -> Scenario:
    data = with_n_states(load_builtin("symmetric").model_dump(mode="json"), n, "test")
    data["rules"] = {**data["rules"], **rules}
    return parse_scenario(data, "test")


async def _run(tmp_path: Path, scenario: Scenario, policy: str, seed: int = 0) -> Path:
    overrides = {sid: f"scripted:{policy}" for sid in scenario.ids}
    return await run_scenario(
        scenario, RunConfig(seed=seed, out_dir=tmp_path, argv=[]), overrides=overrides
    )


def _end(path: Path) -> RunEndEvent:
    return next(e for e in read_record(path).events if isinstance(e, RunEndEvent))


def _prompts(path: Path) -> list[str]:
    return [
        "\n".join(m.content for m in e.messages)
        for e in read_record(path).events
        if isinstance(e, LlmCallEvent)
    ]


# --- horizon -------------------------------------------------------------------------------


async def test_backward_unravels_only_when_it_knows_the_horizon(tmp_path: Path) -> None:
    known = await _run(tmp_path / "k", _symmetric(rounds=6), "backward")
    hidden = await _run(tmp_path / "h", _symmetric(rounds=6, horizon="hidden"), "backward")
    geometric = await _run(
        tmp_path / "g",
        _symmetric(rounds=6, horizon="geometric", continuation=0.99, min_rounds=6),
        "backward",
    )
    runs = score([known, hidden, geometric]).runs.set_index("horizon")
    assert runs.loc["known", "endgame_escalation"] == pytest.approx(28.0)
    assert runs.loc["hidden", "endgame_escalation"] == pytest.approx(0.0)
    assert runs.loc["geometric", "endgame_escalation"] == pytest.approx(0.0)
    assert list(runs["rounds"]) == [6, 6, 6]
    sr = score(known).state_rounds
    assert set(sr.loc[sr["round"] <= 4, "action"]) == {"status_quo"}
    assert set(sr.loc[sr["round"] > 4, "action"]) == {"limited_strike"}


async def test_prompts_tell_exactly_what_the_horizon_rule_says(tmp_path: Path) -> None:
    known = _prompts(await _run(tmp_path / "k", _symmetric(rounds=4), "reactive"))
    hidden = _prompts(
        await _run(tmp_path / "h", _symmetric(rounds=4, horizon="hidden"), "reactive")
    )
    geo_sc = _symmetric(rounds=4, horizon="geometric", continuation=0.75, min_rounds=2)
    geometric = _prompts(await _run(tmp_path / "g", geo_sc, "reactive"))
    assert all("Round 1 of 4" in p for p in known[:2])
    for prompts in (hidden, geometric):
        for prompt in prompts:
            assert "rounds_total" not in prompt
            assert not re.search(r"Round \d+ of \d+", prompt)
            assert "number of rounds is not known" in prompt
    assert all("probability 0.75" in p and "from round 2 on" in p for p in geometric)
    assert not any("probability" in p for p in hidden)


async def test_geometric_length_comes_from_the_seed_and_is_recorded(tmp_path: Path) -> None:
    sc = _symmetric(rounds=20, horizon="geometric", continuation=0.5, min_rounds=2)
    lengths = {}
    for seed in range(6):
        path = await _run(tmp_path / str(seed), sc, "dove", seed=seed)
        end = _end(path)
        assert end.rounds_played == realized_rounds(sc.rules, seed)
        expected = "last_round" if end.rounds_played == 20 else "continuation"
        assert end.ended_by == expected
        header = read_record(path).header
        assert header.scenario.rules.horizon == "geometric"
        assert header.scenario.rules.continuation == 0.5
        lengths[seed] = end.rounds_played
    assert min(lengths.values()) >= 2
    assert len(set(lengths.values())) > 1  # the draw varies with the seed
    # the same seed, other policies: the same length (independent of the replies)
    again = await _run(tmp_path / "again", sc, "hawk", seed=3)
    assert _end(again).rounds_played == lengths[3]


async def test_known_horizon_runs_end_at_their_last_round(tmp_path: Path) -> None:
    end = _end(await _run(tmp_path, _symmetric(rounds=3), "dove"))
    assert (end.rounds_played, end.ended_by, end.outcome) == (3, "last_round", "completed")


# --- communication -------------------------------------------------------------------------

CLOSED_WORDS = {
    "none": ("statement", "message", "proposal"),
    "public": ("message",),
    "private": ("statement",),
}


@pytest.mark.parametrize("rule", ["none", "public", "private"])
async def test_closed_channels_are_never_mentioned(tmp_path: Path, rule: str) -> None:
    path = await _run(tmp_path, _symmetric(3, rounds=3, communication=rule), "dove")
    record = read_record(path)
    prompts = _prompts(path)
    assert prompts
    for prompt in prompts:
        for word in CLOSED_WORDS[rule]:
            assert word not in prompt.lower(), (rule, word)
    keys = {"none": ("statements", "messages", "open_proposals")}.get(
        rule, ("messages",) if rule == "public" else ("statements",)
    )
    written = [json.loads(line) for line in path.read_text().splitlines()]
    # a state's first observation is written whole, later ones as deltas (which name a key only
    # when it changes): neither may hold a closed channel's key
    views = [e.get("observation") or e["delta"] for e in written if e.get("kind") == "observation"]
    assert len(views) == sum(isinstance(e, ObservationEvent) for e in record.events) > 0
    for view in views:  # as the record holds them, and as the prompt renders them
        for key in keys:
            assert key not in view


async def test_communication_none_has_no_messages_and_no_new_treaties(tmp_path: Path) -> None:
    full = await _run(tmp_path / "full", _symmetric(rounds=3), "dove")
    none = await _run(tmp_path / "none", _symmetric(rounds=3, communication="none"), "dove")
    full_events, none_events = read_record(full).events, read_record(none).events
    assert any(isinstance(e, NegotiationEvent) for e in full_events)
    assert not any(isinstance(e, NegotiationEvent) for e in none_events)
    runs = score([full, none]).runs.set_index("communication")
    formed = runs["treaties_formed"].to_dict()
    assert formed["full"] > 0  # doves propose and accept caps
    assert formed["none"] == 0
    for e in none_events:
        if isinstance(e, ResolutionEvent):
            assert e.proposals_opened == [] and e.treaties_formed == []


async def test_scenario_treaties_stay_under_communication_none(tmp_path: Path) -> None:
    data = _symmetric(rounds=2, communication="none").model_dump(mode="json")
    data["treaties"] = [{"kind": "verification", "parties": ["A", "B"]}]
    path = await _run(tmp_path, parse_scenario(data, "test"), "dove")
    views = [e for e in read_record(path).events if isinstance(e, ObservationEvent)]
    assert all(len(v.observation.treaties) == 1 for v in views)


async def test_private_messages_are_bilateral(tmp_path: Path) -> None:
    path = await _run(tmp_path, _symmetric(3, rounds=2, communication="private"), "dove")
    delivered = [
        d for e in read_record(path).events if isinstance(e, NegotiationEvent) for d in e.delivered
    ]
    assert delivered
    assert all(len(d.to) == 1 and d.to[0] != "all" for d in delivered)


async def test_public_keeps_statements(tmp_path: Path) -> None:
    path = await _run(tmp_path, _symmetric(rounds=2, communication="public"), "dove")
    views = [
        e.observation
        for e in read_record(path).events
        if isinstance(e, ObservationEvent) and e.round == 2
    ]
    assert views and all(v.statements for v in views)
    assert all(v.messages is None for v in views)


# --- symmetric family ----------------------------------------------------------------------


@pytest.mark.parametrize("transparency", ["transparent", "secretive"])
async def test_reactive_states_arm_alike_per_state_for_two_and_three(
    tmp_path: Path, transparency: str
) -> None:
    paths = []
    for n in (2, 3):
        data = _symmetric(n, rounds=6, intel_noise=0.0).model_dump(mode="json")
        for state in data["states"]:
            state["transparency"] = transparency
        paths.append(await _run(tmp_path / str(n), parse_scenario(data, "test"), "reactive"))
    states = score(paths).states
    growth = states.groupby("run_id")["mean_growth_pct"]
    assert (growth.max() - growth.min()).max() == pytest.approx(0.0)  # states alike in a run
    per_run = growth.mean()
    assert per_run.iloc[0] == pytest.approx(per_run.iloc[1])


# --- scripted controls -----------------------------------------------------------------------


def _dove_defecting_once(at_round: int) -> Any:
    """A dove that imposes sanctions on its rival in `at_round` only."""
    scripted = ScriptedPolicy(policy="dove")

    def respond(messages: list[BaseMessage]) -> str:
        reply = json.loads(scripted._answer(messages))
        obs = extract_observation(messages[-1].text)
        if "action" in reply and obs.round == at_round:
            reply["action"] = "sanctions"
        return json.dumps(reply)

    return FakeChatModel(responder=respond)


async def test_grim_defects_for_good_after_one_defection(tmp_path: Path) -> None:
    sc = _symmetric(rounds=6)
    models = {"A": resolve_model("scripted:grim", seed=0), "B": fake(_dove_defecting_once(2))}
    path = await play_scenario(sc, models, RunConfig(seed=0, out_dir=tmp_path, argv=[]))
    sr = score(path).state_rounds
    grim = sr[sr["state"] == "A"].sort_values("round")["action"].tolist()
    assert grim == ["status_quo"] * 2 + ["sanctions"] * 4
    dove = sr[sr["state"] == "B"].sort_values("round")["action"].tolist()
    assert dove[1] == "sanctions" and dove.count("sanctions") == 1


async def test_grim_among_grims_never_defects(tmp_path: Path) -> None:
    sr = score(await _run(tmp_path, _symmetric(3, rounds=5), "grim")).state_rounds
    assert set(sr["action"]) == {"status_quo"}
