"""What a sweep would cost, before it runs (`dilemma sweep EXP --dry-run`).

Model calls per run, for each state: rounds x (sub-turns + 1) x (1 + expected re-asks), a
negotiation call per sub-turn and a decision call per round. Expected re-asks per call are 0 for
scripted policies (they always answer valid JSON) and EXPECTED_REASKS for a language model (an
assumption: a capable model rarely needs one, a weak one often); the most calls a run can make
uses every re-ask, x (1 + max_retries). A run that ends early in a war makes fewer calls.
Rounds are the run's realized horizon (a geometric horizon's length is fixed by its seed before
the run; `simulation.horizon`); under communication `public` or `none` there is no negotiation
call.

Tokens: each state's round-1 prompts (system and user prompt of every sub-turn and of the
decision, with the reply schema, which a model answering through a tool receives as the tool's
definition) are rendered from the run's initial world, at CHARS_PER_TOKEN characters a token, and
counted for every call. Later rounds show more history (up to the scenario's
`history_full_rounds` of messages and `history_table_rows` of arms), and a re-ask carries the bad
reply and the correction, so input tokens are a floor. Output tokens are counted at the reply cap
(`max_tokens`, 700 by default) for every call: a ceiling. The cost per model is input and output
tokens at the price table's prices; a model without a price has an unknown cost.

Prompts are rendered once per distinct scenario and prompt setup (the first run's seed stands for
the others), so estimating even the largest experiment takes a moment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dilemma.agents.prompt_setup import load_prompt_setup, render_system, render_turn
from dilemma.core.decision import (
    decision_channels,
    decision_reply_model,
    messages_open,
    negotiation_reply_model,
    schema_text,
)
from dilemma.core.observation import Phase
from dilemma.experiments.spec import RunSpec
from dilemma.models.budget import CHARS_PER_TOKEN
from dilemma.models.pricing import price_of
from dilemma.models.spec import ModelSpec
from dilemma.models.types import ModelOptions
from dilemma.scenarios.schema import Rules, Scenario
from dilemma.simulation.horizon import realized_rounds
from dilemma.simulation.runner import persona_of
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world

EXPECTED_REASKS = 0.1
"""Re-asks per call assumed for a language model (0 for scripted policies)."""
MAX_TOKENS = ModelOptions().max_tokens
"""The reply cap of every model call, the output tokens counted per call."""


@dataclass
class ModelEstimate:
    """The calls, tokens and cost one model spec would take over the runs estimated."""

    spec: str
    calls: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost_usd: float | None = 0.0
    """None when the price table has no price for the model."""


@dataclass
class SweepEstimate:
    """Estimates over a set of runs; see the module docstring for how they are made."""

    runs: int
    calls: float = 0.0
    """Expected model calls."""
    max_calls: int = 0
    """Model calls if every call needed every re-ask."""
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    models: dict[str, ModelEstimate] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float | None:
        """Estimated cost of the priced models (None when no model has a price)."""
        known = [m.cost_usd for m in self.models.values() if m.cost_usd is not None]
        return sum(known) if known else None

    @property
    def unpriced(self) -> list[str]:
        """Model specs whose cost is unknown."""
        return sorted(s for s, m in self.models.items() if m.cost_usd is None)

    def per_run(self, value: float) -> float:
        """A total as a mean per run."""
        return value / self.runs if self.runs else 0.0


def round_one_prompt_chars(run: RunSpec) -> dict[str, list[int]]:
    """Per state: the characters of each round-1 call's prompt (sub-turns, then the decision)."""
    scenario = Scenario.model_validate(run.scenario)
    setup = load_prompt_setup(run.prompt_setup)
    world = new_world(scenario, run.seed)
    world.round = 1
    ids = scenario.ids
    cap = scenario.rules.arms_cap_pct
    communication = scenario.rules.communication
    channels = decision_channels(communication)
    subturns = scenario.rules.subturns if messages_open(communication) else 0
    out: dict[str, list[int]] = {}
    for sid in ids:
        persona = persona_of(scenario, sid)
        others = [o for o in ids if o != sid]
        calls = [(Phase.NEGOTIATION, k) for k in range(1, subturns + 1)]
        calls.append((Phase.DECISION, 0))
        sizes = []
        for phase, subturn in calls:
            obs = observe(world, sid, phase, subturn)
            if phase is Phase.NEGOTIATION:
                schema = negotiation_reply_model(others, communication == "private")
            else:
                offers = [p.id for p in obs.open_proposals or () if p.proposer != sid]
                schema = decision_reply_model(others, cap, offers, channels)
            system = render_system(setup, persona, obs)
            turn = render_turn(setup, obs, schema_text(schema))
            sizes.append(len(system) + len(turn))
        out[sid] = sizes
    return out


def estimate(runs: list[RunSpec]) -> SweepEstimate:
    """Calls, tokens and cost of `runs` (see the module docstring)."""
    result = SweepEstimate(runs=len(runs))
    rendered: dict[str, dict[str, list[int]]] = {}
    for run in runs:
        key = json.dumps([run.scenario, run.prompt_setup], sort_keys=True)
        if key not in rendered:
            rendered[key] = round_one_prompt_chars(run)
        rounds = realized_rounds(Rules.model_validate(run.scenario["rules"]), run.seed)
        for sid, sizes in rendered[key].items():
            spec = run.models[sid]
            parsed = ModelSpec.parse(spec)
            reasks = 0.0 if parsed.is_scripted else EXPECTED_REASKS
            per_round = len(sizes)
            calls = rounds * per_round * (1 + reasks)
            input_tokens = rounds * sum(sizes) / CHARS_PER_TOKEN * (1 + reasks)
            output_tokens = calls * MAX_TOKENS
            result.calls += calls
            result.max_calls += rounds * per_round * (1 + run.max_retries)
            result.input_tokens += input_tokens
            result.output_tokens += output_tokens
            model = result.models.setdefault(spec, ModelEstimate(spec))
            model.calls += calls
            model.input_tokens += input_tokens
            model.output_tokens += output_tokens
            price = price_of(parsed.provider, parsed.model)
            if price is None or model.cost_usd is None:
                model.cost_usd = None
            else:
                model.cost_usd += (
                    input_tokens * price.input + output_tokens * price.output
                ) / 1_000_000
    return result
