"""Experiment files, sweeps, resume after a kill, response cache and replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dilemma.experiments.executor import ReplayMiss, SweepError
from dilemma.experiments.spec import ExperimentError, expand, load_experiment
from dilemma.models.response_cache import CacheMiss, ResponseCache
from dilemma.records.reader import record_status
from tests.helpers.cli import invoke
from tests.helpers.held_sweep import HELD
from tests.helpers.signals import interruptible
from tests.helpers.sweeps import sweep_locally

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "src" / "dilemma" / "experiments" / "examples"
DILEMMA = [sys.executable, "-m", "dilemma.cli.main"]


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


SMALL = """
name: small
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
  rules.intel_noise: [0.1, 0.3]
repeats: 3
"""


def test_expansion_is_complete_and_ids_are_stable(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    runs = expand(load_experiment(path), path)
    assert len(runs) == 2 * 2 * 3
    assert len({r.run_id for r in runs}) == len(runs)
    again = expand(load_experiment(path), path)
    assert [r.run_id for r in runs] == [r.run_id for r in again]
    secretive = [r for r in runs if r.conditions["transparency"] == "secretive/secretive"]
    assert all(s["transparency"] == "secretive" for r in secretive for s in r.scenario["states"])
    assert {r.scenario["rules"]["intel_noise"] for r in runs} == {0.1, 0.3}
    assert {r.seed for r in runs} == {0, 1, 2}
    changed = expand(
        load_experiment(write(tmp_path, SMALL.replace("rounds: 3", "rounds: 4"), "b.yaml")), path
    )
    assert not {r.run_id for r in runs} & {r.run_id for r in changed}


def test_levels_share_seeds(tmp_path: Path) -> None:
    # common random numbers: runs that differ only in one factor's level have the same seed
    path = write(tmp_path, SMALL.replace("repeats: 3", "repeats: 3\nseed_base: 40"))
    runs = expand(load_experiment(path), path)
    seeds: dict[tuple[str, str], set[int]] = {}
    for r in runs:
        cell = (r.conditions["transparency"], r.conditions["rules.intel_noise"])
        seeds.setdefault(cell, set()).add(r.seed)
    assert len(seeds) == 4 and all(s == {40, 41, 42} for s in seeds.values())


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SMALL.replace("repeats: 3", "repeats: 0"), "repeats"),
        (SMALL.replace("rules.intel_noise", "rules.nonsense"), "factors"),
        (SMALL.replace("rules.intel_noise", "weather"), "factors"),
        (SMALL + "colour: red\n", "colour"),
        (SMALL.replace("[secretive, secretive]", "[secretive]"), "factors.transparency"),
        (SMALL.replace("[secretive, secretive]", "[secretive, opaque]"), "states.1.transparency"),
        (SMALL.replace("[0.1, 0.3]", "[0.1, 7]"), "rules.intel_noise"),
        (SMALL.replace("two-rivals", "no-such-scenario"), "scenarios"),
        ("name: x\nscenarios: [two-rivals\n", "line"),
        (SMALL + "primary: [nonsense]\n", "primary"),
        (SMALL + "primary: [fallback_rate]\n", "primary"),
        (SMALL + "primary: []\n", "primary"),
        (SMALL + "margins: {mean_threat: -1}\n", "margins"),
        (SMALL + "margins: {nonsense: 1}\n", "margins"),
        (SMALL + "primary: [spiral_rounds]\n", "margins"),  # no default margin for it
    ],
)
def test_bad_experiment_files_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ExperimentError) as info:
        expand(load_experiment(path), path)
    assert str(path) in str(info.value) and field in str(info.value)
    out = tmp_path / "out"
    result = invoke("sweep", str(path), "--out", str(out))
    assert result.code == 2 and result.exception is None, result.stderr
    assert field in result.unwrapped_stderr and path.name in result.unwrapped_stderr
    assert not out.exists()


async def test_sweep_runs_everything_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    runs = expand(load_experiment(path), path)
    stats = await sweep_locally(runs, tmp_path / "out", concurrency=4)
    assert (stats.done, stats.failed) == (12, 0)
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.jsonl")) == sorted(
        r.run_id for r in runs
    )
    with pytest.raises(SweepError, match="--resume"):
        await sweep_locally(runs, tmp_path / "out", concurrency=4)
    again = await sweep_locally(runs, tmp_path / "out", concurrency=4, resume=True)
    assert (again.done, again.skipped) == (12, 12)


def long_sweep(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """An experiment long enough to interrupt: its file, its output folder, its CLI arguments."""
    longer = SMALL.replace("rounds: 3", "rounds: 30").replace("repeats: 3", "repeats: 6")
    path = write(tmp_path, longer)
    out = tmp_path / "out"
    return path, out, ["sweep", str(path), "--out", str(out), "--concurrency", "2"]


HELD_AFTER = 300
"""Model calls before the sweep is held: two 120-call runs finished, the next two under way."""


def held_sweep(args: list[str]) -> subprocess.Popen[str]:
    """`dilemma ARGS` in a child process, returned once its model calls are held mid-sweep."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.held_sweep", str(HELD_AFTER), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=interruptible,  # Ctrl-C works even when this suite runs in the background
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # blocks until the child writes: no polling, no sleep
        if line.strip() == HELD:
            return proc
    proc.wait()
    pytest.fail(f"the sweep ended (exit {proc.returncode}) before {HELD_AFTER} model calls")


@pytest.mark.slow  # kill and resume: two CLI processes, 30-round runs
def test_killed_sweep_resumes_without_duplicates(tmp_path: Path) -> None:
    path, out, args = long_sweep(tmp_path)
    proc = held_sweep(args)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    statuses = [record_status(p) for p in out.glob("*.jsonl")]
    assert "incomplete" in statuses, statuses
    finished = {
        p.name: p.read_bytes()
        for p in out.glob("*.jsonl")
        if record_status(p) in ("completed", "war")
    }
    assert finished  # the runs done before the hold
    result = subprocess.run(
        [*DILEMMA, *args, "--resume"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    runs = expand(load_experiment(path), path)
    records = sorted(out.glob("*.jsonl"))
    assert sorted(p.stem for p in records) == sorted(r.run_id for r in runs)
    assert all(record_status(p) in ("completed", "war") for p in records)
    for p in records:
        lines = p.read_text().splitlines()
        assert sum(json.loads(line)["kind"] == "header" for line in lines) == 1
        assert sum(json.loads(line)["kind"] == "run_end" for line in lines) == 1
    for name, content in finished.items():  # finished records were left untouched
        assert (out / name).read_bytes() == content
    assert list((out / "failed").glob("*.jsonl"))  # the cut records were set aside, not merged


def _strip(path: Path) -> list[dict[str, object]]:
    events = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for key in ("started_at", "ended_at", "latency_s", "argv", "response_cache"):
            event.pop(key, None)
        events.append(event)
    return events


async def test_cache_then_replay_reproduces_records(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL.replace("repeats: 3", "repeats: 1"))
    runs = expand(load_experiment(path), path)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    await sweep_locally(runs, tmp_path / "first", concurrency=4, shared_cache=cache)
    assert cache.misses > 0 and cache.hits == 0
    calls = cache.misses
    await sweep_locally(runs, tmp_path / "second", concurrency=4, shared_cache=cache)
    assert cache.hits == calls and cache.misses == calls
    cache.close()
    replay = ResponseCache(tmp_path / "cache.sqlite", replay=True)
    await sweep_locally(runs, tmp_path / "replayed", concurrency=4, shared_cache=replay)
    assert replay.misses == 0
    for first in (tmp_path / "first").glob("*.jsonl"):
        assert _strip(first) == _strip(tmp_path / "replayed" / first.name)
    # a different experiment is not in the cache: replay stops at the first miss
    other = expand(
        load_experiment(write(tmp_path, SMALL.replace("rounds: 3", "rounds: 5"), "other.yaml")),
        path,
    )
    with pytest.raises(ReplayMiss, match="no cached reply"):
        await sweep_locally(other, tmp_path / "miss", concurrency=4, shared_cache=replay)


def test_replay_needs_an_existing_cache(tmp_path: Path) -> None:
    with pytest.raises(CacheMiss):
        ResponseCache(tmp_path / "absent.sqlite", replay=True)


def compare_json(out: Path, *args: str) -> dict[str, Any]:
    """`dilemma compare OUT ARGS --json`, parsed; fails the test on a non-zero exit."""
    cmd = [sys.executable, "-m", "dilemma.cli.main", "compare", str(out), *args, "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.slow  # a 40-run sweep and three compare passes: a statistical calibration
def test_example_2x2_detects_transparency(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dilemma.cli.main",
            "sweep",
            str(EXAMPLES / "regime-transparency-2x2.yaml"),
            "--out",
            str(out),
            "--concurrency",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = compare_json(out, "--by", "transparency")
    assert data["verdict"] == "changes" and data["changes_behaviour"] is True
    assert data["primary"] == ["escalation_index", "mean_threat", "mean_growth_pct", "war"]
    assert data["designs"] == [
        "paired by seed within regime: sign-flip permutation on 20 differences"
    ]
    threat = next(p for p in data["pairs"] if p["measure"] == "mean_threat")
    assert threat["level_a"] == "secretive/secretive" and threat["diff"] > 0
    assert threat["p_holm"] < 0.05 and threat["ci_low"] > 0
    for pair in data["pairs"]:
        for key in ("p_value", "p_exact", "ci_method", "mde", "seeds_needed", "family"):
            assert key in pair
    assert {p["family"] for p in data["pairs"]} == {"primary", "secondary", "quality"}
    # where secrecy gives reactive states something to arm against, the democratic forewarning
    # rule slows democracies down: regime matters within the secretive cells (10 pairs: exact)
    regime = compare_json(out, "--by", "regime", "--where", "transparency=secretive/secretive")
    assert regime["verdict"] == "changes"
    growth = next(p for p in regime["pairs"] if p["measure"] == "mean_growth_pct")
    assert growth["level_a"] == "autocracy/autocracy" and growth["diff"] > 0
    assert growth["p_exact"] is True and growth["p_value"] == pytest.approx(2 / 2**10)
    # and more there than where both are transparent: the regime x transparency interaction
    both = compare_json(out, "--by", "regime", "--interaction", "transparency")
    inter = both["interaction"]
    assert inter["verdict"] == "changes"
    growth = next(p for p in inter["contrasts"] if p["measure"] == "mean_growth_pct")
    assert growth["within_a"] == "secretive/secretive" and growth["diff"] > 0
    assert growth["ci_low"] > 0 and growth["p_holm"] < 0.05


PLACEBO = """
name: placebo
scenarios: [two-rivals]
rounds: 4
model: scripted:reactive
factors:
  prompt_setup: [baseline, realist]
  transparency: [[secretive, secretive]]
primary: [escalation_index, mean_threat, mean_growth_pct, mean_misperception]
margins: {mean_threat: 0.25}
repeats: 5
"""


@pytest.mark.slow  # a placebo sweep and its equivalence tests: a statistical calibration
def test_identical_levels_are_equivalent(tmp_path: Path) -> None:
    # scripted policies ignore the prompt text: a prompt_setup factor is a placebo
    path = write(tmp_path, PLACEBO)
    out = tmp_path / "out"
    result = subprocess.run(
        [*DILEMMA, "sweep", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = compare_json(out, "--by", "prompt_setup")
    assert data["verdict"] == "equivalent", data["summary"]
    assert data["primary_source"] == "experiment file"
    assert data["primary"][-1] == "mean_misperception" and data["margins"]["mean_threat"] == 0.25
    primary = [p for p in data["pairs"] if p["family"] == "primary"]
    assert len(primary) == 4
    assert all(p["diff"] == 0 and p["p_equivalence"] < 0.05 for p in primary)
    assert all(p["design"] == "paired" and p["p_exact"] is True for p in primary)
    # --primary overrides the experiment file; a measure with no margin is refused (exit 2)
    override = compare_json(out, "--by", "prompt_setup", "--primary", "mean_threat,war")
    assert override["primary"] == ["mean_threat", "war"]
    # war is tested exactly: 0 wars in 5 against 0 in 5 cannot show rates within 0.1
    assert override["verdict"] == "inconclusive"
    (war,) = [p for p in override["pairs"] if p["measure"] == "war"]
    assert war["diff"] == 0 and war["p_equivalence"] >= 0.05
    refused = invoke("compare", str(out), "--by", "prompt_setup", "--primary", "spiral_rounds")
    assert refused.code == 2 and refused.exception is None, refused.stderr
    assert "--margin" in refused.unwrapped_stderr
    bad = invoke("compare", str(out), "--by", "prompt_setup", "--margin", "mean_threat")
    assert bad.code == 2 and bad.exception is None, bad.stderr
    assert "MEASURE=VALUE" in bad.unwrapped_stderr


def test_prompt_setup_example_expands(tmp_path: Path) -> None:
    path = EXAMPLES / "prompt-setups.yaml"
    runs = expand(load_experiment(path), path)
    assert {r.prompt_setup for r in runs} == {"baseline", "realist"}
    assert {r.conditions["prompt_setup"] for r in runs} == {"baseline", "realist"}


@pytest.mark.slow  # Ctrl-C and resume: two CLI processes, 30-round runs
def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    _, out, args = long_sweep(tmp_path)
    proc = held_sweep(args)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    statuses = {p.name: record_status(p) for p in out.glob("*.jsonl")}
    # every record is either finished or closed with an `interrupted` run_end: none is cut
    assert set(statuses.values()) <= {"completed", "war", "interrupted"}, statuses
    assert "interrupted" in statuses.values()
    result = subprocess.run(
        [*DILEMMA, *args, "--resume"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert all(record_status(p) in ("completed", "war") for p in out.glob("*.jsonl"))


def test_export_writes_csv_and_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = write(tmp_path, SMALL.replace("repeats: 3", "repeats: 1"))
    out = tmp_path / "out"
    swept = invoke("sweep", str(path), "--out", str(out))
    assert swept.code == 0 and swept.exception is None, swept.stderr
    tables = tmp_path / "tables"
    exported = invoke("export", str(out), "-o", str(tables))
    assert exported.code == 0 and exported.exception is None, exported.stderr
    for name in ("runs", "rounds", "dyad_rounds"):
        csv = pd.read_csv(tables / f"{name}.csv")
        parquet = pd.read_parquet(tables / f"{name}.parquet")
        assert len(csv) == len(parquet) > 0
    runs = pd.read_parquet(tables / "runs.parquet")
    assert set(runs["transparency"]) == {"transparent/transparent", "secretive/secretive"}
    assert len(runs) == 4
