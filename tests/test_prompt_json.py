"""The observation's JSON in a prompt is the same text on pydantic's fast path as with json.dumps.

`observation_json` lets pydantic write the observation when every float is one it writes as
`json.dumps` does; these tests hold it to `json.dumps` on played observations and on the floats
where the two differ, and check that `observation_floats` knows every float field.
"""

from __future__ import annotations

import asyncio
import json
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from agents.observation import Observation, Said
from agents.prompt_setup import observation_json
from records.reader import read_record
from records.schema import ObservationEvent
from simulation.runner import RunConfig, run_scenario
from tests.helpers.engine import make_scenario

EDGE_FLOATS = [
    0.0,
    -0.0,
    1e-4,
    -1e-4,
    9.9e-5,
    1e-5,
    1.5e-7,
    123456789012345.6,
    9.999999999999998e15,
    1e16,
    1e21,
    float("inf"),
    float("-inf"),
    float("nan"),
    0.1 + 0.2,
]


def slow(obs: Observation) -> str:
    """What prompts held before the fast path: json.dumps of the JSON-mode dump."""
    return json.dumps(obs.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> list[Observation]:
    """Every observation of a played three-state run with history, treaties and messages."""
    scenario = make_scenario(
        [{"id": "A"}, {"id": "B", "transparency": "secretive"}, {"id": "C"}],
        rounds=5,
        subturns=2,
        summit_every=2,
    )
    path = asyncio.run(
        run_scenario(
            scenario,
            RunConfig(seed=3, out_dir=tmp_path_factory.mktemp("runs"), argv=["test"]),
            default_model="scripted:reactive",
        )
    )
    return [e.observation for e in read_record(path).of_kind(ObservationEvent)]


def test_played_observations_are_written_alike(observations: list[Observation]) -> None:
    assert len(observations) > 20 and any(o.history for o in observations)
    for obs in observations:
        assert observation_json(obs) == slow(obs)


@pytest.mark.parametrize("value", EDGE_FLOATS, ids=repr)
def test_every_float_field_at_the_edges(observations: list[Observation], value: float) -> None:
    """A float pydantic writes differently (exponent, inf, nan) sends the whole observation
    down the json.dumps path, wherever it sits."""
    obs = observations[-1]
    assert obs.history and obs.others
    variants = []
    for setter in (
        lambda o: setattr(o.you, "arms", value),
        lambda o: setattr(o.you, "economy", value),
        lambda o: setattr(o.you, "last_arms_change", value),
        lambda o: setattr(o.rules, "offense_defense", value),
        lambda o: setattr(o.others[-1], "arms", value),
        lambda o: setattr(o.others[0], "last_arms_change", value),
        lambda o: o.history[-1].arms.update({o.you.id: value}),
    ):
        copy = obs.model_copy(deep=True)
        setter(copy)
        variants.append(copy)
    for copy in variants:
        assert observation_json(copy) == slow(copy)


def test_a_lone_surrogate_is_written_as_json_dumps_does(observations: list[Observation]) -> None:
    obs = observations[-1].model_copy(deep=True)
    obs.statements.append(Said(round=1, sender="A", to=["public"], text="bad \ud800 text"))
    assert observation_json(obs) == slow(obs)


def _float_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Paths of every float an instance of `model` can hold (`[]` list items, `{}` dict values)."""
    paths: set[str] = set()

    def walk(annotation: Any, path: str) -> None:
        origin = typing.get_origin(annotation)
        if annotation is float:
            paths.add(path)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths.update(_float_paths(annotation, f"{path}."))
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(annotation):
                walk(arg, path)
        elif origin is list:
            walk(typing.get_args(annotation)[0], f"{path}[]")
        elif origin is dict:
            walk(typing.get_args(annotation)[1], f"{path}{{}}")

    for name, field in model.model_fields.items():
        walk(field.annotation, f"{prefix}{name}")
    return paths


def test_observation_floats_names_every_float_field() -> None:
    """A new float field in the observation must be added to `observation_floats` (and here)."""
    assert _float_paths(Observation) == {
        "you.arms",
        "you.economy",
        "you.last_arms_change",
        "rules.offense_defense",
        "others[].arms",
        "others[].last_arms_change",
        "history[].arms{}",
    }


def test_fast_path_is_taken_for_ordinary_observations(
    observations: list[Observation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ordinary observations do not fall back to json.dumps (the point of the fast path)."""
    import agents.prompt_setup as prompt_setup

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json.dumps path taken")

    monkeypatch.setattr(prompt_setup, "json", types.SimpleNamespace(dumps=refuse))
    for obs in observations:
        observation_json(obs)
