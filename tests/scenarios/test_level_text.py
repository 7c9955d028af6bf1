"""Persona text that follows the factors: a state's name and doctrine per regime and transparency.

A state gives a neutral `doctrine` plus optional `doctrine_by_regime` /
`doctrine_by_transparency` fragments and `name_by_regime`; it is shown the neutral text plus the
fragments for the levels it is told. A sweep refuses a factor that tells a state a level its text
was not written for, and the record header keeps the text each state was shown.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from dilemma.agents.prompt_setup import builtin_setups, load_prompt_setup, render_system
from dilemma.scenarios.library import ScenarioError, builtin_names, load_scenario
from dilemma.scenarios.schema import Scenario, StateSpec
from typer.testing import CliRunner

from dilemma.cli.main import app
from dilemma.core.observation import Phase
from dilemma.core.personas import Regime, Transparency
from dilemma.experiments.spec import expand, load_experiment
from dilemma.records.reader import read_record
from dilemma.simulation.runner import RunConfig, persona_of, play_scenario
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world
from tests.helpers.engine import fake, make_scenario, policy_model

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "dilemma" / "experiments" / "examples"

CLAIMS = {
    Regime.DEMOCRACY: r"parliament|republic|elect|democra|duma|commonwealth|assembly",
    Regime.AUTOCRACY: (
        r"autocra|one-party|council|decree|emperor|empire|sultan|directorate|junta|dynast"
        r"|court|ruling party|consul|protector|strongmen|dominion"
    ),
    Transparency.TRANSPARENT: r"publish|public|open to inspection|white paper",
    Transparency.SECRETIVE: r"secret|classified|hidden|known only",
}
"""Words that claim a level: the text shown at the other level of its dimension must not hold
them (word starts, case-insensitive)."""


def claims(text: str, level: Regime | Transparency) -> list[str]:
    return re.findall(rf"\b(?:{CLAIMS[level]})", text, flags=re.IGNORECASE)


def told(scenario: Scenario, sid: str, regime: Regime, transparency: Transparency) -> StateSpec:
    """The state as a `regime.persona` x `transparency.persona` factor would set it."""
    return scenario.state(sid).model_copy(
        update={"persona_regime": regime, "persona_transparency": transparency}
    )


LEVELS = list(itertools.product(Regime, Transparency))
CASES = [
    (name, sid, regime, transparency)
    for name in builtin_names()
    for sid in load_scenario(name)[0].ids
    for regime, transparency in LEVELS
]


@pytest.mark.parametrize(("name", "sid", "regime", "transparency"), CASES)
@pytest.mark.parametrize("setup", ["baseline", "realist"])
def test_every_builtin_state_reads_consistently_at_every_level(
    name: str, sid: str, regime: Regime, transparency: Transparency, setup: str
) -> None:
    scenario, _ = load_scenario(name)
    state = told(scenario, sid, regime, transparency)
    scenario = scenario.model_copy(
        update={"states": [state if s.id == sid else s for s in scenario.states]}
    )
    world = new_world(scenario, seed=0)
    world.round = 1
    text = render_system(
        load_prompt_setup(setup), persona_of(scenario, sid), observe(world, sid, Phase.DECISION, 0)
    )
    other_regime = ({*Regime} - {regime}).pop()
    other_transparency = ({*Transparency} - {transparency}).pop()
    by_regime, by_transparency, names = (
        state.doctrine_by_regime,
        state.doctrine_by_transparency,
        state.name_by_regime,
    )
    assert by_regime is not None and by_transparency is not None and names is not None
    # the fragment for the level told is shown, the other level's is not
    assert getattr(by_regime, regime.value) in text
    assert getattr(by_regime, other_regime.value) not in text
    assert getattr(by_transparency, transparency.value) in text
    assert getattr(by_transparency, other_transparency.value) not in text
    assert f"leadership of {getattr(names, regime.value)} ({sid})" in text
    # neither the name nor the doctrine shown claims the other level
    persona = f"{state.shown_name}. {state.shown_doctrine}"
    assert state.shown_doctrine in text
    assert claims(persona, other_regime) == []
    assert claims(persona, other_transparency) == []
    article = "an" if regime is Regime.AUTOCRACY else "a"
    assert f", {article} {regime.value} and {transparency.value} state" in text


def test_every_prompt_setup_writes_an_autocracy() -> None:
    scenario, _ = load_scenario("two-rivals")
    world = new_world(scenario, seed=0)
    world.round = 1
    for setup in builtin_setups():
        text = render_system(
            load_prompt_setup(setup),
            persona_of(scenario, "Borea"),
            observe(world, "Borea", Phase.DECISION, 0),
        )
        assert "an autocracy" in text, setup
        assert re.search(r"\ba autocracy", text, flags=re.IGNORECASE) is None, setup


def test_without_fragments_the_text_is_exactly_the_scenario_text() -> None:
    scenario = make_scenario(
        [{"id": "A", "name": "Republic of A", "doctrine": "  Odd spacing kept. "}, {"id": "B"}]
    )
    state = scenario.state("A")
    assert (state.shown_name, state.shown_doctrine) == ("Republic of A", "  Odd spacing kept. ")
    # and the dump (hashed into sweep run ids) has no trace of the optional fields
    assert "doctrine_by_regime" not in scenario.model_dump()["states"][0]


def test_fragments_follow_the_level_told_not_the_rules() -> None:
    scenario = make_scenario(
        [
            {
                "id": "A",
                "name": "A",
                "regime": "democracy",
                "persona_regime": "autocracy",
                "transparency": "transparent",
                "name_by_regime": {"democracy": "Republic of A", "autocracy": "A State"},
                "doctrine": "Old border.",
                "doctrine_by_regime": {"democracy": "Elected.", "autocracy": ""},
                "doctrine_by_transparency": {"transparent": "Open.", "secretive": "Closed."},
            },
            {"id": "B"},
        ]
    )
    state = scenario.state("A")
    assert (state.shown_name, state.shown_doctrine) == ("A State", "Old border. Open.")


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"doctrine_by_regime": {"democracy": "x"}}, "doctrine_by_regime.autocracy"),
        (
            {"doctrine_by_regime": {"democracy": "x", "autocracy": "y", "monarchy": "z"}},
            "doctrine_by_regime.monarchy",
        ),
        (
            {"doctrine_by_transparency": {"transparent": "x", "secret": "y"}},
            "doctrine_by_transparency.secret",
        ),
        ({"name_by_regime": {"democracy": "", "autocracy": "Y"}}, "name_by_regime.democracy"),
        (
            {"doctrine_by_regime": {"democracy": 1, "autocracy": "y"}},
            "doctrine_by_regime.democracy",
        ),
    ],
)
def test_level_text_is_strict(extra: dict[str, object], where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario([{"id": "A", **extra}, {"id": "B"}])
    assert f"states.0.{where}" in str(info.value)


UNWRITTEN = """
name: unwritten
scenarios: [plain.yaml]
rounds: 2
model: scripted:reactive
factors:
  {factor}:
    - {first}
    - {second}
"""

PLAIN = """
name: plain
states:
  - id: Aria
    name: Republic of Aria
    regime: democracy
    transparency: transparent
    arms: 100
    economy: 1000
    doctrine: A parliamentary republic whose budget is debated in parliament.
    doctrine_by_transparency:
      transparent: Its budget is public.
      secretive: Its budget is secret.
  - id: Borea
    name: Borean State
    regime: autocracy
    transparency: secretive
    arms: 100
    economy: 900
    doctrine: A one-party state.
    doctrine_by_regime:
      democracy: ""
      autocracy: ""
"""


@pytest.mark.parametrize(
    ("factor", "first", "second", "state", "field"),
    [
        (
            "regime",
            "[democracy, autocracy]",
            "[autocracy, autocracy]",
            "Aria",
            "doctrine_by_regime",
        ),
        (
            "regime.persona",
            "[democracy, democracy]",
            "[autocracy, autocracy]",
            "Aria",
            "doctrine_by_regime",
        ),
        (
            "transparency",
            "[transparent, secretive]",
            "[transparent, transparent]",
            "Borea",
            "doctrine_by_transparency",
        ),
        (
            "transparency.persona",
            "[transparent, secretive]",
            "[transparent, transparent]",
            "Borea",
            "doctrine_by_transparency",
        ),
    ],
)
def test_a_sweep_refuses_a_level_the_text_was_not_written_for(
    tmp_path: Path, factor: str, first: str, second: str, state: str, field: str
) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN)
    path = tmp_path / "unwritten.yaml"
    path.write_text(UNWRITTEN.format(factor=factor, first=first, second=second))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    message = " ".join(result.output.split())
    assert result.exit_code == 2, message
    assert f"state {state} has no {field}" in message
    assert f"factors.{factor}" in message
    assert not (tmp_path / "out").exists()


def test_rules_factors_and_unchanged_levels_need_no_fragments(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN)
    path = tmp_path / "ok.yaml"
    path.write_text(
        UNWRITTEN.format(
            factor="regime.rules", first="[democracy, autocracy]", second="[autocracy, autocracy]"
        )
        + "  regime.persona:\n    - [democracy, autocracy]\n"  # as the scenario says
        + "  transparency:\n    - [transparent, secretive]\n    - [secretive, secretive]\n"
    )
    assert len(expand(load_experiment(path), path)) == 2 * 2


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_examples_expand(example: Path) -> None:
    assert expand(load_experiment(example), example)


async def test_the_header_records_the_text_each_state_was_shown(tmp_path: Path) -> None:
    scenario, _ = load_scenario("two-rivals")
    states = [
        s.model_copy(
            update={
                "persona_regime": Regime.AUTOCRACY,
                "persona_transparency": Transparency.SECRETIVE,
            }
        )
        for s in scenario.states
    ]
    scenario = scenario.model_copy(update={"states": states})
    aria = policy_model("hawk")
    path = await play_scenario(
        scenario.model_copy(update={"rules": scenario.rules.model_copy(update={"rounds": 1})}),
        {"Aria": fake(aria), "Borea": fake(policy_model("dove"))},
        RunConfig(seed=0, out_dir=tmp_path),
    )
    header = read_record(path).header
    shown = header.persona_text["Aria"]
    assert shown.name == "Arian State"
    assert shown.doctrine == (
        "A state that fought a border war with Borea a generation ago. It is ruled by a small"
        " council that sets defence policy alone. Its defence spending is a state secret."
    )
    system = aria.calls[0][0].text
    assert f"leadership of {shown.name} (Aria)" in system
    assert f"Doctrine: {shown.doctrine}" in system
    assert header.persona_text["Borea"].name == "Borean State"
    # the snapshot alone reproduces the same text
    assert header.scenario.state("Aria").shown_doctrine == shown.doctrine
