"""`dilemma show`'s transcript: messages, decisions, fallbacks, war, incomplete records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dilemma.transcript import transcript, transcript_lines
from records.reader import read_record
from simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model

INJECTED = "<script>alert(1)</script> we come in peace & <b>mean it</b>"
STATEMENT = "Our <i>intentions</i> are <script>alert(2)</script> peaceful."
RATIONALE = "Strike first while they are weak."


def hostile_editor() -> Any:
    """A's edits: markup in messages and statements, an invalid first decision, then war."""
    decisions = 0

    def edit(reply: dict[str, Any]) -> None:
        nonlocal decisions
        if "messages" in reply:
            reply["messages"] = [{"to": ["all"], "text": INJECTED}]
            return
        decisions += 1
        if decisions == 1:
            reply["arms_change"] = 999  # out of range: with no retries, a flagged fallback
        else:
            reply["action"], reply["target"] = "full_scale_war", "B"
            reply["public_statement"] = STATEMENT
            reply["private_rationale"] = RATIONALE

    return edit


async def play_hostile(out_dir: Path, seed: int = 1) -> Path:
    """A two-state run: A's first decision is flagged, A starts a war in round 2; B hawkish."""
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=4, subturns=1)
    a = policy_model("hawk", edit=hostile_editor())
    b = policy_model("hawk")
    return await play_scenario(
        sc,
        {"A": fake(a, "fake-a"), "B": fake(b, "fake-b")},
        RunConfig(seed=seed, out_dir=out_dir, max_retries=0, argv=["test"]),
    )


async def test_transcript_shows_messages_fallback_and_war(tmp_path: Path) -> None:
    path = await play_hostile(tmp_path)
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
    # war and outcome
    assert "WAR: A chose full_scale_war against B" in text
    assert "Outcome: war in round 2, started by A; 2 round(s) played" in text
    assert "flagged fallbacks 1" in text
    styles = {line.style for line in transcript_lines(read_record(path))}
    assert {"flag", "war", "private", "msg", "statement"} <= styles


async def test_transcript_of_an_incomplete_record(tmp_path: Path) -> None:
    path = await play_hostile(tmp_path / "full")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
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


async def test_round_cut_before_its_end(tmp_path: Path) -> None:
    path = await play_hostile(tmp_path / "full")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first_decision = next(n for n, line in enumerate(lines) if '"kind":"decision"' in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: first_decision + 1]), encoding="utf-8")
    text = transcript(cut)
    assert "Decisions" in text
    assert "ends before this round was closed" in text
