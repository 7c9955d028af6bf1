"""`--margin hazard_ratio=M` sets the equivalence margin of the survival hazard ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.helpers.report_sweeps import two_factor_sweep


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_factor_sweep(tmp_path_factory.mktemp("hr"), rounds=2, repeats=3)


def _hr_margin(folder: Path, *extra: str) -> float:
    result = invoke("compare", str(folder), "--by", "regime", "--json", *extra)
    assert result.code == 0, result.stderr
    return float(json.loads(result.stdout)["survival"]["hr_margin"])


def test_the_margin_defaults_to_two_and_can_be_set(folder: Path) -> None:
    assert _hr_margin(folder) == 2.0
    assert _hr_margin(folder, "--margin", "hazard_ratio=1.25") == 1.25


@pytest.mark.parametrize("value", ["1", "0.5", "nan"])
def test_a_margin_at_or_below_one_is_refused(folder: Path, value: str) -> None:
    result = invoke("compare", str(folder), "--by", "regime", "--margin", f"hazard_ratio={value}")
    assert result.code == 2
    assert "hazard_ratio" in result.unwrapped_stderr and "above 1" in result.unwrapped_stderr
