"""The observation's JSON in a prompt is the same text on pydantic's fast path as with json.dumps.

`observation_json` lets pydantic write the observation when every float is one it writes as
`json.dumps` does; these tests hold it to `json.dumps` on played observations and on the floats
where the two differ, and check that `observation_floats` (`dilemma.core.observation`) knows
every float field.
"""

from __future__ import annotations

import asyncio
import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents.prompt_setup import observation_json
from pydantic import BaseModel

from dilemma.core.observation import Observation, Said
from dilemma.records.reader import read_record
from dilemma.records.schema import ObservationEvent
from dilemma.records.writer import RecordWriter
from dilemma.simulation.runner import RunConfig, run_scenario
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
def played(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The record of a played three-state run with history, treaties and messages."""
    scenario = make_scenario(
        [{"id": "A"}, {"id": "B", "transparency": "secretive"}, {"id": "C"}],
        rounds=5,
        subturns=2,
        summit_every=2,
    )
    return asyncio.run(
        run_scenario(
            scenario,
            RunConfig(seed=3, out_dir=tmp_path_factory.mktemp("runs"), argv=["test"]),
            default_model="scripted:reactive",
        )
    )


@pytest.fixture(scope="module")
def observations(played: Path) -> list[Observation]:
    """Every observation of the played run."""
    return [e.observation for e in read_record(played).of_kind(ObservationEvent)]


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
    obs.json_text()  # a cached text must not follow the observation into its variants

    def other(index: int, field: str) -> Observation:
        others = list(obs.others)
        others[index] = others[index].model_copy(update={field: value})
        return obs.model_copy(update={"others": others})

    history = obs.model_copy(deep=True)
    history.history[-1].arms.update({obs.you.id: value})
    variants = [
        obs.model_copy(update={"you": obs.you.model_copy(update={"arms": value})}),
        obs.model_copy(update={"you": obs.you.model_copy(update={"economy": value})}),
        obs.model_copy(update={"you": obs.you.model_copy(update={"last_arms_change": value})}),
        obs.model_copy(update={"rules": obs.rules.model_copy(update={"offense_defense": value})}),
        other(-1, "arms"),
        other(0, "last_arms_change"),
        history,
    ]
    for copy in variants:
        assert observation_json(copy) == slow(copy)


def test_a_lone_surrogate_is_written_as_json_dumps_does(observations: list[Observation]) -> None:
    obs = observations[-1].model_copy(deep=True)
    assert obs.statements is not None
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
        "rules.continuation",
        "rules.accident_rate",
        "others[].arms",
        "others[].last_arms_change",
        "history[].arms{}",
    }


def test_fast_path_is_taken_for_ordinary_observations(
    observations: list[Observation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ordinary observations do not fall back to json.dumps (the point of the fast path)."""
    import dilemma.agents.prompt_setup as prompt_setup

    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json.dumps path taken")

    monkeypatch.setattr(prompt_setup, "json", types.SimpleNamespace(dumps=refuse))
    for obs in observations:
        observation_json(obs)


def test_a_changed_copy_is_written_from_its_own_fields(observations: list[Observation]) -> None:
    """The JSON made once per observation (for the record and the prompt) never follows it into
    a copy whose fields change."""
    obs = observations[-1]
    before = obs.json_text()
    later = obs.model_copy(update={"round": obs.round + 1})
    deep = obs.model_copy(deep=True)
    deep.history[-1].arms.update({obs.you.id: 1.5})
    for changed in (later, deep):
        assert changed.json_text() == changed.model_dump_json() != before
        assert observation_json(changed) == slow(changed)
    assert later != obs and obs == obs.model_copy() and obs.json_text() == before


def test_an_observation_line_is_the_events_json(played: Path, tmp_path: Path) -> None:
    """The writer's observation line (the observation's JSON spliced in) is exactly pydantic's
    JSON of the whole event, whether or not the prompt's text was made first."""
    record = read_record(played)
    events = list(record.of_kind(ObservationEvent))
    for event in events[::2]:
        event.observation.json_text()
    writer = RecordWriter(tmp_path / "r.jsonl")
    writer.open(record.header)
    for event in events:
        writer.write(event)
    writer.close()
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    # each state's first observation is written whole, later ones as deltas (records v5)
    whole = [
        (line, event)
        for line, event in zip(lines[1:], events, strict=True)
        if "observation" in json.loads(line)
    ]
    assert len(whole) == len({e.state for e in events})
    assert [line for line, _ in whole] == [e.model_dump_json() for _, e in whole]
    assert read_record(tmp_path / "r.jsonl").of_kind(ObservationEvent) == events
    assert lines[1:] == [
        line
        for line in played.read_text(encoding="utf-8").splitlines()
        if '"observation"' in line[:30]
    ]
