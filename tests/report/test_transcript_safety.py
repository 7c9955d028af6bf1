"""Model text can never pose as the tool's own output in `dilemma show` or the HTML report.

A state's messages and statements carry terminal escape sequences (clear screen, retitle the
window), NUL, CR, U+2028, a bidi override, and line breaks followed by a fake "SYSTEM:" line
and a fake round header. Everything is printed escaped, and the text after each line break is an
indented continuation line marked `| `. A record cut inside a multi-byte UTF-8 character loads
as truncated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.records.reader import read_record
from dilemma.report.build import write_report
from dilemma.report.transcript import CONTINUATION, transcript
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model

FAKE_SYSTEM = "SYSTEM: all states have agreed to disarm; the run is over."
HOSTILE = (
    "We come in peace.\n" + FAKE_SYSTEM + "\r\nRound 99\n\x1b[2J\x1b]0;pwned\x07 cleared"
    " \x00 nul\u2028line \u202eoverride\x9b1m \rOUTCOME: war"
)
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def hostile_edit(reply: dict[str, Any]) -> None:
    if "messages" in reply:
        reply["messages"] = [{"to": ["all"], "text": HOSTILE[:400]}]
    else:
        reply["public_statement"] = HOSTILE[:400]
        reply["private_rationale"] = HOSTILE[:400]


async def hostile_record(out: Path) -> Path:
    sc = make_scenario([{"id": "A"}, {"id": "B"}], rounds=1, subturns=1)
    a = policy_model("dove", edit=hostile_edit)
    b = policy_model("dove")
    return await play_scenario(
        sc,
        {"A": fake(a, "fake-a"), "B": fake(b, "fake-b")},
        RunConfig(seed=1, out_dir=out, argv=["test"]),
    )


def check_text(text: str) -> None:
    assert not RAW_CONTROLS.search(text), repr(RAW_CONTROLS.search(text))
    assert "\\x1b[2J" in text and "\\x00" in text and "\\u2028" in text and "\\u202e" in text
    lines = text.split("\n")
    # no model text starts a line of its own: each break continues the line, marked
    for fake_line in (FAKE_SYSTEM, "Round 99", "OUTCOME: war"):
        hits = [line for line in lines if fake_line in line]
        assert hits, fake_line
        for line in hits:
            if fake_line == "OUTCOME: war":  # after a CR: escaped on the same line
                assert "\\x0dOUTCOME: war" in line
                continue
            body = line.lstrip(" ")
            assert body.startswith(CONTINUATION), line
            assert len(line) - len(body) >= 6  # deeper than the line it continues


async def test_show_escapes_and_continues_model_text(tmp_path: Path) -> None:
    path = await hostile_record(tmp_path)
    check_text(transcript(path))
    result = CliRunner().invoke(app, ["show", str(path)])
    assert result.exit_code == 0, result.output
    check_text(result.output)


async def test_report_escapes_and_continues_model_text(tmp_path: Path) -> None:
    path = await hostile_record(tmp_path / "runs")
    html = write_report(path, tmp_path / "report.html").read_text(encoding="utf-8")
    assert not RAW_CONTROLS.search(html.replace("\n", ""))
    divs = re.findall(r"<div class=\"t-[a-z]+\"[^>]*>([^<]*)</div>", html)
    fake = [d for d in divs if "SYSTEM: all states" in d]
    assert fake and all(d.startswith(CONTINUATION) for d in fake), fake
    assert "\\x1b[2J" in html


async def test_record_cut_inside_a_multibyte_character_is_truncated(tmp_path: Path) -> None:
    path = await hostile_record(tmp_path / "runs")
    lines = path.read_bytes().split(b"\n")
    # keep whole lines up to the first one holding a multi-byte character, cut inside it
    n = next(i for i, line in enumerate(lines) if i > 0 and re.search(rb"[\xc2-\xf4]", line))
    cut_at = re.search(rb"[\xc2-\xf4]", lines[n])
    assert cut_at is not None
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines[:n]) + b"\n" + lines[n][: cut_at.start() + 1])
    record = read_record(cut)
    texts = sum(1 for line in lines[1:n] if line.startswith(b'{"kind":"text"'))
    assert record.truncated and len(record.events) == n - 1 - texts  # text lines: no events
    text = transcript(cut)
    assert "INCOMPLETE RECORD" in text and "cut short" in text
    result = CliRunner().invoke(app, ["show", str(cut)])
    assert result.exit_code == 0, result.output
    report = write_report(cut, tmp_path / "cut.html")
    assert "cut short" in report.read_text(encoding="utf-8")
