"""`dilemma compare` and repeated looks: a declared plan's levels and next look, the looks log
of an unplanned folder, `--permutations`, and strict `sequential:` validation (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dilemma.evaluation.looks import LOG_NAME
from typer.testing import CliRunner

from dilemma.cli.main import app

BASE = """
name: looks
scenarios: [two-rivals]
rounds: 2
model: scripted:reactive
factors:
  transparency:
    - [transparent, transparent]
    - [secretive, secretive]
repeats: {repeats}
"""
PLAN = "sequential: {{looks: [2, 4], spending: obrien_fleming}}\n"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def sweep(tmp_path: Path, repeats: int, plan: bool) -> tuple[Path, Path]:
    path = tmp_path / "looks.yaml"
    path.write_text(BASE.format(repeats=repeats) + (PLAN.format() if plan else ""))
    out = tmp_path / "out"
    code, output = invoke("sweep", str(path), "--out", str(out), "--resume")
    assert code == 0, output
    return path, out


def compare_json(out: Path, *extra: str) -> dict[str, Any]:
    code, output = invoke("compare", str(out), "--by", "transparency", "--json", *extra)
    assert code == 0, output
    data: dict[str, Any] = json.loads(output)
    return data


def test_planned_looks_set_the_level_and_point_to_the_next_look(tmp_path: Path) -> None:
    path, out = sweep(tmp_path, 2, plan=True)
    first = compare_json(out)
    assert first["look"]["number"] == 1 and first["look"]["next_look"] == 4
    assert first["alpha"] == first["look"]["nominal_alpha"] < 0.05
    assert first["verdict"] == "inconclusive"
    assert f"set `repeats: 4` in {path}" in first["summary"]
    assert f"dilemma sweep {path} --resume" in first["summary"]
    sweep(tmp_path, 4, plan=True)
    second = compare_json(out)
    assert second["look"]["number"] == 2 and second["look"]["next_look"] is None
    assert second["seeds_per_cell"] == 4
    assert not any("optional stopping" in w for w in second["warnings"])


def test_adding_seeds_without_a_plan_is_flagged(tmp_path: Path) -> None:
    _, out = sweep(tmp_path, 2, plan=False)
    first = compare_json(out)
    assert first["look"] is None
    assert not any("optional stopping" in w for w in first["warnings"])
    assert "declare `sequential:` looks" in first["summary"]
    assert compare_json(out)["warnings"] == first["warnings"]  # same seeds: no new look
    sweep(tmp_path, 3, plan=False)
    later = compare_json(out)
    flagged = [w for w in later["warnings"] if "optional stopping" in w]
    assert flagged and "at 2 seeds per cell" in flagged[0] and "now has 3" in flagged[0]
    entries = [json.loads(x) for x in (out / LOG_NAME).read_text().splitlines()]
    assert [e["seeds_per_cell"] for e in entries] == [2, 2, 3]


def test_a_folder_whose_log_cannot_be_written_still_compares(tmp_path: Path) -> None:
    _, out = sweep(tmp_path, 2, plan=False)
    (out / LOG_NAME).mkdir()  # in the way of the log file (root ignores read-only modes)
    data = compare_json(out)
    assert any("could not write the looks log" in w for w in data["warnings"])


def test_permutations_option(tmp_path: Path) -> None:
    _, out = sweep(tmp_path, 2, plan=False)
    assert compare_json(out, "--permutations", "50000")["verdict"] == "inconclusive"
    code, _ = invoke("compare", str(out), "--by", "transparency", "--permutations", "10")
    assert code == 2


def test_bad_sequential_blocks_exit_2_naming_file_and_field(tmp_path: Path) -> None:
    cases = {
        "sequential: {looks: [4, 2], spending: pocock}\n": "looks must increase",
        "sequential: {looks: [2, 4], spending: haybittle}\n": "spending",
        "sequential: {looks: [4, 8]}\n": "is not one of the planned looks",
        "sequential: {looks: [1, 2]}\n": "sequential.looks.0",
        "sequential: {looks: [2, 4], extra: 1}\n": "sequential.extra",
    }
    for block, expected in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(BASE.format(repeats=2) + block)
        code, output = invoke("sweep", str(path), "--out", str(tmp_path / "never"))
        flat = " ".join(output.split())
        assert code == 2, (block, output)
        assert str(path) in flat and expected in flat, (block, flat)
        assert not (tmp_path / "never").exists()
