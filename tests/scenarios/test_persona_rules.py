"""Persona separated from mechanics: `.persona` changes what models are told, `.rules` the world.

A state's `regime` / `transparency` are the rules in force; `persona_regime` /
`persona_transparency` (default: the same) are what every model is told. The experiment factors
`regime.persona`, `regime.rules`, `transparency.persona` and `transparency.rules` set one side
only; plain `regime` / `transparency` set both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents.prompt_setup import extract_observation, load_prompt_setup, render_system

from dilemma.cli.compare import CompareRequest, compare_output
from dilemma.core.observation import ArmsSource, Phase
from dilemma.core.personas import Disposition, Persona, Regime, Transparency
from dilemma.experiments.spec import ExperimentError, RunSpec, expand, load_experiment
from dilemma.records.reader import read_record
from dilemma.records.schema import ObservationEvent, ResolutionEvent
from dilemma.report.transcript import header_lines
from dilemma.simulation.runner import RunConfig, play_scenario
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world
from tests.helpers.engine import fake, make_scenario, policy_model, prompts_of
from tests.helpers.sweeps import sweep_locally

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "dilemma" / "experiments" / "examples"

BASE = """
name: split
scenarios: [two-rivals]
rounds: 6
model: scripted:reactive
repeats: 3
factors:
"""

BOTH_LEVELS = "[[democracy, democracy], [autocracy, autocracy]]"
SECRETIVE = "transparency: [[secretive, secretive]]"
"""Both states secretive: reactive policies arm enough for democratic forewarning to bite."""


def experiment(tmp_path: Path, factors: str, name: str = "exp.yaml") -> list[RunSpec]:
    path = tmp_path / name
    path.write_text(BASE + "".join(f"  {line}\n" for line in factors.splitlines()))
    return expand(load_experiment(path), path)


def states_of(run: RunSpec) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (s["regime"], s["persona_regime"], s["transparency"], s["persona_transparency"])
        for s in run.scenario["states"]
    ]


# --- expansion -------------------------------------------------------------------------------


def test_persona_factor_sets_only_what_models_are_told(tmp_path: Path) -> None:
    runs = experiment(tmp_path, f"{SECRETIVE}\nregime.persona: {BOTH_LEVELS}")
    told = {r.conditions["regime.persona"]: states_of(r) for r in runs}
    # two-rivals: Aria is a democracy, Borea an autocracy; the rules keep those regimes
    assert told["autocracy/autocracy"] == [
        ("democracy", "autocracy", "secretive", None),
        ("autocracy", "autocracy", "secretive", None),
    ]
    assert [s[0] for s in told["democracy/democracy"]] == ["democracy", "autocracy"]


def test_rules_factor_sets_only_the_mechanics(tmp_path: Path) -> None:
    runs = experiment(tmp_path, f"{SECRETIVE}\nregime.rules: {BOTH_LEVELS}")
    told = {r.conditions["regime.rules"]: states_of(r) for r in runs}
    assert told["autocracy/autocracy"] == [
        ("autocracy", "democracy", "secretive", None),
        ("autocracy", "autocracy", "secretive", None),
    ]
    assert told["democracy/democracy"] == [
        ("democracy", "democracy", "secretive", None),
        ("democracy", "autocracy", "secretive", None),
    ]


def test_crossed_persona_and_rules_give_all_four_combinations(tmp_path: Path) -> None:
    crossed = experiment(
        tmp_path,
        "transparency.persona: [[transparent, transparent], [secretive, secretive]]\n"
        "transparency.rules: [[transparent, transparent], [secretive, secretive]]",
    )
    runs = experiment(
        tmp_path,
        "transparency.rules: [[transparent, transparent], [secretive, secretive]]\n"
        "transparency.persona: [[transparent, transparent], [secretive, secretive]]",
        "reordered.yaml",
    )
    seen = {
        (r.conditions["transparency.rules"], r.conditions["transparency.persona"]): {
            (s["transparency"], s["persona_transparency"]) for s in r.scenario["states"]
        }
        for r in runs
    }
    for rules in ("transparent", "secretive"):
        for persona in ("transparent", "secretive"):
            assert seen[(f"{rules}/{rules}", f"{persona}/{persona}")] == {(rules, persona)}
    # the order of the two factors in the file does not change any run
    assert {r.run_id for r in crossed} == {r.run_id for r in runs}


def test_plain_factor_changes_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        (Path(__file__).resolve().parents[2] / "scenarios" / "library" / "two-rivals.yaml")
        .read_text()
        .replace("regime: democracy", "regime: democracy\n    persona_regime: autocracy")
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(BASE.replace("[two-rivals]", "[scenario.yaml]") + f"  regime: {BOTH_LEVELS}\n")
    for run in expand(load_experiment(exp), exp):
        level = run.conditions["regime"].split("/")
        assert [s["regime"] for s in run.scenario["states"]] == level
        assert [s["persona_regime"] for s in run.scenario["states"]] == [None, None]


@pytest.mark.parametrize(
    ("factors", "field"),
    [
        (f"regime: {BOTH_LEVELS}\nregime.persona: {BOTH_LEVELS}", "factors"),
        (f"regime.rules: {BOTH_LEVELS}\nregime: {BOTH_LEVELS}", "factors"),
        ("transparency.persona: [[secretive]]", "factors.transparency.persona"),
        ("regime.persona: [[democracy, tyranny]]", "states.1.persona_regime"),
        ("regime.rulez: [[democracy, democracy]]", "factors"),
    ],
)
def test_bad_persona_or_rules_factors_name_file_and_field(
    tmp_path: Path, factors: str, field: str
) -> None:
    with pytest.raises(ExperimentError) as info:
        experiment(tmp_path, factors)
    assert str(tmp_path / "exp.yaml") in str(info.value) and field in str(info.value)


def test_the_shipped_example_crosses_model_with_persona_under_fixed_rules() -> None:
    path = EXAMPLES / "persona-sensitivity.yaml"
    runs = expand(load_experiment(path), path)
    assert {r.conditions["model"] for r in runs} == {"scripted:reactive", "local"}
    assert {r.conditions["regime.persona"] for r in runs} == {
        "democracy/democracy",
        "autocracy/autocracy",
    }
    assert {s["regime"] for r in runs for s in r.scenario["states"]} == {"autocracy"}
    per_cell: dict[tuple[str, str], int] = defaultdict(int)
    for r in runs:
        per_cell[(r.conditions["model"], r.conditions["regime.persona"])] += 1
    assert set(per_cell.values()) == {20}
    plan = load_experiment(path).sequential
    assert plan is not None and plan.looks == [20, 40, 60]


# --- what models are told vs what the world does --------------------------------------------


def split_scenario(**rules: Any) -> Any:
    """A is ruled as a transparent democracy but told it is a secretive autocracy."""
    return make_scenario(
        [
            {
                "id": "A",
                "regime": "democracy",
                "transparency": "transparent",
                "persona_regime": "autocracy",
                "persona_transparency": "secretive",
            },
            {"id": "B", "regime": "autocracy", "transparency": "secretive"},
        ],
        **rules,
    )


def test_observations_carry_the_persona_labels_and_the_rules_mechanics() -> None:
    world = new_world(split_scenario(), seed=1)
    world.round = 1
    a = observe(world, "A", Phase.DECISION, 0)
    assert (a.you.regime, a.you.transparency) == (Regime.AUTOCRACY, Transparency.SECRETIVE)
    assert a.rules.forewarning_threshold_pct == 3  # the democratic rule still binds A
    b = observe(world, "B", Phase.DECISION, 0)
    seen_a = next(o for o in b.others if o.id == "A")
    assert (seen_a.regime, seen_a.transparency) == (Regime.AUTOCRACY, Transparency.SECRETIVE)
    assert seen_a.arms_source is ArmsSource.EXACT  # ruled transparent: B sees A's exact arms


@pytest.mark.parametrize("regime", list(Regime))
def test_system_prompt_names_the_persona_and_states_the_rules_in_force(regime: Regime) -> None:
    world = new_world(split_scenario(), seed=1)
    world.round = 1
    obs = observe(world, "A", Phase.DECISION, 0)
    persona = Persona("A", "A", regime, Transparency.SECRETIVE, Disposition.SECURITY_SEEKER, "none")
    text = render_system(load_prompt_setup("baseline"), persona, obs)
    other = ({Regime.DEMOCRACY, Regime.AUTOCRACY} - {regime}).pop()
    article = "an" if regime is Regime.AUTOCRACY else "a"
    assert f"{article} {regime.value} and secretive state" in text
    assert other.value not in text and "transparent" not in text
    assert "arms increase above 3% is only allowed if you announced it" in text


async def test_the_world_applies_the_rules_while_the_model_reads_the_persona(
    tmp_path: Path,
) -> None:
    a = policy_model("hawk")
    path = await play_scenario(
        split_scenario(rounds=2),
        {"A": fake(a), "B": fake(policy_model("dove"))},
        RunConfig(seed=0, out_dir=tmp_path),
    )
    system = a.calls[0][0].text
    assert "an autocracy and secretive state" in system
    for prompt in prompts_of(a):
        you = extract_observation(prompt).you
        assert (you.regime, you.transparency) == (Regime.AUTOCRACY, Transparency.SECRETIVE)
    record = read_record(path)
    # the header states, per state, the persona told and the rules in force
    a_in_header = record.header.scenario.state("A")
    assert (a_in_header.regime, a_in_header.transparency) == ("democracy", "transparent")
    assert (a_in_header.shown_regime, a_in_header.shown_transparency) == (
        "autocracy",
        "secretive",
    )
    b_in_header = record.header.scenario.state("B")
    assert (b_in_header.shown_regime, b_in_header.regime) == ("autocracy", "autocracy")
    shown = "\n".join(line.text for line in header_lines(record.header))
    assert "A (A): democracy, transparent (told: autocracy, secretive)," in shown
    assert "B (B): autocracy, secretive, " in shown
    cut = [
        adj
        for res in record.of_kind(ResolutionEvent)
        for o in res.outcomes
        if o.state == "A"
        for adj in o.adjustments
    ]
    assert any(adj.startswith("forewarning") for adj in cut), cut


# --- placebo and mechanics with scripted policies -------------------------------------------

BEHAVIOUR = ("negotiation", "decision", "resolution", "round_end", "run_end")


def behaviour(path: Path) -> list[dict[str, Any]]:
    """What the states did and what happened, without what they were told or times."""
    out = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["kind"] in BEHAVIOUR:
            event.pop("ended_at", None)
            out.append(event)
        elif event["kind"] == "llm_call":
            out.append({"state": event["state"], "raw": event["raw"], "parsed": event["parsed"]})
    return out


async def by_seed(runs: list[RunSpec], out: Path, factor: str) -> dict[int, dict[str, Any]]:
    stats = await sweep_locally(runs, out, concurrency=4)
    assert stats.failed == 0
    seeds: dict[int, dict[str, Any]] = defaultdict(dict)
    for run in runs:
        seeds[run.seed][run.conditions[factor]] = behaviour(out / f"{run.run_id}.jsonl")
    return seeds


async def test_persona_is_a_placebo_for_scripted_policies(tmp_path: Path) -> None:
    runs = experiment(tmp_path, f"{SECRETIVE}\nregime.persona: {BOTH_LEVELS}")
    seeds = await by_seed(runs, tmp_path / "out", "regime.persona")
    for levels in seeds.values():
        democracy, autocracy = levels["democracy/democracy"], levels["autocracy/autocracy"]
        assert democracy and democracy == autocracy
    # ... although the models were told different regimes
    told = {
        r.conditions["regime.persona"]: {
            e.observation.you.regime.value
            for e in read_record(tmp_path / "out" / f"{r.run_id}.jsonl").of_kind(ObservationEvent)
        }
        for r in runs
    }
    assert told == {"democracy/democracy": {"democracy"}, "autocracy/autocracy": {"autocracy"}}
    # compare takes the dotted factor name and calls the placebo equivalent on the continuous
    # primary measures; war is binary, and no war in a few runs per level cannot show war
    # rates within 0.1 of each other (exact score equivalence test)
    continuous = ["escalation_index", "mean_threat", "mean_growth_pct"]
    request = CompareRequest(by="regime.persona", primary=continuous)
    result = json.loads(compare_output(tmp_path / "out", request, as_json=True))
    assert result["by"] == "regime.persona"
    assert result["verdict"] == "equivalent", result["summary"]
    with_war = json.loads(
        compare_output(tmp_path / "out", CompareRequest(by="regime.persona"), as_json=True)
    )
    war = next(p for p in with_war["pairs"] if p["measure"] == "war")
    assert war["p_equivalence"] > 0.05 and with_war["verdict"] == "inconclusive"


async def test_rules_change_what_scripted_policies_do(tmp_path: Path) -> None:
    runs = experiment(tmp_path, f"{SECRETIVE}\nregime.rules: {BOTH_LEVELS}")
    seeds = await by_seed(runs, tmp_path / "out", "regime.rules")
    differs = [
        seed
        for seed, levels in seeds.items()
        if levels["democracy/democracy"] != levels["autocracy/autocracy"]
    ]
    assert differs == sorted(seeds)
    # ... although every model was told the scenario's regimes
    for r in runs:
        record = read_record(tmp_path / "out" / f"{r.run_id}.jsonl")
        for event in record.of_kind(ObservationEvent):
            seen = event.observation
            labels = [seen.you.regime.value] + [o.regime.value for o in seen.others]
            assert sorted(labels) == ["autocracy", "democracy"]
