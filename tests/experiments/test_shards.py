"""`dilemma sweep --shard I/N`: disjoint shards that cover the experiment and merge as one sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dilemma.evaluation.tables import record_paths, score
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dilemma.cli.compare import CompareRequest, compare_output
from dilemma.cli.main import app
from dilemma.experiments.shards import MAX_SHARDS, Shard, ShardError
from dilemma.experiments.spec import RunSpec, expand, load_experiment
from dilemma.records.reader import record_status

EXPERIMENT = """
name: sharded
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
repeats: 4
"""


def run_spec(run_id: str) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        experiment="x",
        scenario_source="x",
        scenario={},
        models={},
        prompt_setup="baseline",
        seed=0,
        max_retries=0,
        conditions={},
    )


def check_partition(runs: list[RunSpec], count: int) -> list[list[RunSpec]]:
    shards = [Shard(i, count).select(runs) for i in range(1, count + 1)]
    ids = [r.run_id for shard in shards for r in shard]
    assert len(ids) == len(set(ids)), "a run is in two shards"
    assert sorted(ids) == sorted(r.run_id for r in runs), "a run is in no shard"
    for shard in shards:  # each shard keeps the expansion's order
        positions = [runs.index(r) for r in shard]
        assert positions == sorted(positions)
    return shards


@given(
    ids=st.lists(st.text(min_size=1, max_size=20), unique=True, max_size=60),
    count=st.integers(min_value=1, max_value=12),
)
def test_shards_are_disjoint_and_complete(ids: list[str], count: int) -> None:
    check_partition([run_spec(i) for i in ids], count)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_shards_of_an_expanded_experiment(tmp_path: Path, count: int) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.replace("repeats: 4", "repeats: 25"))
    runs = expand(load_experiment(path), path)
    shards = check_partition(runs, count)
    if count > 1:  # 50 runs: no shard is empty or holds everything
        assert all(0 < len(s) < len(runs) for s in shards)
    # a run's shard depends on the run alone: more repeats leave every run in its shard
    path.write_text(EXPERIMENT.replace("repeats: 4", "repeats: 30"))
    grown = expand(load_experiment(path), path)
    for i, shard in enumerate(shards, start=1):
        assert {r.run_id for r in shard} <= {r.run_id for r in Shard(i, count).select(grown)}


@pytest.mark.parametrize(
    "text", ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3", "-1/2", "1.5/2", "", f"1/{MAX_SHARDS + 1}"]
)
def test_bad_shards_exit_2(tmp_path: Path, text: str) -> None:
    with pytest.raises(ShardError):
        Shard.parse(text)
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--shard", text])
    assert result.exit_code == 2, result.output
    assert "--shard" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_shard_parse_accepts_i_of_n() -> None:
    assert Shard.parse("2/8") == Shard(2, 8)
    assert Shard.parse(" 1 / 1 ") == Shard(1, 1)
    assert str(Shard(3, 4)) == "3/4"


def sweep_cli(path: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def stripped(path: Path) -> list[dict[str, object]]:
    """A record's lines without times and the command line."""
    lines = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for key in ("started_at", "ended_at", "latency_s", "argv"):
            event.pop(key, None)
        lines.append(event)
    return lines


def test_two_shards_in_one_folder_score_and_compare_like_one_sweep(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    runs = expand(load_experiment(path), path)
    single, union = tmp_path / "single", tmp_path / "union"
    sweep_cli(path, single)
    sweep_cli(path, union, "--shard", "1/2")
    first = {p.name for p in union.glob("*.jsonl")}
    assert first == {f"{r.run_id}.jsonl" for r in Shard(1, 2).select(runs)}
    sweep_cli(path, union, "--shard", "2/2")  # the same folder, no --resume needed
    records = sorted(union.glob("*.jsonl"))
    assert [p.name for p in records] == sorted(p.name for p in single.glob("*.jsonl"))
    assert all(record_status(p) in ("completed", "war") for p in records)
    for p in records:  # headers name the whole experiment (runs: 8), as in the single sweep
        assert stripped(p) == stripped(single / p.name)
    # --resume per shard: shard 1 is complete, nothing is played again or set aside
    before = {p.name: p.read_bytes() for p in records}
    output = sweep_cli(path, union, "--shard", "1/2", "--resume")
    assert "0 runs played" in output
    assert {p.name: p.read_bytes() for p in union.glob("*.jsonl")} == before
    assert not (union / "failed").exists()

    def scores(folder: Path) -> pd.DataFrame:
        runs = score(record_paths(folder)).runs.drop(columns=["path"])
        return runs.sort_values("run_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(scores(union), scores(single))
    request = CompareRequest(by="transparency", where=[], primary=[], margins=[])

    def compared(folder: Path) -> dict[str, object]:
        result: dict[str, object] = json.loads(compare_output(folder, request, as_json=True))
        result.pop("source", None)
        return result

    assert compared(union) == compared(single)
    report = CliRunner().invoke(app, ["report", str(union), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
