"""Human seats: the seat queue, deadlines, `dilemma play` through its input stream."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents.human_seat import (
    HUMAN_SPEC,
    TURN_CLOSED,
    SeatAnswer,
    SeatQueue,
    SeatRequest,
)
from dilemma.scenarios.library import load_scenario
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.cli.score_format import score_json
from dilemma.core.decision import decision_reply_model
from dilemma.core.observation import Phase
from dilemma.models.registry import check_spec, resolve_model
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, NegotiationEvent
from dilemma.simulation.runner import RunConfig, RunSpecError, run_scenario
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world
from dilemma.web.seat.input import InputError, parse_choice, parse_int, parse_states

PLAY = ["play", "two-rivals", "--as", "Aria"]


def answers_for_round(statement: str = "Stay calm") -> list[str]:
    """Lines a person types in one round of two-rivals as Aria (one negotiation sub-turn)."""
    return [
        "We seek peace",  # message 1
        "Borea",  # to
        "",  # no second message
        "eleven",  # threat: refused, asked again
        "7",
        "they keep arming",
        "coer",  # what Borea intends toward Aria (prefix of coercive)
        "deterrent",  # Aria's private intent
        "5",  # forecast
        "99",  # arms change above the cap: refused, asked again
        "3",
        "military_exercise",
        "",  # target: Enter for Borea
        "posturing",  # public signal toward Borea
        "n",  # no proposal
        statement,
        "",  # no announcement
        "watching them",
    ]


def decision_data(arms: int = 3) -> dict[str, Any]:
    """A valid decision of Aria facing Borea."""
    return {
        "threat": [{"state": "Borea", "level": 6, "reason": "arming"}],
        "arms_change": arms,
        "action": "status_quo",
        "target": "Borea",
        "private_intent": [{"state": "Borea", "intent": "defensive"}],
        "perceived_intent": [{"state": "Borea", "intent": "coercive"}],
        "forecast": [{"state": "Borea", "arms_change": 5}],
        "signals": [{"state": "Borea", "rung": "posturing"}],
    }


def test_human_is_a_model_spec() -> None:
    check_spec(HUMAN_SPEC)
    model = resolve_model(HUMAN_SPEC)
    assert (model.spec, model.provider) == ("human", "human")


def test_play_records_the_human_decisions_and_scores(tmp_path: Path) -> None:
    lines = [line for r in range(3) for line in answers_for_round(f"round {r + 1}")]
    result = CliRunner().invoke(
        app,
        [*PLAY, "--model", "scripted:hawk", "--rounds", "3", "--out", str(tmp_path)],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "out of range" in result.output and "whole number from 0 to 10" in result.output
    (path,) = tmp_path.glob("*.jsonl")
    record = read_record(path)
    assert record.header.models["Aria"].spec == "human"
    assert record.header.models["Borea"].spec == "scripted:hawk"
    mine = [d for d in record.of_kind(DecisionEvent) if d.state == "Aria"]
    assert len(mine) == 3 and not any(d.flagged for d in mine)
    for r, event in enumerate(mine, 1):
        assert event.decision is not None
        assert event.decision.arms_change == 3
        assert event.decision.public_statement == f"round {r}"
        assert event.decision.perceived_intent is not None
        assert event.decision.perceived_intent[0].intent == "coercive"
    calls = [c for c in record.of_kind(LlmCallEvent) if c.state == "Aria"]
    assert {c.model for c in calls} == {"human"} and len(calls) == 6
    assert all(c.error is None and c.parsed is not None and c.latency_s >= 0 for c in calls)
    said = [n.replies["Aria"] for n in record.of_kind(NegotiationEvent)]
    assert all(s is not None and s.messages[0].to == ["Borea"] for s in said)
    assert record.run_end is not None and record.run_end.outcome == "completed"
    assert record.run_end.totals.llm_calls == 6  # Borea's calls only: a person's are not counted
    (scores,) = score_json(path)
    assert scores["decisions"] == 6 and scores["fallbacks"] == 0
    assert scores["escalation_index"] is not None


def test_the_viewer_marks_a_persons_decisions_with_their_time(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from dilemma.web.viewer.app import create_app

    lines = [line for r in range(2) for line in answers_for_round(f"round {r + 1}")]
    result = CliRunner().invoke(
        app,
        [*PLAY, "--model", "scripted:hawk", "--rounds", "2", "--out", str(tmp_path)],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*.jsonl")
    taken = {
        e.round: e.latency_s
        for e in read_record(path).events
        if isinstance(e, LlmCallEvent) and e.state == "Aria" and e.phase == Phase.DECISION
    }
    page = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get(
        "/run", params={"path": path.name}
    )
    assert page.status_code == 200
    marks = page.text.count("decided by a person in")
    assert marks == 2  # Aria's two decisions; Borea's (a model's) are not marked
    for seconds in taken.values():
        assert f"decided by a person in {seconds:.1f} s" in page.text


def test_play_refuses_a_second_human_and_run_refuses_any(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(
        app,
        [*PLAY, "--state-model", "Borea=human", "--out", str(tmp_path)],
    )
    assert both.exit_code == 2 and "dilemma serve" in both.output
    run = runner.invoke(
        app, ["run", "two-rivals", "--state-model", "Aria=human", "--out", str(tmp_path)]
    )
    assert run.exit_code == 2 and "dilemma play" in run.output
    assert not list(tmp_path.glob("*.jsonl"))


def test_sweep_refuses_human_seats_before_writing_anything(tmp_path: Path) -> None:
    experiment = tmp_path / "seated.yaml"
    experiment.write_text(
        "name: seated\nscenarios: [two-rivals]\nrounds: 2\n"
        "factors:\n  model: [scripted:hawk, human]\nrepeats: 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    for extra in ([], ["--dry-run"]):
        result = CliRunner().invoke(app, ["sweep", str(experiment), "--out", str(out), *extra])
        assert result.exit_code == 2, result.output
        assert "seated.yaml" in result.output and "dilemma serve" in result.output
        assert not out.exists()


async def test_a_run_with_a_human_seat_and_no_desk_is_refused(tmp_path: Path) -> None:
    scenario, _ = load_scenario("two-rivals")
    with pytest.raises(RunSpecError, match="dilemma play"):
        await run_scenario(
            scenario,
            RunConfig(seed=0, out_dir=tmp_path),
            overrides={"Aria": "human"},
            default_model="scripted:hawk",
        )


def _request() -> SeatRequest:
    scenario, _ = load_scenario("two-rivals")
    world = new_world(scenario, 0)
    world.round = 1
    obs = observe(world, "Aria", Phase.DECISION, 0)
    schema = decision_reply_model(["Borea"], 10, [])
    return SeatRequest(state="Aria", observation=obs, schema=schema, briefing="", instructions="")


async def test_queue_returns_errors_for_an_invalid_answer_and_takes_a_valid_one() -> None:
    queue = SeatQueue()
    request = _request()
    task = asyncio.create_task(queue.ask(request))
    await asyncio.sleep(0)  # let the request be posted
    assert queue.pending("Aria") is request and queue.pending("Borea") is None
    errors = queue.submit("Aria", request.id, decision_data(arms=11))
    assert errors == ["arms change: must be a whole number from -10 to 10"]  # plain words
    assert not task.done()
    assert queue.submit("Aria", request.id + 1000, decision_data()) == [TURN_CLOSED]
    assert queue.submit("Aria", request.id, decision_data()) == []
    # answered: a second answer to the same turn is refused before `ask` even resumes
    assert queue.pending("Aria") is None
    assert queue.submit("Aria", request.id, decision_data(arms=-2)) == [TURN_CLOSED]
    answer = await task
    assert isinstance(answer, SeatAnswer) and answer.reply.model_dump()["arms_change"] == 3
    assert queue.pending("Aria") is None


async def test_deadline_gives_no_answer_and_closes_the_turn() -> None:
    expired = asyncio.Event()
    waited: list[float] = []

    async def timer(seconds: float) -> None:
        waited.append(seconds)
        await expired.wait()

    queue = SeatQueue(deadline_s=90, timer=timer)
    request = _request()
    task = asyncio.create_task(queue.ask(request))
    await asyncio.sleep(0)
    assert queue.pending("Aria") is request and request.deadline_s == 90
    expired.set()
    assert await task is None
    assert waited == [90]
    assert queue.pending("Aria") is None
    assert queue.submit("Aria", request.id, decision_data()) != []  # too late


async def test_a_missed_deadline_is_a_flagged_fallback_recorded_as_timeout(
    tmp_path: Path,
) -> None:
    expired = asyncio.Event()

    async def timer(seconds: float) -> None:
        await expired.wait()

    queue = SeatQueue(deadline_s=30, timer=timer)

    async def expire_every_turn() -> None:
        while True:
            await asyncio.sleep(0)
            if queue.pending("Aria") is not None:
                expired.set()
                await asyncio.sleep(0)
                expired.clear()

    scenario, _ = load_scenario("two-rivals")
    helper = asyncio.create_task(expire_every_turn())
    try:
        path = await run_scenario(
            scenario.model_copy(update={"rules": scenario.rules.model_copy(update={"rounds": 2})}),
            RunConfig(seed=0, out_dir=tmp_path, desk=queue),
            overrides={"Aria": "human"},
            default_model="scripted:hawk",
        )
    finally:
        helper.cancel()
    record = read_record(path)
    mine = [d for d in record.of_kind(DecisionEvent) if d.state == "Aria"]
    assert len(mine) == 2
    assert all(d.flagged and d.decision is None for d in mine)
    assert all(d.error is not None and d.error.startswith("timeout") for d in mine)
    assert all(n.flagged == ["Aria"] for n in record.of_kind(NegotiationEvent))
    calls = [c for c in record.of_kind(LlmCallEvent) if c.state == "Aria"]
    assert calls and {c.model for c in calls} == {"human"}
    assert all((c.error or "").startswith("timeout") for c in calls)
    assert record.run_end is not None and record.run_end.outcome == "completed"


@given(st.integers(-1000, 1000), st.integers(-50, 0), st.integers(0, 50))
def test_parse_int_takes_exactly_the_numbers_in_range(n: int, low: int, high: int) -> None:
    for text in (str(n), f"  {n} ", f"+{n}" if n >= 0 else str(n)):
        if low <= n <= high:
            assert parse_int(text, low, high) == n
        else:
            with pytest.raises(InputError):
                parse_int(text, low, high)


@given(st.text(max_size=12))
def test_parse_int_never_accepts_what_is_not_a_whole_number(text: str) -> None:
    try:
        value = parse_int(text, -10, 10)
    except InputError:
        return
    assert -10 <= value <= 10 and int(text.strip()) == value


OPTIONS = ["defensive", "deterrent", "coercive", "aggressive"]


@given(st.text(max_size=12))
def test_parse_choice_returns_an_option_or_refuses(text: str) -> None:
    try:
        choice = parse_choice(text, OPTIONS)
    except InputError:
        return
    assert choice in OPTIONS


@given(st.sampled_from(OPTIONS), st.integers(1, 4))
def test_parse_choice_by_name_number_or_unique_prefix(option: str, cut: int) -> None:
    assert parse_choice(option.upper(), OPTIONS) == option
    assert parse_choice(str(OPTIONS.index(option) + 1), OPTIONS) == option
    prefix = option[: cut + 2]
    matches = [o for o in OPTIONS if o.startswith(prefix)]
    if len(matches) == 1:
        assert parse_choice(prefix, OPTIONS) == option
    else:
        with pytest.raises(InputError):
            parse_choice(prefix, OPTIONS)


@given(st.lists(st.sampled_from(["all", "Borea", "Cordia"]), min_size=1, max_size=5))
def test_parse_states_keeps_order_without_repeats(names: list[str]) -> None:
    chosen = parse_states(", ".join(names), ["all", "Borea", "Cordia"])
    assert chosen == list(dict.fromkeys(names))


def test_play_resumes_from_its_record_without_asking_again(tmp_path: Path) -> None:
    args = [*PLAY, "--model", "scripted:hawk", "--rounds", "3", "--out", str(tmp_path)]
    first = CliRunner().invoke(app, args, input="\n".join(answers_for_round("one")) + "\n")
    assert first.exit_code == 1 and "input ended" in first.output
    (path,) = tmp_path.glob("*.jsonl")
    lines = [line for r in (2, 3) for line in answers_for_round(f"r{r}")]
    again = CliRunner().invoke(app, [*args, "--resume", str(path)], input="\n".join(lines) + "\n")
    assert again.exit_code == 0, again.output
    assert path.with_name(path.name + ".before-resume").exists()
    record = read_record(path)
    assert record.run_end is not None and record.run_end.outcome == "completed"
    said = [d.decision.public_statement for d in record.of_kind(DecisionEvent) if d.decision]
    assert [s for s in said if s in ("one", "r2", "r3")] == ["one", "r2", "r3"]
    wrong = CliRunner().invoke(app, [*args, "--seed", "5", "--resume", str(path)])
    assert wrong.exit_code == 2 and "--seed (0)" in wrong.output
