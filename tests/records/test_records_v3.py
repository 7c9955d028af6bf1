"""Version-3 records written by release 0.2.0 load and score as they did then.

tests/fixtures/records_v3 holds scripted records of that release and its `dilemma score --json`
(expected_scores.json). Every value it printed must come out the same today; columns added
since are ignored here (their own tests say what older records give for them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.records.reader import find_records, read_record
from dilemma.records.schema import SCHEMA_VERSION

V3 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v3"
TOLERANCE = 1e-9


def _same(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is missing"
            _same(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for n, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _same(e, a, f"{where}[{n}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual), where
    elif isinstance(expected, int | float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), where
        assert math.isclose(actual, expected, rel_tol=0, abs_tol=TOLERANCE), (
            f"{where}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_version_3_records_load_with_the_version_they_were_written_in() -> None:
    paths = find_records(V3)
    assert len(paths) == 6
    for path in paths:
        record = read_record(path)
        assert record.header.schema_version == 3 < SCHEMA_VERSION
        assert record.run_end is not None and not record.truncated


def test_version_3_records_score_as_release_0_2_0_scored_them() -> None:
    expected = json.loads((V3 / "expected_scores.json").read_text(encoding="utf-8"))
    result = CliRunner().invoke(app, ["score", str(V3), "--json"])
    assert result.exit_code == 0, result.output
    actual = json.loads(result.stdout)
    by_id = {row["run_id"]: row for row in actual}
    assert sorted(by_id) == sorted(row["run_id"] for row in expected)
    for row in expected:
        row.pop("path", None)
        _same(row, by_id[row["run_id"]], row["run_id"])
