"""`dilemma show`'s transcript: messages, decisions, fallbacks, war, incomplete records."""

from __future__ import annotations

from pathlib import Path

from dilemma.records.reader import read_record
from dilemma.report.transcript import transcript, transcript_lines
from tests.helpers.hostile import INJECTED, RATIONALE, STATEMENT


def test_transcript_shows_messages_fallback_and_war(hostile_record: Path) -> None:
    path = hostile_record
    text = transcript(path)
    # header
    assert "scenario test" in text and "seed 1" in text and "prompt setup baseline" in text
    assert "model fake-a" in text and "model fake-b" in text
    # rounds and negotiation messages, verbatim
    assert "Round 1" in text and "Round 2" in text and "Round 3" not in text
    assert f"A -> all: {INJECTED}" in text
    # the flagged fallback is marked, with its error and what was applied instead
    assert "A: FLAGGED FALLBACK - no valid decision after 1 attempt(s)" in text
    assert "arms_change" in text.split("FLAGGED FALLBACK", 1)[1].split("Round 2", 1)[0]
    assert "fallback applied: status_quo, arms +0.0%" in text
    # decisions: requested vs applied, action, threat, statement, private rationale
    assert "requested +" in text and "applied +" in text
    assert "action: full_scale_war -> B" in text
    assert "threat from A:" in text
    assert f"public statement: {STATEMENT}" in text
    assert f"[private] rationale: {RATIONALE}" in text
    assert "[private] believes intends toward it: " in text
    # war and outcome
    assert "WAR: A chose full_scale_war against B" in text
    assert "Outcome: war in round 2, started by A; 2 round(s) played" in text
    assert "flagged fallbacks 1" in text
    styles = {line.style for line in transcript_lines(read_record(path))}
    assert {"flag", "war", "private", "msg", "statement"} <= styles


def test_transcript_of_an_incomplete_record(hostile_record: Path, tmp_path: Path) -> None:
    lines = hostile_record.read_text(encoding="utf-8").splitlines(keepends=True)
    # keep the header and round 1's events, and half of the next line
    end_of_round_1 = next(n for n, line in enumerate(lines) if '"kind":"round_end"' in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text(
        "".join(lines[: end_of_round_1 + 2]) + lines[end_of_round_1 + 2][:40], encoding="utf-8"
    )
    text = transcript(cut)
    assert "Round 1" in text and "End of round 1" in text
    assert "INCOMPLETE RECORD" in text
    assert "last line was cut short" in text
    assert "WAR:" not in text

    header_only = tmp_path / "header.jsonl"
    header_only.write_text(lines[0], encoding="utf-8")
    text = transcript(header_only)
    assert "scenario test" in text and "INCOMPLETE RECORD" in text and "Round" not in text


def test_round_cut_before_its_end(hostile_record: Path, tmp_path: Path) -> None:
    lines = hostile_record.read_text(encoding="utf-8").splitlines(keepends=True)
    first_decision = next(n for n, line in enumerate(lines) if '"kind":"decision"' in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: first_decision + 1]), encoding="utf-8")
    text = transcript(cut)
    assert "Decisions" in text
    assert "ends before this round was closed" in text
