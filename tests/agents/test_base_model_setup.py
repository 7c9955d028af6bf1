"""The `base-model` prompt setup: its worked examples, and its use by default for `local` alone.

The examples are parsed back out of the system template and checked against today's observation
and reply schemas, so a schema change that the examples do not follow fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from dilemma.agents.prompt_setup import (
    BASE_MODEL_SETUP,
    OBSERVATION_OPEN,
    load_prompt_setup,
    render_system,
    render_turn,
    run_setup_name,
)
from dilemma.scenarios.library import load_builtin, parse_scenario

from benchmarks.bench_local_model import incoherent
from dilemma.api.scenario import with_rounds
from dilemma.core.decision import (
    Decision,
    Intent,
    decision_reply_model,
    negotiation_reply_model,
    schema_of,
)
from dilemma.core.ladder import ACTION_RUNG, Action, Rung
from dilemma.core.observation import Observation, Phase, extract_observation
from dilemma.core.observation_compact import compact_observation_json
from dilemma.core.personas import Persona
from dilemma.models.fake import FakeChatModel
from dilemma.records.reader import read_record
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake
from tests.helpers.replies import only_record, responder, two_states

SETUP = load_prompt_setup(BASE_MODEL_SETUP)
ENTRY = re.compile(r"<observation>(.*?)</observation>\n(Decision|Messages): (\{.*\})\n")
EXAMPLE_TEXTS = [(obs, kind, reply) for obs, kind, reply in ENTRY.findall(SETUP.system)]
EXAMPLES = [
    (extract_observation(f"<observation>{obs}</observation>"), kind, json.loads(reply))
    for obs, kind, reply in EXAMPLE_TEXTS
]
DECISIONS = [(obs, reply) for obs, kind, reply in EXAMPLES if kind == "Decision"]


def _reply_model(obs: Observation) -> Any:
    offers = [p.id for p in obs.open_proposals or () if p.proposer != obs.you.id]
    return decision_reply_model([o.id for o in obs.others], obs.rules.arms_cap_pct, offers)


def _grammar_order(schema: dict[str, Any]) -> list[str]:
    """Field order of a grammar built from `schema`: required fields first, then the others."""
    required = [k for k in schema["properties"] if k in schema["required"]]
    return required + [k for k in schema["properties"] if k not in schema["required"]]


# --- the worked examples ---------------------------------------------------------------------


def test_examples_are_valid_observations_and_replies() -> None:
    assert len(DECISIONS) == 4 and len(EXAMPLES) == 5
    for obs, kind, reply in EXAMPLES:
        assert kind == ("Decision" if obs.phase is Phase.DECISION else "Messages")
        if obs.phase is Phase.DECISION:
            _reply_model(obs).model_validate(reply)
        else:
            negotiation_reply_model([o.id for o in obs.others]).model_validate(reply)


def test_examples_are_rendered_as_the_setup_renders_observations() -> None:
    # The model reads its own observation in the form its examples show: compact JSON.
    assert SETUP.observation_format == "compact"
    for (text, _, _), (obs, _, _) in zip(EXAMPLE_TEXTS, EXAMPLES, strict=True):
        assert text == compact_observation_json(obs)
    obs = EXAMPLES[0][0]
    turn = render_turn(SETUP, obs, None)
    assert f"<observation>{compact_observation_json(obs)}</observation>" in turn


def test_examples_write_fields_in_the_grammar_order() -> None:
    # A base model copies the examples: their key order is the order the grammar forces.
    for obs, reply in DECISIONS:
        order = _grammar_order(schema_of(_reply_model(obs)))
        assert list(reply) == [k for k in order if k in reply]


def test_examples_cover_every_field_of_a_decision() -> None:
    seen = {key for _, reply in DECISIONS for key in reply}
    assert seen == set(Decision.model_fields)
    for obs, reply in DECISIONS:
        others = [o.id for o in obs.others]
        assert [p["state"] for p in reply["perceived_intent"]] == others  # fixed order
    perceived = {p["intent"] for _, reply in DECISIONS for p in reply["perceived_intent"]}
    assert perceived == {i.value for i in Intent}


def test_examples_choose_what_their_situation_calls_for() -> None:
    rungs = set()
    for _, reply in DECISIONS:
        decision = Decision.model_validate(reply)
        rung = ACTION_RUNG[decision.action]
        rungs.add(rung)
        top = max(t.level for t in decision.threat)
        if top <= 3:
            assert rung in (Rung.DE_ESCALATION, Rung.STATUS_QUO), decision.action
            assert decision.arms_change <= 0
        if rung is Rung.VIOLENT_ESCALATION:
            assert top >= 8 and not incoherent(decision)
    assert {Rung.DE_ESCALATION, Rung.STATUS_QUO, Rung.POSTURING} <= rungs


def test_examples_come_before_anything_that_changes_between_calls() -> None:
    # The server evaluates the shared prefix once and reuses it for later calls.
    first_placeholder = SETUP.system.index("$")
    assert SETUP.system.rfind("</observation>") < first_placeholder
    scenario = load_builtin("triad")
    a, b = scenario.states[0], scenario.states[1]
    from dilemma.simulation.visibility import observe
    from dilemma.simulation.world import new_world

    world = new_world(scenario, seed=0)
    obs = observe(world, a.id, Phase.DECISION, 0)
    persona_a = Persona(a.id, a.name, a.regime, a.transparency, a.disposition, a.doctrine)
    persona_b = Persona(b.id, b.name, b.regime, b.transparency, b.disposition, b.doctrine)
    system_a, system_b = render_system(SETUP, persona_a, obs), render_system(SETUP, persona_b, obs)
    shared = len(SETUP.system[:first_placeholder])
    assert system_a[:shared] == system_b[:shared] and system_a != system_b
    turn = render_turn(SETUP, obs, None)
    assert turn.count(OBSERVATION_OPEN) == 1 and turn.endswith("Decision:")


# --- default for `local` -----------------------------------------------------------------------


def test_run_setup_name_prefers_what_the_user_names() -> None:
    assert run_setup_name("realist", "baseline", True, ["local"]) == "realist"
    assert run_setup_name(None, "realist", True, ["local"]) == "realist"
    assert run_setup_name(None, "baseline", True, ["local"]) == "baseline"
    assert run_setup_name(None, "baseline", False, ["local", "local"]) == BASE_MODEL_SETUP
    assert run_setup_name(None, "baseline", False, ["local", "openai:gpt-4o"]) == "baseline"
    assert run_setup_name(None, "baseline", False, ["scripted:dove"]) == "baseline"
    assert run_setup_name(None, "baseline", False, []) == "baseline"


@pytest.mark.parametrize(
    ("specs", "named", "scenario_setup", "expected"),
    [
        (("local", "local"), None, None, BASE_MODEL_SETUP),
        (("local", "fake"), None, None, "baseline"),
        (("local", "local"), "baseline", None, "baseline"),
        (("local", "local"), None, "realist", "realist"),
    ],
)
async def test_record_states_the_setup_a_local_run_used(
    tmp_path: Path,
    specs: tuple[str, str],
    named: str | None,
    scenario_setup: str | None,
    expected: str,
) -> None:
    scenario = two_states()
    if scenario_setup is not None:
        data = scenario.model_dump(mode="json", exclude_unset=True)
        scenario = parse_scenario({**data, "prompt_setup": scenario_setup}, "pair")
    chats = [FakeChatModel(responder=responder()) for _ in specs]
    models = {sid: fake(chat, spec) for sid, chat, spec in zip("AB", chats, specs, strict=True)}
    out = tmp_path / "runs"
    await play_scenario(
        scenario, models, RunConfig(seed=1, out_dir=out, prompt_setup=named, argv=["t"])
    )
    header = read_record(only_record(out)).header
    setup = load_prompt_setup(expected)
    assert header.prompt.name == expected
    assert header.prompt.template_hashes == setup.template_hashes()
    system = chats[0].calls[0][0].text
    assert system.startswith("CRISIS SIMULATION LOG") == (expected == BASE_MODEL_SETUP)


def test_rounds_override_keeps_an_unnamed_setup_unnamed() -> None:
    loaded = load_builtin("two-rivals")
    assert "prompt_setup" not in loaded.model_fields_set
    changed = with_rounds(loaded, 2, "builtin:two-rivals")
    assert changed.rules.rounds == 2 and "prompt_setup" not in changed.model_fields_set
    assert changed.model_dump() == {
        **loaded.model_dump(),
        "rules": {**loaded.rules.model_dump(), "rounds": 2},
    }
    data = loaded.model_dump(mode="json", exclude_unset=True)
    named = parse_scenario({**data, "prompt_setup": "baseline"}, "x")
    assert with_rounds(named, 2, "x").model_fields_set >= {"prompt_setup"}


# --- the benchmark's incoherence measure --------------------------------------------------------


def _decision(action: Action, target: str, levels: dict[str, int]) -> Decision:
    return Decision.model_validate(
        {
            "threat": [{"state": s, "level": v, "reason": "r"} for s, v in levels.items()],
            "arms_change": 0,
            "action": action.value,
            "target": target,
            "private_intent": [{"state": s, "intent": "defensive"} for s in levels],
            "forecast": [{"state": s, "arms_change": 0} for s in levels],
        }
    )


@pytest.mark.parametrize(
    ("action", "target", "expected"),
    [
        (Action.NUCLEAR_STRIKE, "B", True),  # all-out war against a state rated 0
        (Action.LIMITED_STRIKE, "B", True),  # violent escalation against a state rated 0
        (Action.INVASION, "C", True),  # rated 3: still low
        (Action.INVASION, "D", False),  # rated 4
        (Action.BLOCKADE, "B", False),  # non-violent escalation is not counted
        (Action.STATUS_QUO, "B", False),
    ],
)
def test_incoherent_is_violence_or_war_against_a_low_threat(
    action: Action, target: str, expected: bool
) -> None:
    decision = _decision(action, target, {"B": 0, "C": 3, "D": 4})
    assert incoherent(decision) is expected
    untargeted = decision.model_copy(update={"target": None})
    assert not incoherent(untargeted)
