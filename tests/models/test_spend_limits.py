"""Spend limits (--max-cost, --max-calls): clean stops, records closed `stopped`, exact resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dilemma.evaluation.tables import record_paths, score
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.config import SweepStats
from dilemma.experiments.spec import RunSpec, expand, load_experiment
from dilemma.models.budget import (
    DEFAULT_OUTPUT_CEILING,
    SpendBudget,
    SpendLimit,
    SpendLimitReached,
    prompt_token_bound,
)
from dilemma.models.fake import FakeChatModel
from dilemma.models.response_cache import ResponseCache
from dilemma.models.types import ResolvedModel, StructuredMode
from dilemma.records.reader import find_records, read_record, record_status
from dilemma.records.schema import LlmCallEvent
from tests.helpers.clock import InFlight
from tests.helpers.fake_openai_server import FakeOpenAIServer
from tests.helpers.priced import OUTPUT_TOKENS, priced_model
from tests.helpers.replies import responder
from tests.helpers.sweeps import sweep_locally

EXPERIMENT = """
name: spend
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
repeats: 3
"""
CALLS_PER_RUN = 2 * 3 * 2
"""States x rounds x (sub-turns + 1) in two-rivals with 3 rounds (one sub-turn); no re-asks."""
TOKENS = (1000, 100)
PRICE = {"input": 2.0, "output": 10.0}
CALL_USD = (TOKENS[0] * PRICE["input"] + TOKENS[1] * PRICE["output"]) / 1_000_000
"""0.003 USD: what every call of the priced fake model costs."""


@pytest.fixture
def prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(json.dumps({"test:priced": PRICE, "openai:priced": PRICE}))
    monkeypatch.setenv("DILEMMA_PRICES", str(path))
    return path


def experiment(tmp_path: Path, text: str = EXPERIMENT) -> tuple[Path, list[RunSpec]]:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path, expand(load_experiment(path), path)


def priced(run: RunSpec) -> dict[str, ResolvedModel]:
    """A fake model that answers valid replies and reports TOKENS per call, priced PRICE, with
    a reply cap of TOKENS[1] output tokens."""
    model = ResolvedModel(
        spec="test:priced",
        provider="test",
        model="priced",
        chat=FakeChatModel(responder=responder(), usage=lambda messages, text: TOKENS),
        structured=StructuredMode.JSON_TEXT,
        params={"max_tokens": TOKENS[1]},
    )
    return dict.fromkeys(run.models, model)


def stripped(path: Path) -> list[dict[str, object]]:
    """A record's lines without times and the command line."""
    lines = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for key in ("started_at", "ended_at", "latency_s", "argv"):
            event.pop(key, None)
        lines.append(event)
    return lines


def calls_in(paths: list[Path]) -> list[LlmCallEvent]:
    return [c for p in paths for c in read_record(p).of_kind(LlmCallEvent)]


def all_records(out: Path) -> list[Path]:
    """Every record in the folder, the set-aside attempts in failed/ included."""
    return sorted(out.rglob("*.jsonl"))


def check_finished_like(out: Path, reference: Path, runs: list[RunSpec]) -> None:
    """One finished record per run in `out`, equal to the unlimited sweep's but for times."""
    records = find_records(out)
    assert [p.name for p in records] == sorted(f"{r.run_id}.jsonl" for r in runs)
    assert all(record_status(p) in ("completed", "war") for p in records)
    for p in records:
        assert stripped(p) == stripped(reference / p.name)
    aside = sorted((out / "failed").glob("*.jsonl"))
    assert aside and all(record_status(p) == "stopped" for p in aside)


# --- the budget -------------------------------------------------------------------------------


def test_max_calls_allows_exactly_n_calls() -> None:
    budget = SpendBudget(SpendLimit(max_calls=3))
    for _ in range(2):
        budget.settle("scripted", "dove", budget.reserve("scripted", "dove", 100), 0.0)
    assert not budget.spent
    budget.reserve("scripted", "dove", 100)  # the third call, still in flight
    assert budget.spent and budget.stop_reason is not None
    with pytest.raises(SpendLimitReached, match="--max-calls 3"):
        budget.reserve("scripted", "dove", 100)
    assert budget.calls == 3


def test_max_cost_reserves_each_calls_worst_case(prices: Path) -> None:
    budget = SpendBudget(SpendLimit(max_cost_usd=3.5 * CALL_USD))
    # a call of TOKENS[0] input tokens at most, capped at TOKENS[1] output tokens, could cost
    # CALL_USD: three such calls in flight leave no room for a fourth, whatever they cost
    for _ in range(3):
        assert budget.reserve("test", "priced", *TOKENS) == pytest.approx(CALL_USD)
    assert not budget.spent
    with pytest.raises(SpendLimitReached, match=r"--max-cost .* up to"):
        budget.reserve("test", "priced", *TOKENS)
    assert budget.spent  # and stays spent: no later call starts, however cheap
    for _ in range(3):  # the calls in flight come back far cheaper than their worst case
        budget.settle("test", "priced", CALL_USD, CALL_USD / 10)
    with pytest.raises(SpendLimitReached):
        budget.reserve("scripted", "dove", 10)
    assert budget.cost_usd == pytest.approx(0.3 * CALL_USD)


def test_a_call_without_a_reply_cap_reserves_the_default_ceiling(prices: Path) -> None:
    budget = SpendBudget(SpendLimit(max_cost_usd=5.0))
    worst = budget.reserve("test", "priced", 1000)
    assert worst == pytest.approx(
        (1000 * PRICE["input"] + DEFAULT_OUTPUT_CEILING * PRICE["output"]) / 1_000_000
    )


def test_a_reply_dearer_than_its_worst_case_stops_the_budget(prices: Path) -> None:
    budget = SpendBudget(SpendLimit(max_cost_usd=1.0))
    worst = budget.reserve("test", "priced", *TOKENS)
    budget.settle("test", "priced", worst, worst)  # exactly the worst case: fine
    assert not budget.spent
    worst = budget.reserve("test", "priced", *TOKENS)
    budget.settle("test", "priced", worst, 2 * worst)  # a server ignoring max_tokens
    assert budget.stop_reason is not None and "max_tokens" in budget.stop_reason


@given(texts=st.lists(st.text(), max_size=4))
def test_the_prompt_bound_is_never_below_a_byte_level_token_count(texts: list[str]) -> None:
    # a byte-level tokenizer makes at most one token a UTF-8 byte
    assert prompt_token_bound(texts) >= sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)


def test_unknown_cost_stops_a_cost_limit_but_not_a_call_limit(prices: Path) -> None:
    by_cost = SpendBudget(SpendLimit(max_cost_usd=1.0))
    with pytest.raises(SpendLimitReached, match="no price"):
        by_cost.reserve("test", "unpriced", 10)
    by_cost = SpendBudget(SpendLimit(max_cost_usd=1.0))
    by_cost.settle("test", "priced", by_cost.reserve("test", "priced", 10, 100), None)
    assert by_cost.stop_reason is not None and "token counts" in by_cost.stop_reason
    by_calls = SpendBudget(SpendLimit(max_calls=5))
    by_calls.settle("test", "unpriced", by_calls.reserve("test", "unpriced", 10), None)
    assert not by_calls.spent


@pytest.mark.parametrize(
    "limit",
    [
        {"max_cost_usd": 0.0},
        {"max_cost_usd": -1.0},
        {"max_cost_usd": float("nan")},
        {"max_calls": 0},
    ],
)
def test_bad_limits_are_refused(limit: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="max_c"):
        SpendLimit(**limit)  # type: ignore[arg-type]


# --- sweeps that stop and resume ----------------------------------------------------------------


async def limited_until_done(
    runs: list[RunSpec],
    out: Path,
    limit: SpendLimit,
    per_pass: int | None,
    concurrency: int = 2,
    cache: ResponseCache | None = None,
) -> list[tuple[SweepStats, int]]:
    """Sweep with `limit`, then `--resume` with it again until the sweep finishes.

    Without a cache, a run the limit stops is played again from its start by the next pass, so
    a pass must be able to finish the runs it has in flight (`concurrency` runs of
    CALLS_PER_RUN calls) for the sweep to get anywhere. A pass stopped by the limit makes
    exactly `per_pass` calls (None: any number, for a cost limit) and never spends more than the
    limit. Returns each pass's stats and calls made.
    """
    passes: list[tuple[SweepStats, int]] = []
    while True:
        resume = out.exists()
        before = len(calls_in(all_records(out))) if resume else 0
        hits = cache.hits if cache is not None else 0
        budget = SpendBudget(limit)
        stats = await sweep_locally(
            runs,
            out,
            concurrency=concurrency,
            resolver=priced,
            budget=budget,
            resume=resume,
            shared_cache=cache,
        )
        passes.append((stats, budget.calls))
        if limit.max_cost_usd is not None:
            assert budget.cost_usd <= limit.max_cost_usd
        made = calls_in(all_records(out))
        new_hits = cache.hits - hits if cache is not None else 0
        # every call made is recorded once; calls answered from the cache are not counted
        assert len(made) - before == budget.calls + new_hits
        if stats.stop_reason is None:
            assert stats.remaining == 0 and budget.calls <= (per_pass or budget.calls)
            return passes
        assert budget.calls == (per_pass or budget.calls), stats  # not one call more, nor fewer
        assert stats.remaining > 0
        assert len(passes) < 20, "the sweep never finishes"


async def test_max_calls_stops_and_resume_finishes_exactly(tmp_path: Path, prices: Path) -> None:
    _, runs = experiment(tmp_path)
    reference = tmp_path / "reference"
    full = await sweep_locally(runs, reference, concurrency=4, resolver=priced)
    assert (full.done, full.failed, full.stop_reason) == (6, 0, None)
    assert len(calls_in(find_records(reference))) == 6 * CALLS_PER_RUN

    out = tmp_path / "limited"
    budget = SpendBudget(SpendLimit(max_calls=30))
    first = await sweep_locally(runs, out, concurrency=2, resolver=priced, budget=budget)
    assert first.stop_reason is not None and "--max-calls 30" in first.stop_reason
    assert budget.calls == 30 == len(calls_in(find_records(out)))
    statuses = [record_status(p) for p in find_records(out)]
    # two runs of 12 calls finished, the next two were stopped 6 calls in, two never started
    assert sorted(statuses) == ["completed", "completed", "stopped", "stopped"]
    assert (first.done, first.stopped, first.not_started, first.remaining) == (2, 2, 2, 4)
    # the evaluator and the report read stopped records as unfinished runs
    scored = score(record_paths(out)).runs
    assert set(scored["outcome"]) <= {"completed", "war", "stopped"}
    assert (scored["outcome"] == "stopped").sum() == first.stopped
    report = CliRunner().invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output

    passes = await limited_until_done(runs, out, SpendLimit(max_calls=30), 30)
    assert passes[-1][0].done == 6
    check_finished_like(out, reference, runs)


async def test_max_cost_stops_and_resume_finishes_exactly(tmp_path: Path, prices: Path) -> None:
    _, runs = experiment(tmp_path)
    reference = tmp_path / "reference"
    await sweep_locally(runs, reference, concurrency=4, resolver=priced)
    out = tmp_path / "limited"
    # a call reserves its worst case (its prompt's bytes as input tokens, TOKENS[1] output
    # tokens), about four times what it costs; one run at a time finishes about two runs a pass
    limit = SpendLimit(max_cost_usd=30.5 * CALL_USD)
    passes = await limited_until_done(runs, out, limit, None, concurrency=1)
    assert len(passes) > 1  # (each pass spent at most the limit: checked in the loop)
    check_finished_like(out, reference, runs)


async def test_with_a_cache_resume_pays_no_call_twice(tmp_path: Path, prices: Path) -> None:
    # 4 runs in flight share each pass's 30 calls, so none would ever finish without the cache:
    # with it, a stopped run's calls are answered from the cache when the run is played again
    _, runs = experiment(tmp_path)
    reference = tmp_path / "reference"
    await sweep_locally(runs, reference, concurrency=4, resolver=priced)
    out = tmp_path / "limited"
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        passes = await limited_until_done(runs, out, SpendLimit(max_calls=30), 30, 4, cache)
    finally:
        cache.close()
    assert [calls for _, calls in passes] == [30, 30, 12]  # 72 calls, each paid for once
    for p in find_records(out):
        lines = stripped(p)
        lines[0].pop("response_cache")
        expected = stripped(reference / p.name)
        expected[0].pop("response_cache")
        assert lines == expected


HIGH = EXPERIMENT.replace("repeats: 3", "repeats: 16")
"""32 runs: every run in flight at once at concurrency 32."""


@pytest.mark.parametrize("cap", [0.002, 0.005])
async def test_max_cost_holds_at_concurrency_32_with_realistic_replies(
    tmp_path: Path, cap: float
) -> None:
    # replies of 700 output tokens, calls held until 32 are in flight: each call must reserve
    # its worst case before it goes out, or the calls in flight together overshoot the cap
    _, runs = experiment(tmp_path, HIGH)
    gate = InFlight(wanted=32)
    budget = SpendBudget(SpendLimit(max_cost_usd=cap))
    out = tmp_path / "out"
    stats = await sweep_locally(
        runs,
        out,
        concurrency=32,
        resolver=lambda run: dict.fromkeys(run.models, priced_model(gate)),
        budget=budget,
    )
    assert stats.stop_reason is not None and "--max-cost" in stats.stop_reason
    calls = calls_in(all_records(out))
    assert calls and all(c.output_tokens == OUTPUT_TOKENS for c in calls)
    spent = sum(c.cost_usd or 0.0 for c in calls)
    assert spent <= cap
    assert budget.cost_usd == pytest.approx(spent)


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_run_stops_at_max_calls_with_exit_3(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = cli(
        "run", "two-rivals", "--model", "scripted:dove", "--rounds", "3", "--max-calls", "5",
        "--out", str(out),
    )  # fmt: skip
    assert code == 3, output
    assert "stopped" in output and "--max-calls 5" in output
    (record,) = find_records(out)
    end = read_record(record).run_end
    assert end is not None and end.outcome == "stopped" and end.error is not None
    assert len(calls_in([record])) == 5 == end.totals.llm_calls


def test_sweep_stops_at_max_calls_and_resume_finishes(tmp_path: Path) -> None:
    path, runs = experiment(tmp_path)
    reference = tmp_path / "reference"
    code, output = cli("sweep", str(path), "--out", str(reference))
    assert code == 0, output
    out = tmp_path / "out"
    limited = ["sweep", str(path), "--out", str(out), "--max-calls", "40", "--concurrency", "2"]
    code, output = cli(*limited)
    assert code == 3, output
    flat = " ".join(output.split())
    assert "--max-calls 40" in flat and "--resume" in flat
    assert len(calls_in(find_records(out))) == 40
    # two runs at a time: 2 finished (24 calls), the next 2 were stopped 8 calls in, 2 wait
    assert sorted(map(record_status, find_records(out))) == [
        "completed", "completed", "stopped", "stopped"
    ]  # fmt: skip
    code, output = cli(*limited, "--resume")  # plays the 2 stopped runs again, stops 2 more
    assert code == 3, output
    assert "2 already complete" in output
    code, output = cli(*limited, "--resume")  # the last 2 runs: 24 calls
    assert code == 0, output
    assert "4 already complete" in output
    check_finished_like(out, reference, runs)


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_max_cost_without_a_price_is_refused_up_front(
    tmp_path: Path, prices: Path, command: str
) -> None:
    path, _ = experiment(tmp_path)
    target = "two-rivals" if command == "run" else str(path)
    out = tmp_path / "out"
    code, output = cli(
        command, target, "--model", "openai:no-price-known", "--base-url",
        "http://127.0.0.1:9/v1", "--max-cost", "5", "--out", str(out),
    )  # fmt: skip
    flat = " ".join(output.split())
    assert code == 2, output
    assert "no price for openai:no-price-known" in flat and "DILEMMA_PRICES" in flat
    assert not out.exists()


@pytest.mark.parametrize(
    "option", [["--max-cost", "0"], ["--max-cost", "-2"], ["--max-cost", "nan"],
               ["--max-cost", "inf"], ["--max-calls", "0"], ["--max-calls", "x"]],
)  # fmt: skip
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_bad_limits_exit_2(tmp_path: Path, command: str, option: list[str]) -> None:
    path, _ = experiment(tmp_path)
    target = "two-rivals" if command == "run" else str(path)
    out = tmp_path / "out"
    code, output = cli(command, target, "--model", "scripted:dove", "--out", str(out), *option)
    assert code == 2, output
    assert option[0] in output
    assert not out.exists()


def test_run_stops_at_max_cost_on_an_openai_compatible_server(
    tmp_path: Path, prices: Path, openai_server: FakeOpenAIServer
) -> None:
    # the fake server reports 120 input and 40 output tokens per call: 0.00064 USD at PRICE;
    # a call reserves its worst case, 700 output tokens (the default reply cap) and its
    # prompt's bytes as input tokens, about 0.014 USD
    call_usd = (120 * PRICE["input"] + 40 * PRICE["output"]) / 1_000_000
    out = tmp_path / "out"
    code, output = cli(
        "run", "two-rivals", "--model", "openai:priced", "--base-url", openai_server.base_url,
        "--rounds", "10", "--max-cost", "0.05", "--out", str(out),
    )  # fmt: skip
    assert code == 3, output
    flat = " ".join(output.split())
    assert "--max-cost 0.05" in flat
    worst = float(flat.split("could cost up to $")[1].split()[0].rstrip(".,;)"))
    (record,) = find_records(out)
    end = read_record(record).run_end
    assert end is not None and end.outcome == "stopped"
    calls = calls_in([record])
    assert all(c.cost_usd == pytest.approx(call_usd) for c in calls)
    assert end.totals.cost_usd is not None and end.totals.cost_usd <= 0.05
    # stopped once the room left was less than the next call's worst case with one call of the
    # other state in flight
    assert 0.05 - end.totals.cost_usd < 2 * worst
    assert len(openai_server.requests) == len(calls)  # no call went out unrecorded
