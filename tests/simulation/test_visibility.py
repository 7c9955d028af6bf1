"""Visibility: secrets stay secret, private reasoning stays private, treaties and summits reveal."""

from __future__ import annotations

import json
from pathlib import Path

from dilemma.agents.prompt_setup import extract_observation

from dilemma.core.observation import ArmsSource, Observation
from dilemma.records.reader import read_record
from dilemma.records.schema import ObservationEvent, ResolutionEvent
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model, prompts_of

SECRET = "RATIONALE-SENTINEL-93b1"


def _true_arms_strings(record_path: Path, state: str) -> set[str]:
    record = read_record(record_path)
    values = {record.header.scenario.states[1].arms}
    for res in record.of_kind(ResolutionEvent):
        values |= {o.arms_after for o in res.outcomes if o.state == state}
    return {json.dumps(round(v, 3)) for v in values}


async def test_secretive_arms_never_reach_others_prompt(tmp_path: Path) -> None:
    sc = make_scenario(
        [{"id": "A", "arms": 100}, {"id": "B", "arms": 137.77, "transparency": "secretive"}],
        rounds=6,
        intel_noise=0.2,
        intel_lag=1,
    )
    a, b = policy_model("reactive"), policy_model("hawk")
    path = await play_scenario(
        sc, {"A": fake(a), "B": fake(b)}, RunConfig(seed=3, out_dir=tmp_path)
    )
    secret = _true_arms_strings(path, "B")
    assert len(secret) >= 6
    for prompt in prompts_of(a):
        obs = extract_observation(prompt)
        seen_b = next(o for o in obs.others if o.id == "B")
        assert seen_b.arms_source is ArmsSource.INTELLIGENCE
        assert seen_b.last_arms_change is None and seen_b.announced_next_arms_change is None
        leaked = [s for s in secret if s in prompt]
        assert not leaked, f"true arms of B in A's prompt: {leaked}"
    # and B, a transparent observer's counterpart, does see A exactly
    for prompt in prompts_of(b):
        seen_a = next(o for o in extract_observation(prompt).others if o.id == "A")
        assert seen_a.arms_source is ArmsSource.EXACT


async def test_verification_treaty_reveals_exact_arms(tmp_path: Path) -> None:
    sc = make_scenario(
        [{"id": "A"}, {"id": "B", "arms": 137.77, "transparency": "secretive"}],
        rounds=3,
    )
    data = sc.model_dump(mode="json")
    data["treaties"] = [{"kind": "verification", "parties": ["A", "B"]}]
    from dilemma.scenarios.library import parse_scenario

    sc = parse_scenario(data, "test")
    a, b = policy_model("reactive"), policy_model("hawk")
    await play_scenario(sc, {"A": fake(a), "B": fake(b)}, RunConfig(seed=3, out_dir=tmp_path))
    shown = [next(o for o in extract_observation(p).others if o.id == "B") for p in prompts_of(a)]
    assert {o.arms_source for o in shown} == {ArmsSource.VERIFICATION}
    assert shown[0].arms == 137.77


async def test_private_rationale_and_intent_never_reach_others(tmp_path: Path) -> None:
    def mark(reply: dict[str, object]) -> None:
        if "private_rationale" in reply:
            reply["private_rationale"] = SECRET
            reply["public_statement"] = "We want peace."

    sc = make_scenario([{"id": "A"}, {"id": "B"}, {"id": "C"}], rounds=3)
    models = {s: policy_model("dove", edit=mark) for s in ("A", "B", "C")}
    path = await play_scenario(
        sc, {s: fake(m) for s, m in models.items()}, RunConfig(seed=1, out_dir=tmp_path)
    )
    for model in models.values():
        for prompt in prompts_of(model):
            assert SECRET not in prompt
            obs = extract_observation(prompt)
            dumped = obs.model_dump_json()
            assert "private" not in dumped and "intent" not in dumped
            assert "We want peace." in dumped or obs.round == 1
    record = read_record(path)
    for ev in record.of_kind(ObservationEvent):
        assert SECRET not in ev.observation.model_dump_json()


async def test_summit_discloses_plans_and_arms(tmp_path: Path) -> None:
    sc = make_scenario(
        [{"id": "A"}, {"id": "B", "transparency": "secretive"}], rounds=4, summit_every=2
    )
    a, b = policy_model("hawk"), policy_model("hawk")
    path = await play_scenario(
        sc, {"A": fake(a), "B": fake(b)}, RunConfig(seed=2, out_dir=tmp_path)
    )
    observations: list[Observation] = [
        e.observation for e in read_record(path).of_kind(ObservationEvent) if e.state == "A"
    ]
    for obs in observations:
        seen_b = next(o for o in obs.others if o.id == "B")
        if obs.round % 2 == 0:
            assert obs.rules.summit_this_round
            assert seen_b.arms_source is ArmsSource.SUMMIT
            assert {p.state: p.announced_arms_change for p in obs.disclosed_plans} == {
                "A": 10,
                "B": 10,
            }
        else:
            assert seen_b.arms_source is ArmsSource.INTELLIGENCE
            assert obs.disclosed_plans == []
