"""The Python API as a notebook uses it: the synchronous functions called inside a running event
loop (a Jupyter cell), on a small scripted experiment (the session of docs/python-api.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import matplotlib
import pytest
from dilemma.evaluation.comparison import CompareError
from dilemma.evaluation.measure_sets import DEFAULT_PRIMARY

import dilemma

matplotlib.use("Agg")
import matplotlib.pyplot as plt

EXPERIMENT = """
name: notebook
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
repeats: 3
"""
LEVELS = {"transparent/transparent", "secretive/secretive"}


async def test_a_notebook_session_runs_inside_a_running_loop(tmp_path: Path) -> None:
    asyncio.get_running_loop()  # as in a Jupyter cell: a loop is running in this thread
    path = tmp_path / "notebook.yaml"
    path.write_text(EXPERIMENT)

    result = dilemma.sweep(path, dilemma.SweepConfig(out_dir=tmp_path / "runs", concurrency=4))
    assert (result.stats.done, result.stats.failed) == (6, 0)
    assert sorted(p.stem for p in result.out_dir.glob("*.jsonl")) == sorted(
        r.run_id for r in result.runs
    )

    scores = dilemma.score(result.out_dir)
    for table in (scores.runs, scores.rounds, scores.dyad_rounds):
        assert set(table["transparency"]) == LEVELS  # the factor, as a column
        assert set(table["model"]) == {"scripted:reactive"}
    assert len(scores.runs) == 6 and len(scores.rounds) == 6 * 3
    per_level = scores.runs.groupby("transparency")["escalation_index"].mean()
    assert set(per_level.index) == LEVELS

    verdict = dilemma.compare(scores, by="transparency")
    assert verdict.verdict in ("changes", "equivalent", "inconclusive")
    assert verdict.primary == tuple(DEFAULT_PRIMARY)
    primary = verdict.pairs[verdict.pairs["family"] == "primary"]
    assert set(primary["measure"]) == set(DEFAULT_PRIMARY)
    assert set(verdict.levels["level"]) == LEVELS
    # the same comparison from the folder of records
    again = dilemma.compare(result.out_dir, by="transparency")
    assert again.verdict == verdict.verdict and again.summary == verdict.summary
    kept = dilemma.compare(result.out_dir, by="transparency", where={"model": "scripted:reactive"})
    assert kept.summary == verdict.summary  # every run kept
    with pytest.raises(CompareError, match="no run has model = openai:x"):
        dilemma.compare(scores, by="transparency", where={"model": "openai:x"})

    figure, axes = plt.subplots()
    per_level.plot.bar(ax=axes, ylabel="escalation index")
    figure.savefig(tmp_path / "escalation.png")
    plt.close(figure)
    assert (tmp_path / "escalation.png").stat().st_size > 0

    one = dilemma.run(
        "two-rivals",
        dilemma.RunConfig(seed=1, out_dir=tmp_path / "one"),
        model="scripted:dove",
        rounds=2,
    )
    record = dilemma.read_record(one)
    assert record.run_end is not None and record.run_end.rounds_played == 2
    assert {m.spec for m in record.header.models.values()} == {"scripted:dove"}


async def test_the_async_forms_share_the_callers_loop(tmp_path: Path) -> None:
    experiment = dilemma.Experiment.model_validate(
        {"name": "inline", "scenarios": ["two-rivals"], "rounds": 2, "model": "scripted:hawk"}
    )
    config = dilemma.SweepConfig(out_dir=tmp_path / "inline", concurrency=2)
    result = await dilemma.asweep(experiment, config)
    assert (result.stats.done, result.stats.failed) == (1, 0)
    (record_path,) = result.out_dir.glob("*.jsonl")
    record = await dilemma.aread_record(record_path)
    assert record.header.experiment is not None and record.header.experiment.name == "inline"
    scores = await dilemma.ascore(result.out_dir)
    assert list(scores.runs["run_id"]) == [record.header.run_id]
    path = await dilemma.arun(
        "two-rivals",
        model="scripted:dove",
        rounds=1,
        config=dilemma.RunConfig(seed=0, out_dir=tmp_path / "one"),
    )
    assert path.parent == tmp_path / "one"


def test_the_synchronous_forms_work_without_a_loop(tmp_path: Path) -> None:
    config = dilemma.RunConfig(seed=2, out_dir=tmp_path)
    path = dilemma.run("two-rivals", config, model="scripted:tit-for-tat", rounds=1)
    assert dilemma.read_record(path).run_end is not None


def test_a_bad_input_names_what_is_wrong(tmp_path: Path) -> None:
    from dilemma.scenarios.library import ScenarioError

    with pytest.raises(ScenarioError, match="no-such-scenario"):
        dilemma.run("no-such-scenario", dilemma.RunConfig(seed=0, out_dir=tmp_path))
    assert not list(tmp_path.iterdir())
