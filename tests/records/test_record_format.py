"""The record format: JSON Schema snapshot, versions and migrations, the header's own snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dilemma.evaluation.load import load_tables
from dilemma.evaluation.tables import score
from dilemma.scenarios.library import builtin_names, load_builtin
from dilemma.scenarios.schema import Scenario, StateSpec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.executor import SweepError
from dilemma.experiments.spec import RunSpec
from dilemma.experiments.sweep import plan
from dilemma.records.json_schema import render, snapshot_path
from dilemma.records.migrations import MIGRATIONS
from dilemma.records.reader import (
    iter_events,
    read_header,
    read_record,
    read_run_end,
    record_status,
)
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.records.schema import SCHEMA_VERSION, RecordError, ResolutionEvent

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1"
V1_RECORD = V1 / "scripted" / "two-rivals_s3_20261129T082025_b8ab9df717bb.jsonl"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def _with_header(tmp_path: Path, **changes: Any) -> Path:
    """The v1 fixture record with header fields changed (None removes a field)."""
    lines = _lines(V1_RECORD)
    for key, value in changes.items():
        if value is None:
            lines[0].pop(key, None)
        else:
            lines[0][key] = value
    return _write(tmp_path / "changed.jsonl", lines)


def test_json_schema_snapshot_matches_the_record_models() -> None:
    path = snapshot_path()
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == render(), (
        f"The record models no longer match {path.name}, the committed JSON Schema of record"
        f" version {SCHEMA_VERSION}. If records of version {SCHEMA_VERSION} have been released,"
        " bump SCHEMA_VERSION in dilemma/records/schema.py, add a migration in"
        " dilemma/records/migrations.py and"
        " regenerate; while the version is unreleased, just regenerate:"
        " python -m dilemma.records.json_schema (docs/records.md)"
    )


def test_the_schema_check_command_agrees_with_the_snapshot() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dilemma.records.json_schema", "--check"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr


def test_every_older_version_has_a_migration() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_a_record_newer_than_the_code_is_refused_naming_both_versions(tmp_path: Path) -> None:
    newer = _with_header(tmp_path, schema_version=SCHEMA_VERSION + 1)
    for read in (read_header, read_record, read_run_end, record_status):
        with pytest.raises(RecordError) as caught:
            read(newer)
        message = str(caught.value)
        assert str(newer) in message
        assert f"schema_version {SCHEMA_VERSION + 1}" in message
        assert f"({SCHEMA_VERSION})" in message


def test_a_sweep_stops_at_a_record_it_cannot_judge(tmp_path: Path) -> None:
    run = RunSpec(
        run_id="changed",
        experiment="x",
        scenario_source="builtin:two-rivals",
        scenario=load_builtin("two-rivals").model_dump(mode="json"),
        models={"Aria": "scripted:dove", "Borea": "scripted:dove"},
        prompt_setup="baseline",
        seed=0,
        max_retries=0,
        conditions={},
    )
    _with_header(tmp_path, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(SweepError, match="newer than this code"):
        plan([run], tmp_path, resume=True)


def test_show_refuses_a_newer_record_with_exit_code_2(tmp_path: Path) -> None:
    newer = _with_header(tmp_path, schema_version=SCHEMA_VERSION + 1)
    result = CliRunner().invoke(app, ["show", str(newer)])
    assert result.exit_code == 2, result.output
    assert f"schema_version {SCHEMA_VERSION + 1}" in " ".join(result.stderr.split())


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_a_bad_schema_version_names_the_file_and_field(tmp_path: Path, version: Any) -> None:
    path = _with_header(tmp_path, schema_version=version)
    with pytest.raises(RecordError, match="schema_version") as caught:
        read_header(path)
    assert str(path) in str(caught.value)


def test_a_version_1_war_gets_the_round_of_its_resolution(tmp_path: Path) -> None:
    lines = _lines(V1_RECORD)
    n, resolution = next((n, x) for n, x in enumerate(lines) if x["kind"] == "resolution")
    war = {"initiator": "Aria", "target": "Borea", "action": "full_scale_war"}
    lines[n] = {**resolution, "wars": [war]}
    path = _write(tmp_path / "war.jsonl", lines)
    resolutions = read_record(path).of_kind(ResolutionEvent)
    assert resolutions[0].wars[0].round == resolution["round"]
    streamed = [e for e in iter_events(path, kinds={"resolution"})]
    assert streamed == resolutions
    wars = load_tables([path]).wars
    assert wars["round"].tolist() == [resolution["round"]]


@settings(max_examples=25, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([None, UTC]),
    )
)
def test_version_1_times_read_as_aware_datetimes(moment: datetime) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = _lines(V1_RECORD)
        lines[0]["started_at"] = moment.isoformat()
        header = read_header(_write(Path(folder) / "r.jsonl", lines))
    assert header.started_at.tzinfo is not None
    assert header.started_at == (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_cut_last_line_is_dropped_by_every_reader(data: st.DataObject) -> None:
    raw = V1_RECORD.read_bytes()
    lines = raw.rstrip(b"\n").split(b"\n")
    last = lines[-1]
    cut = data.draw(st.integers(min_value=1, max_value=len(last) - 1))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cut.jsonl"
        path.write_bytes(b"\n".join([*lines[:-1], last[:cut]]))
        record = read_record(path)
        streamed = list(iter_events(path))
        runs = load_tables([path]).runs
        status = record_status(path)
    assert record.truncated and record.run_end is None
    assert len(record.events) == len(lines) - 2  # the header and the cut line are not events
    assert streamed == record.events
    assert bool(runs["truncated"].iloc[0]) and not bool(runs["has_run_end"].iloc[0])
    assert status == "incomplete"


def test_scores_use_the_records_own_scenario_not_todays_limits(tmp_path: Path) -> None:
    lines = _lines(V1_RECORD)
    scenario = lines[0]["scenario"]
    scenario["rules"]["arms_cap_pct"] = 80  # above today's limit of 50
    scenario["states"][0]["name"] = "A" * 100  # longer than today's 60 characters
    with pytest.raises(ValidationError):
        Scenario.model_validate(scenario)
    path = _write(tmp_path / "old-limits.jsonl", lines)
    assert score([path]).skipped == []
    assert load_tables([path]).runs["arms_cap_pct"].tolist() == [80]
    assert read_record(path).header.scenario.states[0].name == "A" * 100


@pytest.mark.parametrize("name", builtin_names())
def test_the_header_snapshot_keeps_every_field_of_a_scenario(name: str) -> None:
    scenario = load_builtin(name)
    snapshot = ScenarioSnapshot.of(scenario)
    assert snapshot.model_dump(mode="json") == scenario.model_dump(mode="json")
    assert snapshot.ids == scenario.ids


def test_a_scenario_field_the_snapshot_lacks_is_an_error() -> None:
    class NewStateSpec(StateSpec):
        alliance: str = "none"

    class NewScenario(Scenario):
        states: list[NewStateSpec]  # type: ignore[assignment]

    base = load_builtin("two-rivals").model_dump()
    newer = NewScenario.model_validate(base)
    with pytest.raises(ValidationError, match="alliance"):
        ScenarioSnapshot.of(newer)
