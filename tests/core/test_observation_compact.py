"""The compact observation rendering: same facts, fewer tokens."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dilemma.core.observation import Observation, extract_observation
from dilemma.core.observation_compact import compact_observation_json, expand_compact
from dilemma.records.reader import read_record
from dilemma.records.schema import ObservationEvent
from dilemma.simulation.runner import RunConfig, run_scenario
from tests.helpers.engine import make_scenario

FULL = (
    '{"round":1,"rounds_total":8,"phase":"decision","subturn":0,"subturns_total":1,'
    '"you":{"id":"A","name":"Ayla","regime":"democracy","transparency":"transparent",'
    '"disposition":"security_seeker","doctrine":"none stated.","arms":100.0,"economy":1000.5,'
    '"last_arms_change":null,"my_announced_arms_change":null},'
    '"others":[{"id":"B","name":"Bora","regime":"autocracy","transparency":"secretive",'
    '"arms":104.25,"arms_source":"intelligence_estimate","arms_as_of_round":0,'
    '"arms_uncertainty_pct":15,"last_arms_change":null,"announced_next_arms_change":null,'
    '"last_action":null,"last_target":null}],'
    '"rules":{"arms_cap_pct":10,"forewarning_threshold_pct":null,"summit_this_round":false,'
    '"summit_next_round":false,"war_ends_run":true,"offense_defense":1.0},'
    '"statements":[],"open_proposals":[],"treaties":[],"disclosed_plans":[],'
    '"history":[{"round":0,"arms":{"A":100.0,"B":104.5},"actions":{"A":"status_quo"}}]}'
)
COMPACT = (
    '{"round":1,"rounds_total":8,"phase":"decision","subturn":0,"subturns_total":1,'
    '"you":{"id":"A","name":"Ayla","regime":"democracy","transparency":"transparent",'
    '"disposition":"security_seeker","doctrine":"none stated.","arms":100,"economy":1000.5},'
    '"others":[{"id":"B","name":"Bora","regime":"autocracy","transparency":"secretive",'
    '"arms":104.25,"arms_source":"intelligence_estimate","arms_as_of_round":0,'
    '"arms_uncertainty_pct":15}],'
    '"rules":{"arms_cap_pct":10,"summit_this_round":false,'
    '"summit_next_round":false,"war_ends_run":true,"offense_defense":1},'
    '"statements":[],"open_proposals":[],'
    '"history":[{"round":0,"arms":{"A":100,"B":104.5},"actions":{"A":"status_quo"}}]}'
)


def test_known_observation_is_written_compactly() -> None:
    obs = Observation.model_validate_json(FULL)
    # Nulls, empty required lists (treaties, disclosed_plans) and ".0" go; the empty lists of
    # open channels (statements, open_proposals) stay, since absent means closed (messages).
    assert compact_observation_json(obs) == COMPACT
    assert obs.messages is None and "messages" not in COMPACT


def test_compact_text_reads_back_as_the_same_observation() -> None:
    obs = Observation.model_validate_json(FULL)
    back = extract_observation(f"Round 1.\n<observation>{COMPACT}</observation>\nDecision:")
    assert back == obs
    assert back.statements == [] and back.messages is None and back.treaties == []
    assert back.you.last_arms_change is None and back.others[0].last_action is None


def test_full_data_are_left_as_they_are() -> None:
    data = json.loads(FULL)
    assert expand_compact(data, Observation) == data


def test_a_broken_observation_still_fails_with_the_validation_error() -> None:
    broken = COMPACT.replace('"arms_cap_pct":10,', "")
    with pytest.raises(ValueError, match="arms_cap_pct"):
        extract_observation(f"<observation>{broken}</observation>")
    with pytest.raises(ValueError):
        extract_observation("<observation>[1, 2]</observation>")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=32)),
)
def test_any_float_survives_the_compact_form(arms: float, change: float | None) -> None:
    data = json.loads(FULL)
    data["you"]["arms"] = arms
    data["others"][0]["last_arms_change"] = change
    obs = Observation.model_validate(data)
    assert extract_observation(f"<observation>{compact_observation_json(obs)}</observation>") == obs


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> list[Observation]:
    """Every observation of a played three-state run with history, treaties and messages."""
    scenario = make_scenario(
        [{"id": "A"}, {"id": "B", "transparency": "secretive"}, {"id": "C"}],
        rounds=5,
        subturns=2,
        summit_every=2,
    )
    path: Path = asyncio.run(
        run_scenario(
            scenario,
            RunConfig(seed=3, out_dir=tmp_path_factory.mktemp("runs"), argv=["test"]),
            default_model="scripted:reactive",
        )
    )
    return [e.observation for e in read_record(path).of_kind(ObservationEvent)]


def test_played_observations_round_trip_and_shrink(played: list[Observation]) -> None:
    assert len(played) > 20 and any(o.history for o in played)
    for obs in played:
        compact = compact_observation_json(obs)
        assert extract_observation(f"<observation>{compact}</observation>") == obs
        assert len(compact) < len(obs.json_text())
