"""The version on the command line and in what it writes; packaged examples found by name."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import dilemma
from dilemma.cli.main import app
from dilemma.experiments.spec import example_names
from dilemma.records.provenance import git_state
from dilemma.records.reader import find_records, read_header

SWEEP = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1" / "sweep"
TABLES = ("runs", "rounds", "dyad_rounds", "state_rounds", "pair_rounds", "texts", "calls")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_option_prints_the_built_version() -> None:
    code, out, _ = invoke("--version")
    assert code == 0
    assert out.strip() == f"dilemma {dilemma.__version__}"
    assert dilemma.__version__ == metadata.version("security-dilemma-sandbox")


def test_compare_json_carries_the_version() -> None:
    code, out, _ = invoke("compare", str(SWEEP), "--by", "transparency", "--json")
    assert code == 0
    assert json.loads(out)["dilemma_version"] == dilemma.__version__


def test_export_writes_the_version_beside_and_into_the_tables(tmp_path: Path) -> None:
    code, out, _ = invoke("export", str(SWEEP), "-o", str(tmp_path))
    assert code == 0
    info = json.loads((tmp_path / "export.json").read_text(encoding="utf-8"))
    revision, dirty = git_state()
    assert info == {
        "dilemma_version": dilemma.__version__,
        "git_revision": revision,
        "git_dirty": dirty,
        "tables": [f"{table}.{ext}" for table in TABLES for ext in ("csv", "parquet")]
        + ["data_dictionary.csv", "data_dictionary.md"],
    }
    for table in TABLES:
        frame = pd.read_parquet(tmp_path / f"{table}.parquet")
        assert frame.attrs["dilemma_version"] == dilemma.__version__
        assert not frame.empty
    assert str(tmp_path / "export.json") in out.replace("\n", "")


def test_sweep_finds_a_packaged_example_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a folder that is no clone: the name alone finds the example shipped in the package."""
    assert "regime-transparency-2x2" in example_names()
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("sweep", "regime-transparency-2x2", "--shard", "1/4", "--out", "runs")
    assert code == 0, err
    records = find_records(tmp_path / "runs")
    assert records, out
    header = read_header(records[0])
    assert header.experiment is not None
    assert header.experiment.name == "regime-transparency-2x2"
    assert header.experiment.runs == 40


def test_sweep_of_an_unknown_name_lists_the_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("sweep", "no-such-experiment")
    assert code == 2
    assert "no-such-experiment" in err
    assert all(name in err for name in example_names())
    assert not (tmp_path / "runs").exists()
