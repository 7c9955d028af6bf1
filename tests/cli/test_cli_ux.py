"""The command line as a new user meets it: --quiet and --verbose, model specs checked before
"Running ...", the notice for states left on the default model, `show FOLDER`, and `score` with
its condition columns fitting 80 columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import invoke

EXPERIMENT = """\
name: ux-2x1
scenarios: [two-rivals]
rounds: 2
model: scripted:reactive
factors:
  transparency:
    - [transparent, transparent]
    - [secretive, secretive]
  rules.intel_noise: [0.05]
repeats: 2
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 4 scripted runs with one varying factor (transparency)."""
    root = tmp_path_factory.mktemp("swept")
    experiment = root / "exp.yaml"
    experiment.write_text(EXPERIMENT)
    out = root / "runs"
    result = invoke("--quiet", "sweep", str(experiment), "--out", str(out))
    assert result.code == 0, result.stderr
    return out


def _run(tmp_path: Path, *flags: str) -> list[str]:
    return [
        *flags,
        "run",
        "two-rivals",
        "--model",
        "scripted:hawk",
        "--rounds",
        "2",
        "--out",
        str(tmp_path),
    ]


def test_quiet_prints_only_the_record_path(tmp_path: Path) -> None:
    loud = invoke(*_run(tmp_path / "loud"))
    quiet = invoke(*_run(tmp_path / "quiet", "--quiet"))
    assert loud.code == quiet.code == 0, quiet.stderr
    assert "Round 2" in loud.stdout and "Running" in loud.stdout
    (record,) = (tmp_path / "quiet").glob("*.jsonl")
    assert quiet.stdout.strip() == f"record: {record}"


def test_verbose_prints_every_model_call(tmp_path: Path) -> None:
    result = invoke(*_run(tmp_path, "--verbose"))
    assert result.code == 0, result.stderr
    calls = [line for line in result.stdout.splitlines() if " attempt 1 (scripted:hawk)" in line]
    # two states x two rounds x (one negotiation sub-turn + one decision)
    assert len(calls) == 8
    assert any(line.startswith("round 2 Borea decision") for line in calls)


def test_verbose_logging_ends_with_its_command(tmp_path: Path) -> None:
    """Commands run in one process (tests, notebooks): --verbose's logging reaches the stderr of
    the command that asked for it, and the next command neither inherits it nor writes to the
    earlier command's (closed) stream."""
    folder = tmp_path / "runs"
    assert invoke(*_run(folder, "--verbose")).code == 0
    (folder / "junk.jsonl").write_text("not a record\n")
    quiet = invoke("score", str(folder))
    assert quiet.code == 0, quiet.stderr
    assert "Logging error" not in quiet.stderr and "WARNING" not in quiet.stderr
    loud = invoke("--verbose", "score", str(folder))
    assert loud.code == 0, loud.stderr
    assert (
        "WARNING dilemma.evaluation: skipped" in loud.stderr and "Logging error" not in loud.stderr
    )


def test_quiet_and_verbose_exclude_each_other(tmp_path: Path) -> None:
    result = invoke(*_run(tmp_path, "--quiet", "--verbose"))
    assert result.code == 2
    assert not list(tmp_path.glob("*.jsonl"))


def test_a_bad_model_spec_fails_before_running(tmp_path: Path) -> None:
    result = invoke(
        "run", "two-rivals", "--state-model", "Aria=gpt4", "--model", "scripted:hawk",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.code == 2
    assert "Running" not in result.stdout
    assert "model of state Aria" in result.unwrapped_stderr and "'gpt4'" in result.stderr
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_states_left_on_the_default_model_get_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of triad's three states named: the third is on `local`, and the user is told so
    (the run itself is stubbed: it would start the embedded model)."""
    import dilemma.api.runs

    seen: dict[str, object] = {}

    def stub(*args: object, **kwargs: object) -> Path:
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(dilemma.api.runs, "run", stub)
    result = invoke(
        "run", "triad", "--state-model", "Nord=scripted:hawk", "--state-model",
        "Ost=scripted:dove", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.code == 130
    lines = [line for line in result.stdout.splitlines() if "not named by --state-model" in line]
    assert len(lines) == 1 and lines[0].startswith("Note: Mare ")
    assert "`local`" in lines[0]
    assert seen["state_models"] == {"Nord": "scripted:hawk", "Ost": "scripted:dove"}


def test_no_notice_when_every_state_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(*_run(tmp_path))
    assert result.code == 0
    assert "not named by --state-model" not in result.stdout


def test_show_a_folder_lists_its_records(swept: Path) -> None:
    result = invoke("show", str(swept))
    assert result.code == 0, result.stderr
    records = sorted(swept.glob("*.jsonl"))
    for record in records:
        assert record.name in result.stdout
    assert "transparency=secretive/secretive" in result.stdout
    assert f"{len(records)} records" in result.stdout
    assert "Errno" not in result.stdout + result.stderr


def test_show_a_folder_of_one_record_shows_it(swept: Path, tmp_path: Path) -> None:
    record = sorted(swept.glob("*.jsonl"))[0]
    (tmp_path / record.name).write_bytes(record.read_bytes())
    result = invoke("show", str(tmp_path))
    direct = invoke("show", str(record))
    assert result.code == 0 and result.stdout == direct.stdout


def test_show_an_empty_folder_says_so(tmp_path: Path) -> None:
    result = invoke("show", str(tmp_path))
    assert result.code == 2
    assert "no records" in result.stderr


def test_score_shows_the_conditions_within_80_columns(
    swept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("score", str(swept))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = lines[0].split()
    assert "transparency" in header and "index" in header
    rows = [line for line in lines[1:5]]
    assert sum("secretive/secretive" in row for row in rows) == 2
    assert any(line.startswith("all runs:") and "scenario=two-rivals" in line for line in lines)
    assert any("--wide" in line for line in lines)


def test_score_wide_shows_every_column(swept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("score", "--wide", str(swept))
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    for column in ("transparency", "ladder", "misperc.", "fallback", "rules"):
        assert column in header
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_capped_changes_are_explained_under_the_round_table(tmp_path: Path) -> None:
    """Aria, a democracy, asks for +10% with nothing announced: forewarning caps it at 3%,
    and the asterisk is explained in words (the same table is `dilemma play`'s)."""
    result = invoke(*_run(tmp_path))
    assert result.code == 0, result.stderr
    assert "+3.0%*" in result.stdout
    text = " ".join(result.stdout.split())
    assert "* Aria: democratic forewarning: a democracy may raise its arms" in text
    assert "10% limited to 3% (nothing announced last round)" in text


def test_adjustments_in_plain_words() -> None:
    from dilemma.cli.common import explain_adjustment

    assert explain_adjustment("cap: 30% limited to 10%") == (
        "the scenario's cap on one round's change: 30% limited to 10%"
    )
    assert explain_adjustment("economy: 5% limited to 1.20% (cannot pay)").startswith(
        "the economy cannot pay for more arms: "
    )
    assert explain_adjustment("something new: x") == "something new: x"
