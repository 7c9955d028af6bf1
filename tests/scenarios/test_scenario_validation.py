"""Bad scenario files and bad run arguments are refused at the CLI with exit 2 and a clear message.

`dilemma validate FILE` names the file and the field path; `dilemma run FILE` refuses the same
file before anything is written to the output folder.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from dilemma.evaluation.tables import score
from dilemma.scenarios.library import LIBRARY_DIR, builtin_names
from dilemma.scenarios.schema import MAX_ARMS_CAP_PCT, MAX_GROWTH_PCT, MAX_ROUNDS, MAX_START
from typer.testing import CliRunner, Result

from dilemma.cli.main import app
from dilemma.records.reader import read_record
from dilemma.records.schema import ResolutionEvent
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model
from tests.helpers.replies import PAIR_STATES

BASE: dict[str, Any] = {
    "name": "bad-case",
    "states": PAIR_STATES,
    "rules": {"rounds": 2, "subturns": 0, "arms_cap_pct": 10, "forewarning_threshold_pct": 3},
}

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets a dotted path (`states.1.arms`) in the scenario data."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _del(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return edit


def _yaml(edit: Edit) -> str:
    data = copy.deepcopy(BASE)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


# (case id, file text, substrings the error message must contain besides the file path)
BAD_SCENARIOS: list[tuple[str, str, list[str]]] = [
    ("invalid_yaml", "name: broken\nstates: [\n  - id: A\n", ["invalid YAML", "line"]),
    ("tab_indented_yaml", "name: x\nstates:\n\t- id: A\n", ["invalid YAML"]),
    ("unknown_top_level_key", _yaml(_set("colour", "red")), ["colour", "Extra inputs"]),
    ("unknown_state_key", _yaml(_set("states.0.flag", "blue")), ["states.0.flag"]),
    ("unknown_rules_key", _yaml(_set("rules.round", 5)), ["rules.round"]),
    ("wrong_regime", _yaml(_set("states.1.regime", "monarchy")), ["states.1.regime", "monarchy"]),
    (
        "wrong_transparency",
        _yaml(_set("states.0.transparency", "opaque")),
        ["states.0.transparency"],
    ),
    (
        "treaty_unknown_party",
        _yaml(_set("treaties", [{"kind": "arms_cap", "parties": ["A", "Zed"], "value": 0}])),
        ["treaties.0.parties", "Zed"],
    ),
    (
        "treaty_unknown_kind",
        _yaml(_set("treaties", [{"kind": "alliance", "parties": ["A", "B"]}])),
        ["treaties.0.kind"],
    ),
    ("duplicate_state_ids", _yaml(_set("states.1.id", "A")), ["states.1.id", "'A'"]),
    ("negative_arms", _yaml(_set("states.1.arms", -5)), ["states.1.arms", "-5"]),
    ("arms_not_a_number", _yaml(_set("states.0.arms", "lots")), ["states.0.arms"]),
    ("zero_economy", _yaml(_set("states.0.economy", 0)), ["states.0.economy"]),
    ("missing_state_name", _yaml(_del("states.0.name")), ["states.0.name", "Field required"]),
    ("bad_state_id", _yaml(_set("states.0.id", "9 lives")), ["states.0.id"]),
    ("cap_zero", _yaml(_set("rules.arms_cap_pct", 0)), ["rules.arms_cap_pct"]),
    ("cap_99", _yaml(_set("rules.arms_cap_pct", 99)), ["rules.arms_cap_pct", "99"]),
    ("rounds_zero", _yaml(_set("rules.rounds", 0)), ["rules.rounds"]),
    (
        "forewarning_above_cap",
        _yaml(_set("rules.forewarning_threshold_pct", 20)),
        ["rules", "forewarning_threshold_pct", "20"],
    ),
    ("one_state", _yaml(_set("states", [BASE["states"][0]])), ["states", "at least 2"]),
    ("no_states", _yaml(_del("states")), ["states", "Field required"]),
    ("top_level_list", "- name: A\n- name: B\n", ["(top level)", "mapping"]),
    ("top_level_scalar", "just a string\n", ["(top level)", "mapping"]),
    ("empty_file", "", ["(top level)"]),
    ("unknown_prompt_setup", _yaml(_set("prompt_setup", "nope")), ["prompt_setup", "nope"]),
    # ids the message protocol uses: a message to `all` goes to every state, statements to
    # `public`; in any case, as a person names states case-insensitively
    ("state_id_all", _yaml(_set("states.0.id", "all")), ["states.0.id", "reserved", "'all'"]),
    ("state_id_public", _yaml(_set("states.1.id", "public")), ["states.1.id", "reserved"]),
    ("state_id_ALL", _yaml(_set("states.1.id", "ALL")), ["states.1.id", "reserved"]),
    ("state_id_Public", _yaml(_set("states.0.id", "Public")), ["states.0.id", "reserved"]),
    (
        "treaty_repeated_party",
        _yaml(_set("treaties", [{"kind": "verification", "parties": ["A", "A"]}])),
        ["treaties.0.parties", "'A'", "more than once"],
    ),
    (
        "treaty_party_repeated_among_others",
        _yaml(_set("treaties", [{"kind": "arms_cap", "parties": ["A", "B", "B"], "value": 3}])),
        ["treaties.0.parties", "'B'", "more than once"],
    ),
    # no reachable run may overflow: 200 rounds at +50% multiply arms by 1.7e35
    ("arms_1e308", _yaml(_set("states.0.arms", 1.0e308)), ["states.0.arms", "at most 1e+38"]),
    ("arms_above_bound", _yaml(_set("states.1.arms", 2e38)), ["states.1.arms", "overflow"]),
    ("economy_1e300", _yaml(_set("states.0.economy", 1e300)), ["states.0.economy", "1e+38"]),
    (
        "alias_bomb",
        "name: x\nbig: &d [" + ",".join(["x"] * 1000) + "]\nfew: [*d, *d]\n"
        "many: [" + ",".join(["*d"] * 120) + "]\n",
        ["many (line 4)", "aliases"],
    ),
    (
        "alias_bomb_in_a_state",
        "name: x\nstates:\n  - id: A\n    doctrine: &d [" + ",".join(["x"] * 400) + "]\n"
        "    name: [" + ",".join(["*d"] * 400) + "]\n",
        ["states.0.name (line 5)", "aliases"],
    ),
    # Rich markup in user input must be shown as text, not interpreted (or crash the CLI).
    ("markup_in_value", _yaml(_set("states.0.regime", "[/bold]")), ["states.0.regime", "[/bold]"]),
]

runner = CliRunner()


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case" / "bad-scenario.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return path


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_every_mistake_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    edits = [
        _set("states.0.arms", -5),
        _set("states.1.regime", "monarchy"),
        _set("rules.arms_cap_pct", 0),
    ]

    def edit_all(data: dict[str, Any]) -> None:
        for edit in edits:
            edit(data)

    path = _write(tmp_path, _yaml(edit_all))
    result = _invoke("validate", str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    for field in ("states.0.arms", "states.1.regime", "rules.arms_cap_pct"):
        assert sum(line.strip().startswith(f"{field}:") for line in lines) == 1, (field, lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, e) for _, t, e in BAD_SCENARIOS],
    ids=[n for n, _, _ in BAD_SCENARIOS],
)
def test_validate_refuses_bad_scenario(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _write(tmp_path, text)
    result = _invoke("validate", str(path))
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert "error" in message
    assert str(path) in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, e) for _, t, e in BAD_SCENARIOS],
    ids=[n for n, _, _ in BAD_SCENARIOS],
)
def test_run_refuses_bad_scenario_and_writes_nothing(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = _write(tmp_path, text)
    out = tmp_path / "out"
    result = _invoke("run", str(path), "--model", "scripted:dove", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr
    for part in expected:
        assert part in result.stderr
    _assert_nothing_written(out)


def test_run_refuses_bad_scenario_in_existing_empty_out_dir(tmp_path: Path) -> None:
    path = _write(tmp_path, _yaml(_set("states.1.arms", -1)))
    out = tmp_path / "out"
    out.mkdir()
    result = _invoke("run", str(path), "--model", "scripted:dove", "--out", str(out))
    assert result.exit_code == 2
    assert list(out.iterdir()) == []


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "absent.yaml"
    out = tmp_path / "out"
    validate = _invoke("validate", str(path))
    assert validate.exit_code == 2
    assert str(path) in validate.stderr and "no such file" in validate.stderr
    run = _invoke("run", str(path), "--model", "scripted:dove", "--out", str(out))
    assert run.exit_code == 2
    assert str(path) in run.stderr
    _assert_nothing_written(out)


def test_good_file_validates(tmp_path: Path) -> None:
    path = _write(tmp_path, _yaml(lambda _d: None))
    result = _invoke("validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize("path", sorted(LIBRARY_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_builtin_scenarios_validate(path: Path) -> None:
    result = _invoke("validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert "valid" in _one_line(result.stdout)


def test_scenarios_lists_all_builtins() -> None:
    names = builtin_names()
    assert set(names) >= {"two-rivals", "triad", "concert", "secret-autocracies", "symmetric"}
    assert len(names) == 5
    result = _invoke("scenarios")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for name in names:
        assert sum(line.startswith(f"{name}: ") for line in lines) == 1, (name, lines)


def _refused_run(tmp_path: Path, *options: str) -> str:
    """`dilemma run two-rivals OPTIONS`: exit 2, nothing written; returns stderr."""
    out = tmp_path / "out"
    result = _invoke("run", "two-rivals", *options, "--out", str(out))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    _assert_nothing_written(out)
    return result.stderr


def test_unknown_state_model_id(tmp_path: Path) -> None:
    stderr = _refused_run(tmp_path, "--state-model", "X=scripted:dove", "--model", "scripted:dove")
    assert "'X'" in stderr
    assert "Aria" in stderr and "Borea" in stderr  # the known ids are listed


def test_state_model_without_equals(tmp_path: Path) -> None:
    assert "ID=SPEC" in _refused_run(tmp_path, "--state-model", "scripted:dove")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("nonsense", "PROVIDER:MODEL"), ("scripted:nope", "nope"), ("scripted:", "PROVIDER:MODEL")],
)
def test_bad_model_spec_is_one_line(tmp_path: Path, spec: str, expected: str) -> None:
    lines = _refused_run(tmp_path, "--model", spec).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:")
    assert expected in lines[0]


def test_bad_state_model_spec_is_one_line(tmp_path: Path) -> None:
    options = ("--model", "scripted:dove", "--state-model", "Borea=scripted:nope")
    lines = _refused_run(tmp_path, *options).strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0]


def test_unknown_prompt_setup_option(tmp_path: Path) -> None:
    options = ("--model", "scripted:dove", "--prompt-setup", "nope")
    assert "nope" in _refused_run(tmp_path, *options)


async def test_the_largest_valid_scenario_plays_and_scores_without_overflow(
    tmp_path: Path,
) -> None:
    # the largest arms and economy allowed, growing as fast as the rules allow for the most
    # rounds: every value of the record and of its scores stays finite, with no overflow
    sc = make_scenario(
        [
            {"id": "A", "arms": MAX_START, "economy": MAX_START},
            {"id": "B", "arms": MAX_START, "economy": MAX_START, "transparency": "secretive"},
        ],
        rounds=MAX_ROUNDS,
        subturns=0,
        arms_cap_pct=MAX_ARMS_CAP_PCT,
        economy_growth_pct=float(MAX_GROWTH_PCT),
        arms_cost=0.0,
        intel_noise=1.0,
        offense_defense=5.0,
        war_ends_run=False,
    )

    def grow(reply: dict[str, Any]) -> None:
        reply["arms_change"] = MAX_ARMS_CAP_PCT
        reply["action"] = "status_quo"

    models = {s: fake(policy_model("hawk", edit=grow), f"fake-{s}") for s in sc.ids}
    path = await play_scenario(sc, models, RunConfig(seed=3, out_dir=tmp_path, argv=["test"]))
    record = read_record(path)
    assert record.run_end is not None and record.run_end.outcome == "completed"
    (last,) = [e for e in record.of_kind(ResolutionEvent) if e.round == MAX_ROUNDS]
    assert all(o.arms_after > MAX_START * 1e30 for o in last.outcomes)  # it did grow
    with warnings.catch_warnings(), np.errstate(over="raise"):
        warnings.simplefilter("error")
        scores = score([path])
    numbers = scores.runs.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()
    for line in path.read_text().splitlines():  # json: no Infinity anywhere
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the record"))
