"""Scripted policies always answer valid decisions, and behave as their names promise."""

from __future__ import annotations

from pathlib import Path

import pytest
from dilemma.scenarios.library import builtin_names, load_builtin

from dilemma.models.scripted import POLICIES
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, NegotiationEvent, RoundEndEvent
from dilemma.simulation.runner import RunConfig, run_scenario


@pytest.mark.parametrize("scenario", builtin_names())
async def test_every_policy_answers_validly_in_every_builtin(tmp_path: Path, scenario: str) -> None:
    sc = load_builtin(scenario)
    ids = sc.ids
    # every policy plays every seat, mixed so that each one meets offers from the others
    for shift in range(len(POLICIES)):
        mixed = {
            sid: f"scripted:{POLICIES[(n + shift) % len(POLICIES)]}" for n, sid in enumerate(ids)
        }
        path = await run_scenario(
            sc, RunConfig(seed=shift, out_dir=tmp_path / str(shift)), overrides=mixed
        )
        record = read_record(path)
        flagged = [(d.round, d.state, d.error) for d in record.of_kind(DecisionEvent) if d.flagged]
        assert not flagged, (mixed, flagged)
        assert not any(n.flagged for n in record.of_kind(NegotiationEvent))


async def test_hawks_arm_and_doves_disarm(tmp_path: Path) -> None:
    sc = load_builtin("two-rivals")
    hawks = read_record(
        await run_scenario(
            sc, RunConfig(seed=0, out_dir=tmp_path / "h"), default_model="scripted:hawk"
        )
    )
    doves = read_record(
        await run_scenario(
            sc, RunConfig(seed=0, out_dir=tmp_path / "d"), default_model="scripted:dove"
        )
    )
    start = {s.id: s.arms for s in hawks.header.scenario.states}
    hawk_end = hawks.of_kind(RoundEndEvent)[-1]
    dove_end = doves.of_kind(RoundEndEvent)[-1]
    assert all(hawk_end.arms[s] > start[s] * 1.3 for s in start)
    assert all(dove_end.arms[s] < start[s] for s in start)
    assert doves.of_kind(DecisionEvent)[0].decision is not None
