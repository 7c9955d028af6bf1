"""The analysis reads each record's header once per file version, and reads it again when the
record is rewritten (a resumed or replaced run)."""

from __future__ import annotations

from pathlib import Path

from dilemma.evaluation.conditions import conditions, declared, pilot_note

from dilemma.records.schema import ExperimentInfo
from tests.helpers.records import Move, RecordBuilder


def _record(path: Path, level: str, *, primary: list[str] | None = None) -> Path:
    info = ExperimentInfo(
        name="e",
        source="e.yaml",
        runs=2,
        conditions={"regime": level},
        primary=primary,
        overrides={"repeats": 2} if level == "pilot" else {},
    )
    builder = RecordBuilder(["A", "B"], rounds=2, experiment=info)
    for _ in range(2):
        builder.play({"A": Move(change=2.0), "B": Move(change=1.0)})
    return builder.write(path)


def test_a_rewritten_record_is_read_again(tmp_path: Path) -> None:
    path = _record(tmp_path / "r.jsonl", "democracy")
    assert conditions([path])["regime"].tolist() == ["democracy"]
    assert declared([path]) == (None, {})
    assert pilot_note([path]) is None

    _record(tmp_path / "new.jsonl", "pilot", primary=["mean_growth_pct"]).replace(path)
    assert conditions([path])["regime"].tolist() == ["pilot"]
    assert declared([path])[0] == ["mean_growth_pct"]
    assert pilot_note([path]) is not None
