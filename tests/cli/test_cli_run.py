"""`dilemma run` as a researcher uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.engine import EVENT_KINDS

DILEMMA = [sys.executable, "-m", "dilemma.cli.main"]


def dilemma(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DILEMMA, *args], capture_output=True, text=True, timeout=300)


def test_run_hawks_writes_one_complete_record(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = dilemma(
        "run",
        "two-rivals",
        "--model",
        "scripted:hawk",
        "--rounds",
        "5",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    (record,) = out.glob("*.jsonl")
    kinds = {json.loads(line)["kind"] for line in record.read_text().splitlines()}
    assert kinds == {"header", *EVENT_KINDS}
    assert "Round 5" in result.stdout and str(record) in result.stdout.replace("\n", "")


def test_run_mixes_models_per_state(tmp_path: Path) -> None:
    result = dilemma(
        "run",
        "two-rivals",
        "--state-model",
        "Aria=scripted:dove",
        "--state-model",
        "Borea=scripted:hawk",
        "--rounds",
        "2",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    (record,) = tmp_path.glob("*.jsonl")
    header = json.loads(record.read_text().splitlines()[0])
    assert {k: v["spec"] for k, v in header["models"].items()} == {
        "Aria": "scripted:dove",
        "Borea": "scripted:hawk",
    }


def test_missing_api_key_is_one_line_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DILEMMA_BASE_URL", raising=False)
    result = dilemma("run", "two-rivals", "--model", "openai:gpt-4o-mini", "--out", str(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "OPENAI_API_KEY" in line
    assert not list(tmp_path.iterdir())


def test_bad_price_file_is_bad_input_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("bad: [\n")
    monkeypatch.setenv("DILEMMA_PRICES", str(prices))
    out = tmp_path / "runs"
    result = dilemma("run", "two-rivals", "--model", "scripted:dove", "--out", str(out))
    assert result.returncode == 2 and "DILEMMA_PRICES" in result.stderr
    assert not out.exists()


def test_models_resolved_before_a_failing_spec_are_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dilemma.models.registry import ModelSpecError, resolve_model
    from dilemma.simulation.runner import resolve_models

    closed: list[str] = []

    def resolve(spec: str, **kw: object) -> object:
        if spec == "broken:x":
            raise ModelSpecError("broken")
        model = resolve_model(spec, **kw)  # type: ignore[arg-type]
        model.close = lambda: closed.append(spec)
        return model

    monkeypatch.setattr("dilemma.simulation.runner.resolve_model", resolve)
    with pytest.raises(ModelSpecError):
        resolve_models({"A": "scripted:dove", "B": "broken:x"}, 0, None)
    assert closed == ["scripted:dove"]
