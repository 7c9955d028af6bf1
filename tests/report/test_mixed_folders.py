"""Reports and comparisons of folders that mix sweeps with plain and unfinished runs."""

from __future__ import annotations

from pathlib import Path

from dilemma.report.build import write_report
from tests.helpers.mixed_runs import plain_record, sweep_record

CELLS = [("democracy", "transparent"), ("autocracy", "transparent"), ("democracy", "secretive")]


def _plain_beside_a_sweep(folder: Path) -> None:
    for regime, transparency in CELLS:
        conds = {"regime": regime, "transparency": transparency}
        sweep_record(folder / "rt", "rt", conds, seed=0)
    plain_record(folder, seed=0)


def test_report_of_a_plain_run_beside_a_sweep(tmp_path: Path) -> None:
    _plain_beside_a_sweep(tmp_path / "runs")
    html = write_report(tmp_path / "runs", tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Comparison of conditions" in html
    # the plain run has no regime: left out of the regime comparison, and the report says so
    assert "3 runs compared (completed 3); left out: 1 without a level of regime" in html
    assert "1 without a level of transparency" in html
