"""`dilemma compare` for people: verdict first, plain sentences, 100 columns, the next command,
and error messages that list the experiment's factors and a factor's levels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dilemma.evaluation.comparison import Resampling, compare
from hypothesis import given, settings
from hypothesis import strategies as st

from dilemma.cli.compare_text import (
    WIDTH,
    Folder,
    comparison_for_people,
    effect_sentence,
    level_table,
    next_step,
)
from tests.helpers.cli import invoke
from tests.helpers.run_tables import synthetic_runs

SWEEP = Path(__file__).resolve().parents[1] / "fixtures" / "records_v1" / "sweep"


@pytest.fixture
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("c") / "sweep"
    shutil.copytree(SWEEP, folder)
    return folder


def _lines(text: str) -> list[str]:
    return text.splitlines()


def test_compare_fits_100_columns_with_the_verdict_first(
    sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = invoke("compare", str(sweep), "--by", "transparency")
    assert result.code == 0, result.stderr
    lines = _lines(result.stdout)
    assert max(len(line) for line in lines) <= 100
    first = next(line for line in lines if line.strip())
    assert first.startswith("Verdict: inconclusive - transparency is inconclusive")
    # one plain sentence per primary measure, with its interval, p and n
    text = " ".join(line.strip() for line in lines)
    assert (
        "escalation_index: secretive/secretive is 21.9 higher than transparent/transparent"
        " (95% CI" in text
    )
    assert "2 paired seeds" in text
    for measure in ("mean_threat", "mean_growth_pct", "war"):
        assert f"  {measure}: " in result.stdout


def test_inconclusive_names_the_exact_next_command(sweep: Path) -> None:
    result = invoke("compare", str(sweep), "--by", "transparency")
    assert result.code == 0, result.stderr
    lines = _lines(result.stdout)
    # the records' header names the experiment file that wrote them
    advice = next(i for i, line in enumerate(lines) if line.startswith("Next: set repeats:"))
    assert "in /tmp/fix/tiny-2x2.yaml, then run:" in " ".join(lines[advice : advice + 2])
    start = next(i for i, line in enumerate(lines) if "dilemma sweep" in line)
    command = lines[start].strip()
    while command.endswith("\\"):
        start += 1
        command = command[:-1] + lines[start].strip()
    assert command == f"dilemma sweep /tmp/fix/tiny-2x2.yaml --out {sweep} --resume"
    repeats = int(lines[advice].split("set repeats: ")[1].split()[0])
    pairs = json.loads(invoke("compare", str(sweep), "--by", "transparency", "--json").stdout)
    needed = [p["seeds_needed"] for p in pairs["pairs"] if p["family"] == "primary"]
    assert repeats == max(int(n) for n in needed if isinstance(n, float | int))


def test_wide_keeps_the_full_tables_and_json_is_not_narrowed(sweep: Path) -> None:
    wide = invoke("compare", str(sweep), "--by", "transparency", "--wide")
    assert wide.code == 0
    assert wide.stdout.lstrip().startswith("Verdict:")
    assert "p_equivalence" in wide.stdout and "seeds_needed" in wide.stdout
    data = json.loads(invoke("compare", str(sweep), "--by", "transparency", "--json").stdout)
    assert {"verdict", "summary", "pairs", "levels", "designs", "runs", "margins"} <= set(data)
    assert {"p_equivalence", "mde", "seeds_needed", "hedges_g"} <= set(data["pairs"][0])


def test_by_error_lists_only_the_experiment_factors(sweep: Path) -> None:
    result = invoke("compare", str(sweep), "--by", "transparenc")
    assert result.code == 2
    message = result.unwrapped_stderr
    assert "factors: scenario, prompt_setup, model, transparency" in message
    assert "did you mean transparency?" in message
    for column in ("escalation_index", "path", "run_id", "seed", "outcome"):
        assert column not in message


def test_where_error_lists_the_levels_of_the_factor(sweep: Path) -> None:
    result = invoke("compare", str(sweep), "--by", "regime", "--where", "transparency=secret")
    assert result.code == 2
    message = result.unwrapped_stderr
    assert "no run has transparency = secret" in message
    assert "levels of transparency: secretive/secretive, transparent/transparent" in message
    result = invoke("compare", str(sweep), "--by", "regime", "--where", "opacity=x")
    assert result.code == 2 and "not a factor of these runs" in result.unwrapped_stderr


def test_sentence_wording() -> None:
    row = pd.Series(
        {
            "measure": "escalation_index",
            "design": "paired",
            "n_pairs": 20,
            "n_a": 20,
            "n_b": 20,
            "diff": -3.1,
            "ci_low": -5.0,
            "ci_high": -1.2,
            "p_value": 0.002,
            "p_holm": 0.008,
            "significant": True,
            "equivalent": False,
            "margin": 5.0,
        }
    )
    assert effect_sentence(row, "democracy", "autocracy") == (
        "escalation_index: democracy is 3.1 lower than autocracy (95% CI -5 to -1.2,"
        " p = 0.002, Holm p = 0.008, 20 paired seeds): differs"
    )
    independent = row.copy()
    independent["design"], independent["n_b"] = "independent", 18
    independent["significant"], independent["equivalent"] = False, True
    assert effect_sentence(independent, "a", "b").endswith(
        "20 and 18 runs): equivalent (within ±5)"
    )


def test_packaged_example_is_copied_before_editing() -> None:
    table = synthetic_runs(np.random.default_rng(0), 3, cells=("g1",))
    result = compare(table, "f", resampling=Resampling(n_boot=99))
    assert result.verdict == "inconclusive"
    source = "/site/dilemma/experiments/examples/regime-transparency-2x2.yaml"
    lines = next_step(result, Folder(Path("runs/x"), (source,), 3))
    assert lines[-1] == "  dilemma sweep regime-transparency-2x2.yaml --out runs/x --resume"
    assert "copy the packaged example" in lines[0]


def test_long_level_names_and_many_levels_still_fit() -> None:
    rng = np.random.default_rng(1)
    parts: list[pd.DataFrame] = []
    for k in range(2):
        part = synthetic_runs(rng, 6, effect=1.5, cells=("g1",))
        names = {"a": f"an-extremely-long-level-name-number-{k}-a", "b": f"other-{k}-b"}
        parts.append(part.assign(f=part["f"].map(names), seed=part["seed"] + 100 * k))
    table = pd.concat(parts)
    result = compare(table, "f", resampling=Resampling(n_boot=99))
    text = comparison_for_people(result, "default set")
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert text.startswith("Verdict:")


@settings(max_examples=30, deadline=None)
@given(
    names=st.lists(
        st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=70),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    value=st.floats(-1e6, 1e6, allow_nan=False),
)
def test_level_table_fits_any_level_names(names: list[str], value: float) -> None:
    levels = pd.DataFrame(
        [
            {"level": n, "measure": m, "n": 10, "mean": value, "ci_low": value, "ci_high": value}
            for n in names
            for m in ("escalation_index", "cum_arms_change_pct")
        ]
    )
    assert max(len(line) for line in level_table(levels)) <= WIDTH


def test_across_adds_the_mixed_model_to_text_and_json(sweep: Path) -> None:
    text = invoke("compare", str(sweep), "--by", "transparency", "--across", "model")
    assert text.code == 0, text.stderr
    assert "Across model:" in text.stdout
    # one model in these records: nothing to fit, and the output says so
    assert "the mixed model cannot be fitted" in text.stdout
    assert max(len(line) for line in text.stdout.splitlines()) <= WIDTH
    out = invoke("compare", str(sweep), "--by", "transparency", "--across", "model", "--json")
    mixed = json.loads(out.stdout)["mixed"]
    assert mixed["across"] == "model" and mixed["groups"] == 1
    assert {"estimate", "ci_low", "ci_high", "p_value", "group_var", "pooled_estimate"} <= set(
        mixed["effects"][0]
    )
    bad = invoke("compare", str(sweep), "--by", "transparency", "--across", "modle")
    assert bad.code == 2 and "did you mean model?" in bad.unwrapped_stderr


def test_interaction_verdict_comes_before_the_tables() -> None:
    table = synthetic_runs(np.random.default_rng(4), 6, interaction=2.0)
    result = compare(table, "f", interaction="g", resampling=Resampling(n_boot=99))
    lines = comparison_for_people(result, "default set").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Interaction f x g: "))
    assert at < next(i for i, line in enumerate(lines) if line.startswith("Design: "))
    assert any(line.strip().startswith("escalation_index: (a - b) at g1 is") for line in lines[at:])
    assert max(len(line) for line in lines) <= WIDTH
