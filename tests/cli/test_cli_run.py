"""`dilemma run` as a researcher uses it: in this process through typer's CliRunner, and once
through the real console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.helpers.engine import EVENT_KINDS

CONSOLE_SCRIPT = Path(sys.executable).with_name("dilemma")
"""The `dilemma` command the install put beside this interpreter."""


def test_run_hawks_writes_one_complete_record(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = invoke(
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
    assert result.code == 0 and result.exception is None, result.stderr
    (record,) = out.glob("*.jsonl")
    kinds = {json.loads(line)["kind"] for line in record.read_text().splitlines()}
    assert kinds == {"header", "text", *EVENT_KINDS}  # text: long prompt texts, stored once
    assert "Round 5" in result.stdout and str(record) in result.stdout.replace("\n", "")


def test_run_mixes_models_per_state(tmp_path: Path) -> None:
    result = invoke(
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
    assert result.code == 0 and result.exception is None, result.stderr
    (record,) = tmp_path.glob("*.jsonl")
    header = json.loads(record.read_text().splitlines()[0])
    assert {k: v["spec"] for k, v in header["models"].items()} == {
        "Aria": "scripted:dove",
        "Borea": "scripted:hawk",
    }


def test_missing_api_key_is_one_line_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one test that starts the real console script: exit code and stderr end to end."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DILEMMA_BASE_URL", raising=False)
    result = subprocess.run(
        [CONSOLE_SCRIPT, "run", "two-rivals", "--model", "openai:gpt-4o-mini", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
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
    result = invoke("run", "two-rivals", "--model", "scripted:dove", "--out", str(out))
    assert result.code == 2 and result.exception is None, result.stderr
    assert "DILEMMA_PRICES" in result.unwrapped_stderr and "prices.yaml" in result.unwrapped_stderr
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
