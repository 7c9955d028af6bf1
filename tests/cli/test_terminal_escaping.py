"""No control character from a model, a scenario or a record reaches the terminal: every path
by which `dilemma play` and `dilemma show` print such text escapes it (a property test)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from dilemma.scenarios.library import LIBRARY_DIR
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import dilemma.simulation.runner as runner
from dilemma.cli.main import app
from dilemma.models.registry import ResolvedModel, resolve_model
from tests.helpers.engine import fake, policy_model

FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls but tab and newline, DEL, C1 controls: what must never reach the terminal."""
ATTACKS = [
    "\x1b]52;c;cHduZWQ=\x07",  # OSC 52: write the clipboard
    "\x1b]0;pwned\x07",  # OSC 0: retitle the window
    "\x1b[2J\x1b[H",  # CSI 2J: clear the screen
    "\x00",
    "\x07",
    "\x9b31m",  # C1 CSI
    "\r",
    "[/bold][red]",  # rich markup
]
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(ATTACKS),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    ),
    max_size=6,
).map("".join)


def scenario_file(folder: Path, text: str) -> Path:
    """two-rivals with the hostile text in its name, Borea's name and both doctrines."""
    data = yaml.safe_load((LIBRARY_DIR / "two-rivals.yaml").read_text(encoding="utf-8"))
    data["name"] = f"S{text}"[:60]
    data["rules"]["rounds"] = 2
    data["states"][1]["name"] = f"B{text}"[:60]
    for state in data["states"]:
        state["doctrine"] = text[:600]
    path = folder / "hostile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
    return path


def speaking(text: str) -> Any:
    """resolve_model, but the hawk (Borea) puts `text` in its messages, statements and reasons."""

    def edit(reply: dict[str, Any]) -> None:
        if "messages" in reply:
            reply["messages"] = [{"to": ["all"], "text": f"m{text}"}]
        else:
            reply["public_statement"] = f"p{text}"[:280]
            reply["private_rationale"] = f"r{text}"
            for item in reply.get("threat", []):
                item["reason"] = f"t{text}"[:150]

    def resolve(spec: str, **kwargs: Any) -> ResolvedModel:
        if spec != "scripted:hawk":
            return resolve_model(spec, **kwargs)  # the human seat
        return fake(policy_model("hawk", edit=edit), spec)

    return resolve


def typed(text: str) -> str:
    """Two rounds of answers in which the person also types the hostile text (refused when it
    holds a control character; the lines after it keep the answers in step either way)."""
    negotiation = [text, "", "", ""]  # a message (or none), its recipients, no second one
    decision = ["6", "arming", "coercive", "deterrent", "5", "3", "military_exercise", ""]
    decision += ["posturing", "n"]  # the public signal toward Borea, no proposal
    decision += [text, "x", "", "watching"]  # statement ("x" if refused), no announcement
    return "\n".join((negotiation + decision) * 2) + "\n"


def check_terminal_safe(output: str) -> None:
    bad = FORBIDDEN.search(output)
    assert bad is None, (repr(bad.group()), output[max(0, bad.start() - 80) : bad.end() + 80])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE)
@example(text="".join(ATTACKS))
def test_play_and_show_never_print_a_control_character(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        folder = Path(tmp)
        patch.setattr(runner, "resolve_model", speaking(text))
        played = CliRunner().invoke(
            app,
            ["play", str(scenario_file(folder, text)), "--as", "Aria", "--model",
             "scripted:hawk", "--out", str(folder / "out")],
            input=typed(text),
        )  # fmt: skip
        assert played.exit_code == 0, played.output
        assert "Borea" in played.stdout and "Briefing" in played.stdout
        (record,) = (folder / "out").glob("*.jsonl")
        shown = CliRunner().invoke(app, ["show", str(record)])
        assert shown.exit_code == 0, shown.output
        for output in (played.stdout, played.stderr, shown.stdout, shown.stderr):
            check_terminal_safe(output)
        if "\x1b" in text:
            assert "\\x1b" in played.stdout and "\\x1b" in shown.stdout  # shown, escaped
