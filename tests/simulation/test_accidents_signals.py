"""Accidents and public signals through the engine, with scripted known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from dilemma.evaluation.tables import score
from scipy.stats import binomtest

from dilemma.core.ladder import Action, Rung
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, ObservationEvent, ResolutionEvent
from dilemma.simulation.runner import RunConfig, run_scenario
from dilemma.simulation.world import accident_draw
from tests.helpers.engine import make_scenario


async def _run(tmp_path: Path, policies: dict[str, str], seed: int = 0, **rules: object) -> Path:
    sc = make_scenario([{"id": sid} for sid in policies], subturns=0, **rules)
    return await run_scenario(
        sc,
        RunConfig(seed=seed, out_dir=tmp_path),
        overrides={sid: f"scripted:{p}" for sid, p in policies.items()},
    )


async def test_deceiver_diverges_by_one_rung_and_dove_by_none(tmp_path: Path) -> None:
    path = await _run(tmp_path, {"D": "deceiver", "V": "dove", "W": "dove"}, rounds=6)
    states = score(path).states.set_index("state")
    assert states.loc["D", "signal_divergence"] == 1.0
    assert states.loc["D", "signal_above_share"] == 1.0
    assert states.loc["V", "signal_divergence"] == 0.0
    assert states.loc["W", "signal_above_share"] == 0.0
    assert states.loc["D", "signal_n"] == 12  # 6 rounds x 2 counterparts


async def test_signals_are_public_after_the_round(tmp_path: Path) -> None:
    path = await _run(tmp_path, {"D": "deceiver", "V": "dove"}, rounds=2)
    record = read_record(path)
    first = next(e for e in record.of_kind(DecisionEvent) if e.round == 1 and e.state == "D")
    assert first.decision is not None and first.decision.signals is not None
    declared = {s.state: s.rung for s in first.decision.signals}
    assert declared == {"V": Rung.POSTURING}
    seen = next(
        e.observation for e in record.of_kind(ObservationEvent) if e.state == "V" and e.round == 2
    )
    (d,) = seen.others
    assert d.last_signals == declared and d.last_action is Action.SANCTIONS
    round_one = [e.observation for e in record.of_kind(ObservationEvent) if e.round == 1]
    assert all(o.others[0].last_signals is None for o in round_one)
    assert all("last_signals" not in o.json_text() for o in round_one)


async def test_accidents_follow_the_seeded_draws_and_only_eligible_orders(tmp_path: Path) -> None:
    path = await _run(
        tmp_path, {"D": "deceiver", "V": "dove"}, seed=3, rounds=60, accident_rate=0.2
    )
    record = read_record(path)
    accidents = [a for r in record.of_kind(ResolutionEvent) for a in r.accidents]
    # the deceiver sanctions every round (eligible, pos 0); doves only propose talks
    expected = [r for r in range(1, 61) if accident_draw(3, r, 0) < 0.2]
    assert [a.round for a in accidents] == expected and expected
    assert all(a.actor == "D" and a.target == "V" for a in accidents)
    assert all(a.intended_action is Action.SANCTIONS for a in accidents)
    assert all(a.executed_action is Action.LIMITED_STRIKE for a in accidents)
    assert all(
        (a.intended_rung, a.executed_rung) == (Rung.NON_VIOLENT_ESCALATION, Rung.VIOLENT_ESCALATION)
        for a in accidents
    )
    executed = {
        r.round: next(o.action for o in r.outcomes if o.state == "D")
        for r in record.of_kind(ResolutionEvent)
    }
    assert {r for r, a in executed.items() if a is Action.LIMITED_STRIKE} == set(expected)
    runs = score(path).runs.iloc[0]
    assert runs["accidents"] == len(expected) and runs["accident_eligible"] == 60


@pytest.mark.slow
async def test_accident_rate_is_about_the_rule_over_many_eligible_orders(tmp_path: Path) -> None:
    # deceiver against two doves: 400 eligible orders over 2 seeds x 200 rounds
    accidents = eligible = 0
    for seed in (11, 12):
        path = await _run(
            tmp_path, {"D": "deceiver", "V": "dove", "W": "dove"}, seed=seed, rounds=200,
            accident_rate=0.2,
        )  # fmt: skip
        run = score(path).runs.iloc[0]
        accidents += int(run["accidents"])
        eligible += int(run["accident_eligible"])
    assert eligible == 400
    test = binomtest(accidents, eligible, 0.2)
    interval = test.proportion_ci(confidence_level=0.99)
    assert test.pvalue > 0.01 and interval.low < 0.2 < interval.high
    assert 0.1 < accidents / eligible < 0.3


async def test_a_reactive_victim_retaliates_after_an_accident(tmp_path: Path) -> None:
    path = await _run(
        tmp_path, {"D": "deceiver", "R": "reactive"}, seed=1, rounds=30, accident_rate=0.2
    )
    record = read_record(path)
    struck = [a.round for r in record.of_kind(ResolutionEvent) for a in r.accidents]
    assert struck, "the seed gives accidents"
    answers = {
        r.round: next(o for o in r.outcomes if o.state == "R")
        for r in record.of_kind(ResolutionEvent)
    }
    for r in struck:
        if r + 1 in answers:
            assert answers[r + 1].action is Action.SANCTIONS and answers[r + 1].target == "D"
    run = score(path).runs.iloc[0]
    assert run["retaliation"] > 0
    assert run["force"] and run["time_to_force"] == struck[0]


async def test_no_accidents_at_rate_zero_and_peace_is_censored(tmp_path: Path) -> None:
    path = await _run(tmp_path, {"D": "deceiver", "V": "dove"}, rounds=8)
    record = read_record(path)
    assert not [a for r in record.of_kind(ResolutionEvent) for a in r.accidents]
    run = score(path).runs.iloc[0]
    assert run["accidents"] == 0 and run["accident_share"] == 0.0
    assert not run["force"] and run["time_to_force"] == 8 and run["time_to_war"] == 8
    assert record.header.scenario.model_dump(mode="json")["rules"].get("accident_rate") is None


@pytest.mark.parametrize("disclosed", [True, False])
async def test_only_the_actor_is_told_and_the_rule_only_when_disclosed(
    tmp_path: Path, disclosed: bool
) -> None:
    path = await _run(
        tmp_path, {"D": "deceiver", "V": "dove"}, seed=3, rounds=12, accident_rate=0.2,
        accidents_disclosed=disclosed,
    )  # fmt: skip
    record = read_record(path)
    first = next(a for r in record.of_kind(ResolutionEvent) for a in r.accidents)
    after = {
        e.state: e.observation
        for e in record.of_kind(ObservationEvent)
        if e.round == first.round + 1
    }
    notice = after["D"].you.last_order
    assert notice is not None and (notice.ordered, notice.executed) == (
        Action.SANCTIONS,
        Action.LIMITED_STRIKE,
    )
    assert after["V"].you.last_order is None and "last_order" not in after["V"].json_text()
    assert after["V"].others[0].last_action is Action.LIMITED_STRIKE
    prompts = "\n".join(m.content for e in record.of_kind(LlmCallEvent) for m in e.messages)
    assert ("with probability 20%" in prompts) is disclosed
    assert ('"accident_rate":0.2' in prompts) is disclosed


async def test_perceived_intent_moves_after_a_broken_signal(tmp_path: Path) -> None:
    # tit-for-tat reads intent from the last action toward it: the deceiver's sanctions (above
    # its posturing signal) move it from defensive (0) to coercive (2) once, in round 2
    path = await _run(tmp_path, {"D": "deceiver", "T": "tit-for-tat"}, rounds=5)
    run = score(path).runs.iloc[0]
    assert run["perceived_shift_after_breach"] == pytest.approx(2 / 4)
    assert run["signal_divergence"] == pytest.approx(0.5)  # D 1 per signal, T 0


async def test_the_transcript_shows_signals_and_accidents(tmp_path: Path) -> None:
    from dilemma.report.transcript import transcript

    path = await _run(tmp_path, {"D": "deceiver", "V": "dove"}, seed=3, rounds=8, accident_rate=0.5)
    record = read_record(path)
    accidents = [a for r in record.of_kind(ResolutionEvent) for a in r.accidents]
    assert accidents
    text = transcript(path)
    assert "public signal (declared rung): V posturing" in text
    assert text.count("ACCIDENT: D ordered sanctions -> V, carried out as limited_strike") == len(
        accidents
    )


async def test_the_viewer_shows_signals_and_accidents(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from dilemma.web.viewer.app import create_app

    path = await _run(tmp_path, {"D": "deceiver", "V": "dove"}, seed=3, rounds=8, accident_rate=0.5)
    accidents = [a for r in read_record(path).of_kind(ResolutionEvent) for a in r.accidents]
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get("/run", params={"path": path.name})
    assert page.status_code == 200
    assert page.text.count('<dd class="signal">V: posturing</dd>') == 8
    assert page.text.count('<li class="flag accident">accident: D ordered sanctions') == len(
        accidents
    )
