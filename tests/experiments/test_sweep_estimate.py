"""`dilemma sweep EXP --dry-run`: runs, model calls, tokens and cost, estimated; nothing run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.core.observation import Phase
from dilemma.experiments.estimate import (
    EXPECTED_REASKS,
    MAX_TOKENS,
    estimate,
    round_one_prompt_chars,
)
from dilemma.experiments.spec import RunSpec, expand, load_experiment
from dilemma.records.reader import find_records, read_record
from dilemma.records.schema import LlmCallEvent
from tests.helpers.sweeps import sweep_locally

EXPERIMENT = """
name: estimated
scenarios: [two-rivals]
rounds: 4
model: scripted:dove
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
repeats: 2
"""
PRICE = {"input": 2.0, "output": 10.0}


def experiment(tmp_path: Path, text: str = EXPERIMENT) -> tuple[Path, list[RunSpec]]:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path, expand(load_experiment(path), path)


def chars(call: LlmCallEvent) -> int:
    return sum(len(m.content) for m in call.messages)


async def test_estimate_matches_a_played_scripted_sweep(tmp_path: Path) -> None:
    _, runs = experiment(tmp_path)
    est = estimate(runs)
    out = tmp_path / "out"
    await sweep_locally(runs, out, concurrency=4)
    calls = [c for p in find_records(out) for c in read_record(p).of_kind(LlmCallEvent)]
    # scripted doves: no re-ask, no war, so the call count is exact: 2 states x 4 rounds x 2
    assert est.calls == len(calls) == 4 * 2 * 4 * 2
    assert est.max_calls == est.calls * 3  # with every re-ask (max_retries 2)
    # scripted policies answer in text, so the round-1 prompts rendered are those sent; the
    # first sub-turn's is exact, later ones carry what was said before, so they are a floor
    for record in find_records(out):
        run = next(r for r in runs if r.run_id == record.stem)
        rendered = round_one_prompt_chars(run)
        sent = read_record(record).of_kind(LlmCallEvent)
        for sid, sizes in rendered.items():
            first = [c for c in sent if c.state == sid and c.round == 1]
            assert [c.phase for c in first] == [Phase.NEGOTIATION, Phase.DECISION]
            assert sizes[0] == chars(first[0])
            assert sizes[1] <= chars(first[1])
    assert 0 < est.input_tokens <= sum(chars(c) for c in calls) / 4
    assert est.output_tokens == est.calls * MAX_TOKENS
    assert est.models["scripted:dove"].cost_usd == 0.0 and est.cost_usd == 0.0


def test_costs_from_the_price_table_and_unknown_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai:priced": PRICE}))
    monkeypatch.setenv("DILEMMA_PRICES", str(prices))
    text = EXPERIMENT.replace(
        "model: scripted:dove", "factors:\n  model: [scripted:dove, openai:priced, openai:nope]"
    ).replace("factors:\n  transparency", "  transparency")
    _, runs = experiment(tmp_path, text)
    assert len(runs) == 12
    est = estimate(runs)
    specs = ("scripted:dove", "openai:priced", "openai:nope")
    scripted, priced, nope = (est.models[s] for s in specs)
    base = 4 * 2 * 4 * 2  # calls of the 4 runs of each model, without re-asks
    assert scripted.calls == base
    assert priced.calls == pytest.approx(base * (1 + EXPECTED_REASKS))
    assert priced.input_tokens == pytest.approx(scripted.input_tokens * (1 + EXPECTED_REASKS))
    assert priced.cost_usd == pytest.approx(
        (priced.input_tokens * PRICE["input"] + priced.output_tokens * PRICE["output"]) / 1e6
    )
    assert nope.cost_usd is None and est.unpriced == ["openai:nope"]
    assert est.cost_usd == pytest.approx(priced.cost_usd)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_dry_run_prints_the_estimate_and_runs_nothing(tmp_path: Path) -> None:
    path, _ = experiment(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    code, output = cli("sweep", str(path), "--out", str(out), "--cache", str(cache), "--dry-run")
    assert code == 0, output
    assert "dry run: nothing is run or written" in output
    assert "estimated: 4 runs" in output
    assert "model calls per run: about 16.0" in output and "at most 48.0" in output
    assert "scripted:dove: 64 calls, 0.00 USD" in output
    assert not out.exists() and not cache.exists()
    code, output = cli("sweep", str(path), "--model", "openai:unpriced", "--dry-run")
    assert code == 0, output
    assert "openai:unpriced" in output and "unknown" in output and "DILEMMA_PRICES" in output


async def test_dry_run_of_a_shard_and_of_a_resume(tmp_path: Path) -> None:
    path, runs = experiment(tmp_path)
    code, output = cli("sweep", str(path), "--shard", "2/2", "--dry-run")
    assert code == 0, output
    assert "(shard 2/2:" in output and "of 4)" in output
    out = tmp_path / "out"
    await sweep_locally(runs[:3], out, concurrency=2)
    code, output = cli("sweep", str(path), "--out", str(out), "--resume", "--dry-run")
    assert code == 0, output
    assert "3 already complete" in output and "1 to play" in output
    assert "model calls per run: about 16.0" in output
    assert sorted(p.stem for p in out.glob("*.jsonl")) == sorted(r.run_id for r in runs[:3])


def test_dry_run_refuses_bad_input_like_a_sweep(tmp_path: Path) -> None:
    path, _ = experiment(tmp_path)
    code, output = cli(
        "sweep", str(path), "--model", "openai:unpriced", "--max-cost", "5", "--dry-run"
    )
    assert code == 2 and "no price for openai:unpriced" in output
    code, output = cli("sweep", str(path), "--shard", "3/2", "--dry-run")
    assert code == 2 and "--shard" in output
