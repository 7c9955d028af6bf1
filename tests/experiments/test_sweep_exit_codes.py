"""`dilemma sweep` exit codes follow the kind of error, never its wording: a replay miss is a
failed sweep (1); records in the way, a missing cache or a bad spec are bad input (2)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.models.response_cache import ResponseCache

EXPERIMENT = """
name: codes
scenarios: [two-rivals]
rounds: 2
model: scripted:reactive
repeats: 2
"""


def sweep(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sweep", *args])
    return result.exit_code, " ".join(result.output.split())


def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "codes.yaml"
    path.write_text(EXPERIMENT)
    return path


def test_a_replay_miss_exits_1(tmp_path: Path) -> None:
    cache = tmp_path / "empty.sqlite"
    ResponseCache(cache).close()  # a valid cache holding no reply
    out = tmp_path / "out"
    code, output = sweep(
        str(experiment(tmp_path)), "--out", str(out), "--cache", str(cache), "--replay"
    )
    assert code == 1, output
    assert "no cached reply" in output


def test_records_in_the_way_exit_2_whatever_the_folder_is_called(tmp_path: Path) -> None:
    path = experiment(tmp_path)
    out = tmp_path / "replay-of-the-pilot"  # the message names the folder: "replay" in it
    assert sweep(str(path), "--out", str(out))[0] == 0
    code, output = sweep(str(path), "--out", str(out))
    assert code == 2, output
    assert "exist already" in output and "--resume" in output


def test_a_missing_cache_to_replay_exits_2_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = sweep(
        str(experiment(tmp_path)),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "absent.sqlite"),
        "--replay",
    )
    assert code == 2, output
    assert "no response cache to replay from" in output
    assert not out.exists()
