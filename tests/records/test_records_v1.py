"""Version-1 records of the previous release load, show, score, report and compare as before.

The fixtures in tests/fixtures/records_v1/ were written by the previous release (scripted runs
in two scenarios, a 2x2 sweep, and a run of the embedded local model that ends in war), and
expected/ holds that release's `dilemma score --json`, `dilemma compare --json` and `dilemma show`
output for them. Every number must be unchanged, to 1e-9, except those of measures whose definition
changed since (CHANGED); a measure that disappears from the output fails the test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.core.decision import ProposalKind
from dilemma.core.ladder import Action
from dilemma.core.observation import ArmsSource
from dilemma.core.structured_mode import StructuredMode
from dilemma.records.reader import find_records, read_header, read_record, read_run_end
from dilemma.records.schema import (
    SCHEMA_VERSION,
    DecisionEvent,
    LlmCallEvent,
    ObservationEvent,
    ResolutionEvent,
)
from dilemma.report.build import write_report
from dilemma.report.data import ReportData
from dilemma.report.transcript import CONTINUATION, transcript

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1"
EXPECTED = V1 / "expected"
FOLDERS = ("scripted", "sweep", "local")
TOLERANCE = 1e-9

CHANGED = frozenset(
    {
        "escalation_index",
        "index_components",
        "richardson",
        "spiral_rounds",
        "spiral_onset",
        "spiral_longest",
        "spiral_share",
        "mean_misperception",
        "mean_abs_misperception",
    }
)
"""Measures redefined since version 1: escalation index and its parts, Richardson fit and
verdict, spirals, and the threat-based misperception."""


def _same(expected: Any, actual: Any, where: str) -> None:
    """Equal JSON values, numbers to TOLERANCE; keys of `actual` not in `expected` are ignored."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            if key in CHANGED:
                continue
            assert key in actual, f"{where}.{key} is missing"
            _same(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same(e, a, f"{where}[{n}]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, int | float):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), where
        assert math.isclose(actual, expected, rel_tol=0, abs_tol=TOLERANCE), (
            f"{where}: {actual!r} != {expected!r}"
        )
    else:
        raise AssertionError(f"{where}: unexpected {expected!r}")


def _cli_json(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("folder", FOLDERS)
def test_version_1_records_load_as_todays_models(folder: str) -> None:
    paths = find_records(V1 / folder)
    assert paths
    for path in paths:
        record = read_record(path)
        header = record.header
        assert header.schema_version == 1 < SCHEMA_VERSION  # the version written, kept
        assert read_header(path) == header
        assert not record.truncated and record.run_end is not None
        assert read_run_end(path) == record.run_end
        assert header.started_at.tzinfo is not None
        assert record.run_end.ended_at.tzinfo is not None
        assert all(isinstance(m.structured_output, StructuredMode) for m in header.models.values())
        assert [s.id for s in header.scenario.states] == list(header.models)
        for call in record.of_kind(LlmCallEvent):
            assert call.started_at.tzinfo is not None
        for res in record.of_kind(ResolutionEvent):
            assert all(isinstance(t.kind, ProposalKind) for t in res.treaties_formed)
            assert all(i.source is ArmsSource.INTELLIGENCE for i in res.intel)
        for obs in record.of_kind(ObservationEvent):
            for other in obs.observation.others:
                assert other.last_action is None or isinstance(other.last_action, Action)
        for decision in record.of_kind(DecisionEvent):
            assert decision.decision is None or decision.decision.perceived_intent is None


def test_a_version_1_war_keeps_its_round_and_initiator() -> None:
    (path,) = find_records(V1 / "local")
    record = read_record(path)
    end = record.run_end
    assert end is not None and end.outcome == "war"
    (war,) = [w for r in record.of_kind(ResolutionEvent) for w in r.wars]
    assert (war.round, war.initiator) == (end.war_round, end.war_initiator)
    assert all(m.provider == "local" for m in record.header.models.values())


def test_version_1_sweep_headers_carry_the_experiment() -> None:
    for path in find_records(V1 / "sweep"):
        experiment = read_header(path).experiment
        assert experiment is not None
        assert (experiment.name, experiment.runs) == ("tiny-2x2", 4)
        assert set(experiment.conditions) == {"scenario", "transparency"}


@pytest.mark.parametrize(
    "path", [*find_records(V1 / "scripted"), *find_records(V1 / "local")], ids=lambda p: p.stem
)
def test_show_prints_what_the_previous_release_printed(path: Path) -> None:
    expected = _words((EXPECTED / f"show-{path.stem}.txt").read_text(encoding="utf-8"))
    assert _words(transcript(path)) == expected
    result = CliRunner().invoke(app, ["show", str(path)])
    assert result.exit_code == 0, result.output
    assert _words(result.stdout) == expected


def _words(text: str) -> list[str]:
    """The words of a transcript: the console wraps lines, and model text that spans lines is
    now continued on lines marked `|` (dilemma.report.transcript.CONTINUATION)."""
    return [word for word in text.split() if word != CONTINUATION.strip()]


@pytest.mark.parametrize("folder", FOLDERS)
def test_scores_are_unchanged_except_redefined_measures(folder: str) -> None:
    expected = json.loads((EXPECTED / f"score-{folder}.json").read_text(encoding="utf-8"))
    actual = _cli_json("score", str(V1 / folder), "--json")
    by_file = {Path(run["path"]).name: run for run in actual}
    assert sorted(by_file) == sorted(Path(run["path"]).name for run in expected)
    for run in expected:
        got = by_file[Path(run["path"]).name]
        where = f"{folder}/{run['run_id']}"
        skip = {"path", "insufficient_data"}
        _same({k: v for k, v in run.items() if k not in skip}, got, where)
        assert [m for m in got["insufficient_data"] if m not in CHANGED] == [
            m for m in run["insufficient_data"] if m not in CHANGED
        ], where


def test_compare_gives_the_same_level_means_and_differences() -> None:
    """Per-level n and mean and pairwise differences of every unchanged measure.

    Intervals, p-values and the verdict are not compared: `compare`'s inference is a separate
    change (exact and paired tests, BCa intervals, three verdicts).
    """
    expected = json.loads((EXPECTED / "compare-sweep.json").read_text(encoding="utf-8"))
    actual = _cli_json("compare", str(V1 / "sweep"), "--by", "transparency", "--json")
    levels = {(x["level"], x["measure"]): x for x in actual["levels"]}
    pairs = {(x["level_a"], x["level_b"], x["measure"]): x for x in actual["pairs"]}
    compared = set()
    for row in expected["levels"]:
        if row["measure"] in CHANGED or (row["level"], row["measure"]) not in levels:
            continue
        got = levels[(row["level"], row["measure"])]
        _same({"n": row["n"], "mean": row["mean"]}, got, f"levels {row['level']} {row['measure']}")
        compared.add(row["measure"])
    for row in expected["pairs"]:
        if row["measure"] in CHANGED:
            continue
        key = (row["level_a"], row["level_b"], row["measure"])
        swapped = (row["level_b"], row["level_a"], row["measure"])
        if key in pairs:
            _same(row["diff"], pairs[key]["diff"], f"pairs {key}")
        elif swapped in pairs:
            _same(-row["diff"], pairs[swapped]["diff"], f"pairs {swapped}")
    assert {"ladder_score_total", "mean_growth_pct", "cum_arms_change_pct", "mean_threat"} <= (
        compared
    )


@pytest.mark.parametrize("folder", FOLDERS)
def test_report_numbers_are_the_scores_of_the_previous_release(folder: str, tmp_path: Path) -> None:
    expected = json.loads((EXPECTED / f"score-{folder}.json").read_text(encoding="utf-8"))
    runs = ReportData(V1 / folder, None).runs.set_index("run_id")
    for run in expected:
        row = runs.loc[run["run_id"]]
        for column in ("rounds", "ladder_score_total", "mean_threat", "treaties_formed"):
            value = row[column]
            value = value.item() if hasattr(value, "item") else value
            _same(run[column], value, f"{folder}/{run['run_id']}.{column}")
        assert row["outcome"] == run["outcome"]
    html = write_report(V1 / folder, tmp_path / "report.html").read_text(encoding="utf-8")
    for run in expected:
        assert run["run_id"] in html
    if folder == "sweep":
        assert "tiny-2x2" in html
