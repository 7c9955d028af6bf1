"""Bad input files are refused before anything runs: exit 2, the file and field named, no output.

Covers what an adversarial test fed the CLI: files that are not UTF-8, non-finite numbers,
duplicate keys, values of the wrong type, YAML alias bombs, experiments that expand to too many
runs, experiment names that would escape the output folder, unknown scripted policies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dilemma.scenarios.library import MAX_YAML_NODES, load_builtin, read_yaml
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.spec import MAX_RUNS
from dilemma.simulation.runner import RunConfig, run_scenario


def scenario_text(**changes: Any) -> str:
    """The two-rivals scenario as YAML, with top-level, rules or first-state changes."""
    data = load_builtin("two-rivals").model_dump(mode="json", exclude_none=True)
    for key, value in changes.items():
        if key.startswith("rules."):
            data["rules"][key[6:]] = value
        elif key.startswith("state."):
            data["states"][0][key[6:]] = value
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def refused(tmp_path: Path, command: str, file: Path, *expected: str) -> str:
    """Run `command` on `file`; it must exit 2 naming the file and each expected text."""
    out = tmp_path / "out"
    args = [command, str(file)]
    if command in ("run", "sweep"):
        args += ["--out", str(out), "--model", "scripted:dove"]
    code, output = cli(*args)
    flat = " ".join(output.split())
    assert code == 2, output
    assert "Traceback" not in output
    assert file.name in flat, output
    for text in expected:
        assert text in flat, output
    assert not out.exists(), "something was written"
    return flat


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_scenario_that_is_not_utf8(tmp_path: Path, encoding: str, command: str) -> None:
    path = tmp_path / "sc.yaml"
    path.write_bytes(scenario_text(description="Zone franche à l'été").encode(encoding))
    refused(tmp_path, command, path, "(file encoding)", "not UTF-8")


def test_experiment_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes("name: été\nscenarios: [two-rivals]\n".encode("latin-1"))
    refused(tmp_path, "sweep", path, "(file encoding)")


def test_utf8_with_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "sc.yaml"
    path.write_bytes(scenario_text(description="été").encode("utf-8-sig"))
    code, output = cli("validate", str(path))
    assert code == 0, output


# --- numbers and types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state.economy": float("inf")}, "states.0.economy"),
        ({"state.arms": float("nan")}, "states.0.arms"),
        ({"rules.arms_cost": float("inf")}, "rules.arms_cost"),
        ({"rules.economy_growth_pct": float("-inf")}, "rules.economy_growth_pct"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(scenario_text(**change), encoding="utf-8")
    refused(tmp_path, "validate", path, field, "finite")
    refused(tmp_path, "run", path, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rules.rounds": True}, "rules.rounds"),
        ({"rules.subturns": "1"}, "rules.subturns"),
        ({"rules.rounds": 3.0}, "rules.rounds"),
        ({"state.arms": "100"}, "states.0.arms"),
        ({"state.economy": True}, "states.0.economy"),
        ({"rules.war_ends_run": "yes please"}, "rules.war_ends_run"),
        ({"rules.war_ends_run": 1}, "rules.war_ends_run"),
    ],
)
def test_wrong_types_are_not_coerced(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(scenario_text(**change), encoding="utf-8")
    refused(tmp_path, "validate", path, field)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sc.yaml"
    text = scenario_text()
    path.write_text(text.replace("rules:\n", "rules:\n  rounds: 3\n  rounds: 7\n", 1))
    refused(tmp_path, "validate", path, "duplicate key 'rounds'")
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: e\nscenarios: [two-rivals]\nrepeats: 2\nrepeats: 5\n")
    refused(tmp_path, "sweep", exp, "duplicate key 'repeats'")


def test_yaml_merge_keys_still_override(tmp_path: Path) -> None:
    exp = tmp_path / "doc.yaml"
    exp.write_text("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 3\n", encoding="utf-8")
    assert read_yaml(exp) == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("repeats: '3'", "repeats"),
        ("rounds: true", "rounds"),
        ("max_retries: 1.0", "max_retries"),
        ("seed_base: .inf", "seed_base"),
    ],
)
def test_experiment_wrong_types(tmp_path: Path, line: str, field: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"name: e\nscenarios: [two-rivals]\n{line}\n", encoding="utf-8")
    refused(tmp_path, "sweep", exp, field)


def test_experiment_factor_level_that_is_not_finite(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "name: e\nscenarios: [two-rivals]\nfactors:\n  rules.arms_cost: [1.0, .inf]\n",
        encoding="utf-8",
    )
    refused(tmp_path, "sweep", exp, "rules.arms_cost", "finite")


# --- experiment files ----------------------------------------------------------------------------


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 9):
        prev, name = chr(96 + n), chr(97 + n)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    exp = tmp_path / "exp.yaml"
    exp.write_text("\n".join(lines) + "\nname: e\nscenarios: [two-rivals]\n", encoding="utf-8")
    refused(tmp_path, "sweep", exp, f"more than {MAX_YAML_NODES:,} values", "aliases")


def test_too_many_runs_are_refused_with_the_count(tmp_path: Path) -> None:
    levels = ", ".join(str(n / 100) for n in range(20))
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: e\nscenarios: [two-rivals, triad]\nrepeats: 10000\n"
        f"factors:\n  rules.intel_noise: [{levels}]\n",
        encoding="utf-8",
    )
    refused(tmp_path, "sweep", exp, "400,000 runs", f"{MAX_RUNS:,}")


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "-x", "a/b", "../../x", "a\\\\b"])
def test_experiment_names_cannot_escape_the_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the default output folder is runs/NAME below here
    exp = work / "exp.yaml"
    exp.write_text(f"name: '{name}'\nscenarios: [two-rivals]\n", encoding="utf-8")
    code, output = cli("sweep", str(exp), "--model", "scripted:dove")
    assert code == 2, output
    assert "name" in output
    assert [p.name for p in tmp_path.rglob("*")] == ["work", "exp.yaml"]


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ("model: scripted:nope", "model:"),
        ("factors:\n  model: [scripted:dove, scripted:nope]", "factors.model.1"),
        ("factors:\n  model.Aria: ['bad spec']", "factors.model.Aria.0"),
    ],
)
def test_unknown_scripted_policy_in_an_experiment(tmp_path: Path, lines: str, field: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"name: e\nscenarios: [two-rivals]\n{lines}\n", encoding="utf-8")
    out = tmp_path / "out"
    code, output = cli("sweep", str(exp), "--out", str(out))
    flat = " ".join(output.split())
    assert code == 2, output
    assert field in flat and "exp.yaml" in flat, output
    assert not out.exists()


def test_sweep_model_override_with_unknown_policy(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: e\nscenarios: [two-rivals]\n", encoding="utf-8")
    out = tmp_path / "out"
    code, output = cli("sweep", str(exp), "--out", str(out), "--model", "scripted:nope")
    assert code == 2 and "unknown scripted policy 'nope'" in output, output
    assert not out.exists()


async def test_scenario_name_cannot_escape_the_output_folder(tmp_path: Path) -> None:
    scenario = load_builtin("two-rivals").model_copy(update={"name": "../../escaped/run"})
    out = tmp_path / "a" / "b" / "out"
    path = await run_scenario(
        scenario, RunConfig(seed=0, out_dir=out, argv=["test"]), default_model="scripted:dove"
    )
    assert path.parent == out and path.name.startswith("escaped_run_s0_")
    assert not (tmp_path / "a" / "escaped").exists()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_record_events_refuse_non_finite_numbers(value: float) -> None:
    """pydantic would write them as null, leaving a record that cannot be read back."""
    from pydantic import ValidationError

    from dilemma.records.schema import RoundEndEvent, Totals

    with pytest.raises(ValidationError, match="finite"):
        RoundEndEvent(round=1, arms={"A": value}, economy={}, threat={}, summit=False)
    with pytest.raises(ValidationError, match="finite"):
        Totals(cost_usd=value)
