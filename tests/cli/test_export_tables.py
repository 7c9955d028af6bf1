"""`dilemma export`: every table of a scripted run, its values as recorded, and the dictionary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dilemma.cli.export import dictionary, export_tables
from dilemma.records.reader import read_record
from dilemma.records.schema import DecisionEvent, LlmCallEvent, NegotiationEvent, RunEndEvent
from tests.helpers.call_runs import MESSAGE, RATIONALE, STATEMENT, play_calls
from tests.helpers.cli import invoke

SWEEP = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1" / "sweep"
TABLES = ("runs", "rounds", "dyad_rounds", "state_rounds", "pair_rounds", "texts", "calls")


@pytest.fixture
async def calls_run(tmp_path: Path) -> Path:
    """The record of `play_calls`: re-asks, a fallback, priced calls, markup in text."""
    return await play_calls(tmp_path / "run")


def _read(out: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{table}.parquet")


@pytest.mark.parametrize("source", ["sweep", "calls"])
def test_every_exported_column_has_a_dictionary_entry(
    source: str, calls_run: Path, tmp_path: Path
) -> None:
    path = SWEEP if source == "sweep" else calls_run
    out = tmp_path / "tables"
    result = invoke("export", str(path), "-o", str(out))
    assert result.code == 0, result.stderr
    entries = pd.read_csv(out / "data_dictionary.csv")
    assert list(entries.columns) == ["table", "column", "dtype", "description"]
    documented = set(zip(entries["table"], entries["column"], strict=True))
    exported = set()
    for table in TABLES:
        for frame in (pd.read_csv(out / f"{table}.csv"), _read(out, table)):
            exported |= {(table, str(c)) for c in frame.columns}
    assert exported == documented
    assert entries["description"].str.len().min() > 5
    md = (out / "data_dictionary.md").read_text(encoding="utf-8")
    for table, column in documented:
        assert f"| {column} |" in md and f"## {table}" in md
    if source == "sweep":  # experiment factors joined to runs are described as factors
        row = entries[(entries["table"] == "runs") & (entries["column"] == "transparency")]
        assert row["description"].iloc[0].startswith("experiment factor transparency")


def test_an_undocumented_column_is_refused() -> None:
    with pytest.raises(KeyError, match="calls: column 'mystery'"):
        dictionary({"calls": pd.DataFrame({"run_id": ["x"], "mystery": [1]})})


def test_calls_table_matches_the_record(calls_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    export_tables(calls_run, out)
    record = read_record(calls_run)
    recorded = [e for e in record.events if isinstance(e, LlmCallEvent)]
    calls = _read(out, "calls")
    assert len(calls) == len(recorded) == 14
    for row, ev in zip(calls.itertuples(), recorded, strict=True):
        assert (row.round, row.state, row.phase, row.attempt) == (
            ev.round,
            ev.state,
            str(ev.phase),
            ev.attempt,
        )
        assert (row.input_tokens, row.output_tokens) == (ev.input_tokens, ev.output_tokens)
        assert row.latency_s == pytest.approx(ev.latency_s)
        assert row.cost_usd == pytest.approx(ev.cost_usd)
        assert row.reask == (ev.attempt > 1)
        assert row.valid == (ev.error is None)
        assert (row.error if isinstance(row.error, str) else None) == ev.error
    end = next(e for e in record.events if isinstance(e, RunEndEvent))
    assert calls["cost_usd"].sum() == pytest.approx(end.totals.cost_usd)
    assert int(calls["input_tokens"].sum()) == end.totals.input_tokens
    assert int(calls["reask"].sum()) == end.totals.retries == 2
    # round 1: A's decision and its re-ask both failed, so both calls carry the fallback flag
    flagged = calls[calls["fallback"]]
    assert set(zip(flagged["round"], flagged["state"], flagged["attempt"], strict=True)) == {
        (1, "A", 1),
        (1, "A", 2),
    }
    assert flagged["error"].str.contains("arms_change").all()
    decisions = [e for e in record.events if isinstance(e, DecisionEvent) and e.flagged]
    assert [(d.round, d.state) for d in decisions] == [(1, "A")]


def test_texts_table_matches_the_record(calls_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    export_tables(calls_run, out)
    texts = _read(out, "texts")
    csv = pd.read_csv(out / "texts.csv", keep_default_na=False)
    assert list(csv["text"]) == list(texts["text"])  # markup survives the CSV as written
    a = texts[texts["state"] == "A"]
    statements = a[a["kind"] == "public_statement"]
    assert list(statements["round"]) == [2, 3]  # round 1 fell back: A wrote nothing
    assert set(statements["text"]) == {STATEMENT}
    assert set(statements["recipients"]) == {"public"} and not statements["private"].any()
    rationale = a[a["kind"] == "private_rationale"]
    assert set(rationale["text"]) == {RATIONALE} and rationale["private"].all()
    assert rationale["recipients"].isna().all()
    reasons = texts[texts["kind"] == "threat_reason"]
    assert set(zip(reasons["state"], reasons["target"], strict=True)) == {("A", "B"), ("B", "A")}
    record = read_record(calls_run)
    delivered = [
        (e.round, e.subturn, d.sender, ",".join(d.to), d.text)
        for e in record.events
        if isinstance(e, NegotiationEvent)
        for d in e.delivered
    ]
    messages = texts[texts["kind"] == "message"]
    assert (
        list(
            zip(
                messages["round"],
                messages["subturn"],
                messages["state"],
                messages["recipients"],
                messages["text"],
                strict=True,
            )
        )
        == delivered
    )
    assert (1, 1, "A", "all", MESSAGE) in delivered


def test_state_and_pair_rounds_are_exported_as_scored(calls_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables"
    export_tables(calls_run, out)
    states = _read(out, "state_rounds")
    assert len(states) == 2 * 3
    a1 = states[(states["state"] == "A") & (states["round"] == 1)].iloc[0]
    assert bool(a1["fallback"]) and pd.isna(a1["action"])
    pairs = _read(out, "pair_rounds")
    assert len(pairs) == 2 * 3  # two ordered pairs a round
    assert set(pairs["i"]) == {"A", "B"}
    b = pairs[(pairs["i"] == "B") & (pairs["round"] == 2)].iloc[0]
    decision = next(
        e
        for e in read_record(calls_run).events
        if isinstance(e, DecisionEvent) and e.round == 2 and e.state == "B"
    )
    assert decision.decision is not None
    assert b["threat"] == decision.decision.threat[0].level
