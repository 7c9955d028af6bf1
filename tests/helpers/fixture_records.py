"""Checks shared by the tests of older-version fixture records (tests/fixtures/records_vN):
they load with the version they were written in, and `dilemma score --json` prints every value
the release that wrote them printed (columns added since are ignored)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.records.reader import find_records, read_record
from dilemma.records.schema import SCHEMA_VERSION

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


def check_loads(folder: Path, version: int, count: int) -> None:
    """The `count` records in `folder` read as complete records of schema `version`."""
    paths = find_records(folder)
    assert len(paths) == count
    for path in paths:
        record = read_record(path)
        assert record.header.schema_version == version < SCHEMA_VERSION
        assert record.run_end is not None and not record.truncated


def check_scores(folder: Path) -> None:
    """`dilemma score --json` of `folder` gives every value of its expected_scores.json."""
    expected = json.loads((folder / "expected_scores.json").read_text(encoding="utf-8"))
    result = CliRunner().invoke(app, ["score", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    actual = json.loads(result.stdout)
    by_id = {row["run_id"]: row for row in actual}
    assert sorted(by_id) == sorted(row["run_id"] for row in expected)
    for row in expected:
        row.pop("path", None)
        _same(row, by_id[row["run_id"]], row["run_id"])
