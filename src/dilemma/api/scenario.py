"""Load a scenario to run: a `Scenario`, a built-in name or a YAML file, with overrides, and
check the prompt setup it will use. Light to import (no model provider), for `dilemma validate`.
"""

from __future__ import annotations

from pathlib import Path

from dilemma.agents.prompt_setup import PromptSetupError, load_prompt_setup
from dilemma.scenarios.library import ScenarioError, load_scenario, parse_scenario
from dilemma.scenarios.schema import Scenario

ScenarioRef = Scenario | str | Path
"""A scenario object, a built-in scenario name or a YAML file."""


def with_rounds(scenario: Scenario, rounds: int | None, source: str) -> Scenario:
    """The scenario with its number of rounds overridden (validated again); what the original
    leaves unset stays unset."""
    if rounds is None:
        return scenario
    data = scenario.model_dump(mode="json", exclude_unset=True)
    data.setdefault("rules", {})["rounds"] = rounds
    return parse_scenario(data, f"{source} (with --rounds {rounds})")


def check_prompt_setup(scenario: Scenario, source: str, override: str | None) -> None:
    """Load the setup a run will use; a bad one named by the scenario is a scenario error."""
    if override:
        load_prompt_setup(override)
        return
    try:
        load_prompt_setup(scenario.prompt_setup)
    except PromptSetupError as exc:
        raise ScenarioError(f"{source}: prompt_setup: {exc}") from exc


def prepare(
    scenario: ScenarioRef, *, rounds: int | None = None, prompt_setup: str | None = None
) -> tuple[Scenario, str]:
    """(scenario, source) ready to run: loaded, with `rounds` applied, and its prompt setup (or
    `prompt_setup`) checked. The source is the built-in name, the file, or the scenario's name.

    Raises ScenarioError or PromptSetupError naming the file and field.
    """
    if isinstance(scenario, Scenario):
        loaded, source = scenario, scenario.name
    else:
        loaded, source = load_scenario(str(scenario))
    loaded = with_rounds(loaded, rounds, source)
    check_prompt_setup(loaded, source, prompt_setup)
    return loaded, source
