"""The Chupilkin (2026) replication kit: it plans, estimates, runs small and compares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dilemma.evaluation.tables import score
from dilemma.scenarios.schema import Rules
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.experiments.estimate import estimate
from dilemma.experiments.spec import (
    ExperimentError,
    expand,
    find_experiment,
    load_experiment,
    run_count,
)
from dilemma.simulation.horizon import realized_rounds

KIT = "chupilkin-2026"


def test_the_kit_plans_its_design() -> None:
    path = find_experiment(Path(KIT))
    exp = load_experiment(path)
    runs = expand(exp, path)
    assert len(runs) == run_count(exp) == 2 * 2 * 2 * 10
    cells = {
        (
            r.conditions["n_states"],
            r.conditions["rules.horizon"],
            r.conditions["rules.communication"],
        )
        for r in runs
    }
    assert len(cells) == 8
    for run in runs:
        assert len(run.scenario["states"]) == int(run.conditions["n_states"])
    assert exp.primary == ["war", "ladder_mean", "endgame_escalation"]
    assert set(exp.margins) == set(exp.primary)
    est = estimate(runs)
    # scripted: no re-asks; each run's realized horizon; no negotiation call under `none`
    expected = 0
    for run in runs:
        rules = Rules.model_validate(run.scenario["rules"])
        per_round = 1 + (1 if rules.communication == "full" else 0)
        expected += len(run.scenario["states"]) * realized_rounds(rules, run.seed) * per_round
    assert est.calls == expected
    geometric = [r for r in runs if r.conditions["rules.horizon"] == "geometric"]
    lengths = {
        realized_rounds(Rules.model_validate(r.scenario["rules"]), r.seed) for r in geometric
    }
    assert min(lengths) >= 5 and len(lengths) > 1


def test_a_small_version_runs_and_shows_the_horizon_effect(tmp_path: Path) -> None:
    text = find_experiment(Path(KIT)).read_text().replace("repeats: 10", "repeats: 2")
    path = tmp_path / "kit.yaml"
    path.write_text(text)
    out = tmp_path / "runs"
    swept = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out)])
    assert swept.exit_code == 0, swept.output
    runs_frame = score(out).runs
    assert len(runs_frame) == 16
    by = runs_frame.groupby("horizon")["endgame_escalation"]
    assert by.min()["known"] == pytest.approx(28.0) == by.max()["known"]
    assert by.max()["geometric"] == pytest.approx(0.0)
    assert set(runs_frame["n_states"]) == {2, 3}
    result = CliRunner().invoke(app, ["compare", str(out), "--by", "rules.horizon", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["primary"] == ["war", "ladder_mean", "endgame_escalation"]
    pairs = [p for p in data["pairs"] if p["measure"] == "endgame_escalation"]
    assert pairs and all(abs(p["diff"]) == pytest.approx(28.0) for p in pairs)


def test_n_states_out_of_range_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nscenarios: [symmetric]\nmodel: scripted:dove\nfactors:\n  n_states: [2, 9]\n"
    )
    with pytest.raises(ExperimentError, match="n_states: 9 is out of range"):
        load_experiment(path)
    result = CliRunner().invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "n_states" in result.output


def test_n_states_on_an_asymmetric_scenario_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nscenarios: [two-rivals]\nmodel: scripted:dove\nfactors:\n  n_states: [3]\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "symmetric" in result.output


def test_base_model_setup_is_refused_under_a_hidden_horizon(tmp_path: Path) -> None:
    path = tmp_path / "hidden.yaml"
    path.write_text(
        "name: hidden\nscenarios: [symmetric]\nmodel: scripted:dove\nfactors:\n"
        "  prompt_setup: [base-model]\n  rules.horizon: [hidden]\n"
    )
    with pytest.raises(ExperimentError, match="rounds_total"):
        expand(load_experiment(path), path)
