"""A prompt setup must render the observation between `<observation>` tags, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dilemma.agents.prompt_setup import PROMPTS_DIR, PromptSetupError, load_prompt_setup
from typer.testing import CliRunner

from dilemma.cli.main import app


def _setup_file(tmp_path: Path, **templates: str) -> Path:
    data = yaml.safe_load((PROMPTS_DIR / "baseline.yaml").read_text(encoding="utf-8"))
    data.update(name="edited", **templates)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("decision", "Round $round. State of the world: $observation. Decide. $format_note"),
        ("negotiation", "<observation></observation> $observation $format_note"),
        ("decision", "<observation>$observation $format_note"),
        ("negotiation", "</observation>$observation<observation> $format_note"),
    ],
)
def test_setup_without_observation_tags_is_refused(
    tmp_path: Path, field: str, template: str
) -> None:
    path = _setup_file(tmp_path, **{field: template})
    with pytest.raises(PromptSetupError) as info:
        load_prompt_setup(str(path))
    message = str(info.value)
    assert str(path) in message and repr(field) in message
    assert "<observation>$observation</observation>" in message


def test_setup_with_tags_around_the_observation_loads(tmp_path: Path) -> None:
    path = _setup_file(
        tmp_path,
        decision="Decide.\n<observation>\n  $observation\n</observation>\n$format_note",
    )
    assert load_prompt_setup(str(path)).name == "edited"


def test_run_with_untagged_setup_exits_2_before_any_record(tmp_path: Path) -> None:
    path = _setup_file(tmp_path, decision="Decide given $observation. $format_note")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "two-rivals",
            "--model",
            "scripted:tit-for-tat",
            "--rounds",
            "1",
            "--prompt-setup",
            str(path),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert str(path) in message and "'decision'" in message
    assert not out.exists() or not list(out.glob("*.jsonl"))
