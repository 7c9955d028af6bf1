"""Version 5 writes an observation after a state's first as a delta against its previous one;
every reader (read_record, iter_events, scan, the evaluator's fast scan) rebuilds it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation.record_lines import DecisionObservation, read_events
from dilemma.scenarios.library import load_builtin
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dilemma.core.observation import Phase
from dilemma.records.compact import delta_json
from dilemma.records.delta import DeltaError, diff, patch
from dilemma.records.reader import iter_events, read_record, scan
from dilemma.records.schema import EVENT_ADAPTER, ObservationEvent, RecordError
from dilemma.simulation.runner import RunConfig, run_scenario

# Leaves that Python never holds equal across types (1 == 1.0 == True): an observation's fields
# each have one JSON type, so this is the case the delta is made for.
_LEAF = st.none() | st.integers(-5, 5) | st.text(max_size=3)
_JSON = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4)
    ),
    max_leaves=20,
)
_OBJECT = st.dictionaries(st.text(max_size=2), _JSON, max_size=5)


def _exact(value: Any) -> str:
    return json.dumps(value)  # keys in order: equal text means equal values and key order


@settings(max_examples=300, deadline=None)
@given(old=_OBJECT, new=_OBJECT)
def test_a_delta_rebuilds_any_object_with_its_key_order(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    changes = diff(old, new)
    if changes is None:  # new does not keep old's keys first, in order: written whole instead
        kept = [k for k in old if k in new]
        assert list(new)[: len(kept)] != kept
        return
    assert _exact(patch(old, changes)) == _exact(new)
    assert _exact(old) == _exact(json.loads(_exact(old)))  # old is left as it was


@settings(max_examples=200, deadline=None)
@given(old=_OBJECT, data=st.data())
def test_a_grown_object_is_rebuilt_from_a_small_delta(
    old: dict[str, Any], data: st.DataObject
) -> None:
    new = json.loads(json.dumps(old))
    key = data.draw(st.text(max_size=2))
    items = data.draw(st.lists(_JSON, max_size=3))
    grown = key in new and isinstance(new[key], list)
    if grown:
        new[key] = new[key] + items
    else:
        new[key] = items
    changes = diff(old, new)
    assert changes is not None
    assert _exact(patch(old, changes)) == _exact(new)
    if grown:
        assert changes == ({key: {"+": items}} if items else {})


# Floats that pydantic writes as json.dumps does (`Observation.plain_floats`), any text.
_PLAIN_FLOAT = st.sampled_from([0.0, -0.0, 1e-4, -1e-4]) | st.floats(
    min_value=1e-4, max_value=9.999999999999998e15
).flatmap(lambda x: st.sampled_from([x, -x]))
_WIDE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _PLAIN_FLOAT | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(changes=st.dictionaries(st.text(), _WIDE_JSON, max_size=6))
def test_a_delta_is_written_as_json_dumps_writes_it(changes: dict[str, Any]) -> None:
    """The writer's fast JSON of a delta (plain floats) is the text json.dumps makes."""
    expected = json.dumps(changes, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert delta_json(changes, plain_floats=True) == expected
    assert delta_json(changes, plain_floats=False) == expected


def test_a_delta_is_written_as_json_dumps_writes_it_at_the_edges() -> None:
    changes: dict[str, Any] = {
        "a": {"~": {"b": {"=": [0.0001, 1e15, 9.999999999999998e15, 0.1, -0.0, 2**70]}}}
    }
    changes["t"] = {"=": '\x00\x1f\x7f"\\/\n\u2028\u00e9\U0001f600'}
    expected = json.dumps(changes, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert delta_json(changes, plain_floats=True) == expected


def test_a_delta_that_does_not_fit_is_refused() -> None:
    with pytest.raises(DeltaError):
        patch({"a": 1}, {"b": {"~": {}}})
    with pytest.raises(DeltaError):
        patch({"a": 1}, {"a": {"+": [1]}})
    with pytest.raises(DeltaError):
        patch({"a": [1, 2]}, {"a": {"*": [None]}})
    with pytest.raises(DeltaError):
        patch({"a": 1}, ["not", "a", "delta"])  # type: ignore[arg-type]


async def _run(out: Path, rounds: int = 4) -> tuple[Path, list[BaseModel]]:
    sent: list[BaseModel] = []
    sc = load_builtin("triad")
    sc = sc.model_copy(update={"rules": sc.rules.model_copy(update={"rounds": rounds})})
    specs = {s.id: "scripted:reactive" for s in sc.states}
    path = await run_scenario(
        sc, RunConfig(seed=4, out_dir=out, on_event=sent.append), overrides=specs
    )
    return path, sent


@pytest.mark.parametrize("name", ["two-rivals", "triad", "secret-autocracies"])
@pytest.mark.parametrize("subturns", [1, 2])
async def test_each_delta_is_the_diff_of_the_observations_json(
    tmp_path: Path, name: str, subturns: int
) -> None:
    """Every delta line of a played run is `diff` of the state's previous and current
    observation JSON, written as json.dumps writes it, however the writer made it (within a
    round it does not parse the observation's JSON)."""
    sc = load_builtin(name)
    rules = sc.rules.model_copy(update={"rounds": 4, "subturns": subturns})
    sc = sc.model_copy(update={"rules": rules})
    specs = {s.id: "scripted:tit-for-tat" for s in sc.states}
    sent: list[BaseModel] = []
    config = RunConfig(seed=5, out_dir=tmp_path, on_event=sent.append)
    path = await run_scenario(sc, config, overrides=specs)
    events = [e for e in sent if isinstance(e, ObservationEvent)]  # as played, not as read
    raw = [line for line in path.read_bytes().split(b"\n") if b'"kind":"observation"' in line]
    assert len(raw) == len(events) == len(sc.states) * 4 * (subturns + 1)
    previous: dict[str, dict[str, Any]] = {}
    for line, event in zip(raw, events, strict=True):
        data = json.loads(event.observation.json_text())
        if event.state in previous:
            changes = diff(previous[event.state], data)
            assert changes is not None
            delta = json.dumps(changes, ensure_ascii=False, separators=(",", ":"))
            assert line.decode().endswith(f',"delta":{delta}}}')
        previous[event.state] = data
    assert read_record(path).of_kind(ObservationEvent) == events


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


async def test_only_each_states_first_observation_is_written_whole(tmp_path: Path) -> None:
    path, sent = await _run(tmp_path)
    observed = [e for e in sent if isinstance(e, ObservationEvent)]
    lines = [line for line in _lines(path) if line["kind"] == "observation"]
    assert len(lines) == len(observed) == 3 * 4 * 2
    first: set[str] = set()
    stored = full = 0
    for line, event in zip(lines, observed, strict=True):
        whole = line["state"] not in first
        first.add(line["state"])
        assert ("observation" in line) is whole and ("delta" in line) is not whole
        if not whole:
            stored += len(json.dumps(line["delta"], separators=(",", ":")))
            full += len(event.observation.json_text())
    assert stored < 0.3 * full
    assert read_record(path).of_kind(ObservationEvent) == observed
    assert list(iter_events(path, ("observation",))) == observed
    picked = scan(path, lambda line: EVENT_ADAPTER if b'"observation"' in line[:30] else None)
    assert picked.events == observed and not picked.truncated


async def test_the_evaluators_fast_scan_reads_rebuilt_decision_observations(
    tmp_path: Path,
) -> None:
    path, sent = await _run(tmp_path)
    expected = [
        DecisionObservation.model_validate(e.model_dump())
        for e in sent
        if isinstance(e, ObservationEvent) and e.phase is Phase.DECISION
    ]
    _, _, events, truncated = read_events(path)
    assert [e for e in events if isinstance(e, DecisionObservation)] == expected
    assert not truncated


async def test_a_record_cut_inside_a_delta_line_reads_as_the_prefix_before_it(
    tmp_path: Path,
) -> None:
    path, _ = await _run(tmp_path, rounds=2)
    data = path.read_bytes()
    whole = read_record(path).events
    starts = [i + 1 for i, b in enumerate(data) if b == ord("\n")][:-1]
    deltas = [
        s
        for s in starts
        if data[s:].startswith(b'{"kind":"observation"')
        and b'"delta":' in data[s : data.index(b"\n", s)]
    ]
    assert len(deltas) >= 3
    for start in deltas[1:4]:
        end = data.index(b"\n", start)
        cut = tmp_path / "cut.jsonl"
        cut.write_bytes(data[: (start + end) // 2])
        before = data[:start].count(b"\n") - 1  # header, text lines and events before it
        record = read_record(cut)
        assert record.truncated
        assert record.events == whole[: len(record.events)]
        assert len(record.events) <= before
        assert list(iter_events(cut)) == record.events
        assert scan(cut, lambda line: EVENT_ADAPTER).events == record.events
        assert read_events(cut)[3]


async def test_a_delta_with_no_earlier_observation_is_an_error_naming_the_line(
    tmp_path: Path,
) -> None:
    path, _ = await _run(tmp_path, rounds=2)
    lines = path.read_bytes().split(b"\n")
    n, raw = next((n, json.loads(line)) for n, line in enumerate(lines) if b'"delta":' in line)
    raw["state"] = "Zed"  # a state with no observation before
    lines[n] = json.dumps(raw, separators=(",", ":")).encode()
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\n".join(lines))
    with pytest.raises(RecordError, match=rf"broken.jsonl: line {n + 1}:.*'Zed'"):
        read_record(broken)
    with pytest.raises(RecordError, match=rf"broken.jsonl: line {n + 1}:.*'Zed'"):
        read_events(broken)
    with pytest.raises(RecordError, match=rf"broken.jsonl: line {n + 1}:.*'Zed'"):
        list(iter_events(broken, ("decision",)))
