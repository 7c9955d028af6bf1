"""Version-4 records written by release 0.3.0 load and score as they did then.

tests/fixtures/records_v4 holds records of that release (scripted runs with negotiation,
summits, disclosed accidents and public signals, and a small sweep) and its `dilemma score
--json` (expected_scores.json). Version 5 writes observations as deltas; a version-4 record
(every observation whole) must read and score exactly as before, and a run played again today
must give the same events and the same scores as its version-4 record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dilemma.scenarios.library import load_builtin
from pydantic import BaseModel
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.records.reader import read_record
from dilemma.records.schema import SCHEMA_VERSION, Header, LlmCallEvent, RunEndEvent
from dilemma.simulation.runner import RunConfig, run_scenario
from tests.helpers.fixture_records import check_loads, check_scores

V4 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v4"


def test_version_4_records_load_with_the_version_they_were_written_in() -> None:
    check_loads(V4, 4, 7)


def test_version_4_records_score_as_release_0_3_0_scored_them() -> None:
    check_scores(V4)


def _comparable(event: BaseModel) -> object:
    """An event without what differs between two plays of one run (times, latencies)."""
    if isinstance(event, LlmCallEvent):
        return event.model_copy(update={"latency_s": 0.0, "started_at": None})
    if isinstance(event, RunEndEvent):
        return event.model_copy(update={"ended_at": None})
    return event


def _header_facts(header: Header) -> dict[str, object]:
    return header.model_dump(
        exclude={
            "schema_version",
            "started_at",
            "git_revision",
            "git_dirty",
            "package_versions",
            "argv",
            "scenario_source",
        }
    )


@pytest.mark.slow
async def test_a_run_played_today_reads_and_scores_as_its_version_4_record(
    tmp_path: Path,
) -> None:
    (old,) = (V4 / "scripted").glob("two-rivals_s3_*.jsonl")
    written = read_record(old)
    scenario = load_builtin("two-rivals")
    scenario = scenario.model_copy(
        update={"rules": scenario.rules.model_copy(update={"rounds": 10})}
    )
    specs = {s.id: "scripted:reactive" for s in scenario.states}
    path = await run_scenario(scenario, RunConfig(seed=3, out_dir=tmp_path), overrides=specs)
    today = read_record(path)
    assert today.header.schema_version == SCHEMA_VERSION
    assert b'"delta":' in path.read_bytes()  # stored the version-5 way
    assert path.stat().st_size < 0.7 * old.stat().st_size
    assert _header_facts(today.header) == _header_facts(written.header)
    assert [_comparable(e) for e in today.events] == [_comparable(e) for e in written.events]

    expected = json.loads((V4 / "expected_scores.json").read_text(encoding="utf-8"))
    (row,) = [r for r in expected if r["run_id"] == written.header.run_id]
    result = CliRunner().invoke(app, ["score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (actual,) = json.loads(result.stdout)
    row.pop("path")
    actual.pop("path")
    assert actual == row
