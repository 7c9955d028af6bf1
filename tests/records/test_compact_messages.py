"""Version 4 stores `llm_call` messages as parts; every reader returns them exactly as sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dilemma.scenarios.library import builtin_names, load_builtin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dilemma.records.compact import TEXT_MIN
from dilemma.records.reader import iter_events, read_record, scan
from dilemma.records.schema import (
    EVENT_ADAPTER,
    ChatMessage,
    Header,
    LlmCallEvent,
    ObservationEvent,
    RecordError,
)
from dilemma.records.writer import RecordWriter
from dilemma.simulation.runner import RunConfig, run_scenario


async def _run(scenario: str, out: Path) -> tuple[Path, list[BaseModel]]:
    sent: list[BaseModel] = []
    sc = load_builtin(scenario)
    sc = sc.model_copy(update={"rules": sc.rules.model_copy(update={"rounds": 3})})
    specs = {s.id: "scripted:reactive" for s in sc.states}
    path = await run_scenario(
        sc, RunConfig(seed=2, out_dir=out, on_event=sent.append), overrides=specs
    )
    return path, sent


@pytest.mark.parametrize("scenario", builtin_names())
async def test_every_reader_returns_the_messages_as_they_were_sent(
    tmp_path: Path, scenario: str
) -> None:
    path, sent = await _run(scenario, tmp_path)
    calls = [e for e in sent if isinstance(e, LlmCallEvent)]
    assert calls
    record = read_record(path)
    assert record.of_kind(LlmCallEvent) == calls
    assert list(iter_events(path, ("llm_call",))) == calls
    picked = scan(path, lambda line: EVENT_ADAPTER if b'"llm_call"' in line[:20] else None)
    assert picked.events == calls and not picked.truncated
    assert record.events[:-1] == sent  # (the run_end line is written, not emitted)


async def test_long_texts_are_written_once_and_the_observation_not_repeated(
    tmp_path: Path,
) -> None:
    path, sent = await _run("two-rivals", tmp_path)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [line["text"] for line in lines if line["kind"] == "text"]
    assert len(texts) == len(set(texts))
    system_prompts = {
        m.content for e in sent if isinstance(e, LlmCallEvent) for m in e.messages[:1]
    }
    assert system_prompts <= set(texts)  # each state's system prompt, stored once
    for line in lines:
        if line["kind"] == "llm_call":
            stored = json.dumps(line["messages"])
            assert '"observation": true' in stored
            assert all(
                len(p) < TEXT_MIN
                for m in line["messages"]
                for p in m["parts"]
                if isinstance(p, str)
            )


def _header(path: Path) -> Header:
    first = Path(__file__).resolve().parents[1] / "fixtures" / "records_v3" / "sweep"
    raw = json.loads(next(first.glob("*.jsonl")).read_text(encoding="utf-8").splitlines()[0])
    raw["schema_version"] = 4
    return Header.model_validate(raw)


_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], include_characters='\u2028\u0085"\\{}<>'),
    max_size=400,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=_TEXT, after=_TEXT, system=_TEXT, raw=_TEXT)
def test_any_message_text_comes_back_unchanged(
    tmp_path_factory: pytest.TempPathFactory, before: str, after: str, system: str, raw: str
) -> None:
    folder = tmp_path_factory.mktemp("compact")
    source = Path(__file__).resolve().parents[1] / "fixtures" / "records_v3" / "scripted"
    observation = next(
        e
        for e in read_record(next(source.glob("two-rivals*.jsonl"))).events
        if isinstance(e, ObservationEvent)
    )
    obs_text = observation.observation.json_text()
    call = LlmCallEvent(
        round=observation.round,
        state=observation.state,
        phase=observation.phase,
        subturn=observation.subturn,
        attempt=1,
        model="scripted:reactive",
        messages=[
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=before + obs_text + after),
            ChatMessage(role="user", content=before + after),
        ],
        raw=raw,
        parsed={"a": raw} if raw else None,
        error=None,
        input_tokens=None,
        output_tokens=None,
        latency_s=0.1,
        started_at="2026-12-07T00:00:00Z",
    )
    path = folder / "r.jsonl"
    writer = RecordWriter(path)
    writer.open(_header(path))
    writer.write(observation)
    writer.write(call)
    writer.write(call)  # a second attempt: its texts are already stored
    writer.close()
    back = read_record(path).of_kind(LlmCallEvent)
    assert back == [call, call]


def test_a_reference_to_a_text_never_written_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordWriter(path)
    writer.open(_header(path))
    writer.close()
    line: dict[str, Any] = {
        "kind": "llm_call",
        "round": 1,
        "state": "Kor",
        "phase": "decision",
        "subturn": 0,
        "attempt": 1,
        "model": "m",
        "raw": "",
        "parsed": None,
        "error": None,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "latency_s": 0.1,
        "started_at": "2026-12-07T00:00:00Z",
        "messages": [{"role": "system", "parts": [{"text": "0123456789abcdef"}]}],
    }
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
        fh.write(json.dumps({**line, "attempt": 2}) + "\n")
    with pytest.raises(RecordError, match=r"line 2: .*0123456789abcdef"):
        read_record(path)
