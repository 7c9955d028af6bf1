"""`dilemma compare --reaction`: the pooled reaction coefficient per level and its contrast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dilemma.cli.main import app

PLACEBO = """
name: placebo-reaction
scenarios: [two-rivals]
rounds: 8
model: scripted:random
factors:
  prompt_setup: [baseline, realist]
repeats: 4
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reaction")
    (root / "exp.yaml").write_text(PLACEBO, encoding="utf-8")
    done = CliRunner().invoke(app, ["sweep", str(root / "exp.yaml"), "--out", str(root / "out")])
    assert done.exit_code == 0, done.output
    return root / "out"


def test_compare_reaction_json(sweep: Path) -> None:
    """Scripted policies ignore the prompt: runs of one seed are the same at both levels, so
    the pooled k is the same and the difference is 0. Its relabelling test counts all 70 ways
    to deal 4 of the 8 runs to each level (exact), and every one has |t*| >= 0: p = 1, and the
    reported p, the larger of it and the bootstrap's, is 1 too."""
    out = CliRunner().invoke(
        app, ["compare", str(sweep), "--by", "prompt_setup", "--reaction", "--json"]
    )
    assert out.exit_code == 0, out.output
    reaction = json.loads(out.stdout)["reaction"]
    cells = {c["prompt_setup"]: c for c in reaction["cells"]}
    assert set(cells) == {"baseline", "realist"}
    assert all(c["n_runs"] == 4 for c in cells.values())
    assert cells["baseline"]["k"] == pytest.approx(cells["realist"]["k"])
    (pair,) = reaction["pairs"]
    assert (pair["level_a"], pair["level_b"]) == ("baseline", "realist")
    assert pair["diff"] == pytest.approx(0.0, abs=1e-12)
    assert pair["p_relabel"] == 1.0 and pair["p_exact"] is True and pair["p_value"] == 1.0
    assert pair["p_welch"] == pytest.approx(1.0)


def test_compare_reaction_same_seed_same_p(sweep: Path) -> None:
    def reaction(seed: str) -> dict[str, list[dict[str, object]]]:
        args = ["compare", str(sweep), "--by", "prompt_setup", "--reaction", "--json"]
        out = CliRunner().invoke(app, [*args, "--seed", seed])
        assert out.exit_code == 0, out.output
        parsed: dict[str, list[dict[str, object]]] = json.loads(out.stdout)["reaction"]
        return parsed

    first, again = reaction("7"), reaction("7")
    assert first == again
    assert [c["p_k"] for c in first["cells"]] == [c["p_k"] for c in again["cells"]]


def test_compare_without_reaction_has_no_reaction_part(sweep: Path) -> None:
    out = CliRunner().invoke(app, ["compare", str(sweep), "--by", "prompt_setup", "--json"])
    assert out.exit_code == 0, out.output
    assert "reaction" not in json.loads(out.stdout)
    text = CliRunner().invoke(app, ["compare", str(sweep), "--by", "prompt_setup", "--reaction"])
    assert "Difference of k between levels of prompt_setup" in text.stdout
