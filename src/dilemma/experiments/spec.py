"""Experiment files: base scenarios x factors x repeats, expanded to fully resolved run specs.

Factors (each a list of levels):
- `regime`: one list of regimes per level, one entry per state in scenario order.
- `transparency`: likewise, transparent / secretive per state.
- `regime.persona`, `transparency.persona`: same levels, but only what the models are told (the
  persona text and the labels in observations); the world's rules keep the scenario's values.
- `regime.rules`, `transparency.rules`: same levels, but only the world's mechanics (democratic
  forewarning; intelligence noise and lag, verification and summit disclosure of secretive
  states); the models keep being told the scenario's values. Plain `regime` / `transparency`
  change both, so they cannot be combined with their `.persona` / `.rules` forms.
- `prompt_setup`: prompt setup names.
- `model`: a model spec for every state; `model.<STATE_ID>`: for one state.
- `rules.<FIELD>`: any scenario rule value (e.g. `rules.intel_noise`).
- `temperature`: the sampling temperature of every model (e.g. `[0.0, 0.7]`).

Temperatures: `temperature` (top level) sets every model's, `temperatures` (model spec ->
value) one model's; a `temperature` factor overrides both. Unset, each provider's default applies
(nothing is sent). Scripted policies have no temperature.
- `n_states`: the number of states (2 to 8) of a symmetric scenario (the built-in `symmetric`):
  its states are replaced by that many copies of the first, named State A, State B, ...
  (`scenarios.library.with_n_states`). Applied before every other factor, so per-state factors
  (`regime`, ...) list one value per state of the resized scenario.

Each run spec has a deterministic id, a hash of the resolved spec and its seed, so the same file
always names the same runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from dilemma.agents.prompt_setup import PromptSetupError, check_setup_fits, load_prompt_setup
from dilemma.evaluation.measure_sets import check_margins, check_primary, missing_margins
from dilemma.models.registry import check_spec
from dilemma.models.spec import DEFAULT_SPEC, ModelSpec, ModelSpecError
from dilemma.records.schema import SequentialPlan
from dilemma.scenarios.library import (
    MAX_STATES,
    MIN_STATES,
    ScenarioError,
    field_path,
    load_scenario,
    parse_scenario,
    read_yaml,
    with_n_states,
)
from dilemma.scenarios.schema import Rules, Scenario

FACTOR_PREFIXES = ("model.", "rules.")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Experiment names: a folder name that cannot be `.`, `..` or hidden, or hold a separator."""
MAX_RUNS = 100_000
"""Most runs one experiment may expand to (scenarios x factor levels x repeats)."""
IDENTITY_FACTORS = (
    "regime",
    "transparency",
    "regime.persona",
    "regime.rules",
    "transparency.persona",
    "transparency.rules",
)
"""Factors that set a regime or transparency per state: both sides, the persona or the rules."""
N_STATES = "n_states"
FACTORS = (*IDENTITY_FACTORS, "prompt_setup", "model", "temperature", N_STATES)
MAX_TEMPERATURE = 2.0
"""Highest sampling temperature accepted (OpenAI's range is 0 to 2)."""


class ExperimentError(ValueError):
    """An experiment file that cannot be used; the message names the file and the field."""


class Experiment(BaseModel):
    """A declared experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(
        min_length=1,
        max_length=60,
        pattern=NAME_PATTERN,
        description="folder name of the sweep's records: letters, digits, _ . -, not starting"
        " with . or -",
    )
    description: str = ""
    scenarios: list[str] = Field(min_length=1, description="built-in names or YAML paths")
    factors: dict[str, list[Any]] = Field(default_factory=dict)
    repeats: StrictInt = Field(default=1, ge=1, le=10_000, description="seeds 0 .. repeats-1")
    seed_base: StrictInt = 0
    rounds: StrictInt | None = Field(default=None, ge=1, le=200)
    model: str | None = Field(default=None, description="model spec for states no factor sets")
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=MAX_TEMPERATURE,
        description="sampling temperature of every model (default: each provider's own)",
    )
    temperatures: dict[str, float] = Field(
        default_factory=dict,
        description="sampling temperature per model spec, over `temperature`",
    )
    max_retries: StrictInt = Field(default=2, ge=0, le=10)
    primary: list[str] | None = Field(
        default=None,
        min_length=1,
        description="measures that decide `dilemma compare`'s verdict (default: a documented set)",
    )
    margins: dict[str, float] = Field(
        default_factory=dict, description="equivalence margin per measure, in its own units"
    )
    sequential: SequentialPlan | None = Field(
        default=None,
        description="planned looks (seeds per cell) and alpha spending for `dilemma compare`",
    )

    @field_validator("temperatures")
    @classmethod
    def _temperatures_in_range(cls, temperatures: dict[str, float]) -> dict[str, float]:
        for spec, value in temperatures.items():
            if not 0 <= value <= MAX_TEMPERATURE:
                raise ValueError(f"{spec}: temperature {value} is not between 0 and 2")
        return temperatures

    def sets_temperature(self) -> bool:
        """Whether the file sets a temperature (top level, per model or as a factor)."""
        return (
            self.temperature is not None or bool(self.temperatures) or "temperature" in self.factors
        )

    @field_validator("primary")
    @classmethod
    def _known_primary(cls, primary: list[str] | None) -> list[str] | None:
        return None if primary is None else check_primary(primary)

    @field_validator("margins")
    @classmethod
    def _known_margins(cls, margins: dict[str, float]) -> dict[str, float]:
        return check_margins(margins)

    @model_validator(mode="after")
    def _primary_have_margins(self) -> Experiment:
        missing = missing_margins(self.primary or [], self.margins)
        if missing:
            raise ValueError(
                f"primary measure(s) {', '.join(missing)} have no default equivalence margin;"
                " declare one under `margins:`"
            )
        return self

    @model_validator(mode="after")
    def _repeats_is_a_look(self) -> Experiment:
        plan = self.sequential
        if plan is not None and self.repeats not in plan.looks:
            raise ValueError(
                f"sequential.looks: repeats ({self.repeats}) is not one of the planned looks"
                f" {plan.looks}; repeats is the look the sweep runs to: set it to the first"
                f" look ({plan.looks[0]}), compare, then raise it to the next look and"
                " `dilemma sweep FILE --resume` (the last look is the most seeds per cell)"
            )
        return self

    def compare_settings(self) -> dict[str, object]:
        """What `dilemma compare` reads back from each record's header (only what is set)."""
        out: dict[str, object] = {}
        if self.primary is not None:
            out["primary"] = list(self.primary)
        if self.margins:
            out["margins"] = dict(self.margins)
        if self.sequential is not None:
            out["sequential"] = self.sequential.model_dump()
        return out

    @field_validator("factors")
    @classmethod
    def _known_factors(cls, factors: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, levels in factors.items():
            if name not in FACTORS and not name.startswith(FACTOR_PREFIXES):
                raise ValueError(
                    f"unknown factor {name!r}; use one of {list(FACTORS)} or model.<STATE_ID>,"
                    " rules.<FIELD>"
                )
            if name.startswith("rules.") and name[6:] not in Rules.model_fields:
                raise ValueError(
                    f"factor {name!r}: no such rule; rules: {list(Rules.model_fields)}"
                )
            if not levels:
                raise ValueError(f"factor {name!r} has no levels")
            if name == "temperature":
                for level in levels:
                    ok = isinstance(level, int | float) and not isinstance(level, bool)
                    if not ok or not 0 <= level <= MAX_TEMPERATURE:
                        raise ValueError(
                            f"factor 'temperature': level {level!r} is not a number from 0 to 2"
                        )
            if name == N_STATES:
                for level in levels:
                    if isinstance(level, bool) or not isinstance(level, int):
                        raise ValueError(f"factor n_states: levels are integers, got {level!r}")
                    if not MIN_STATES <= level <= MAX_STATES:
                        raise ValueError(
                            f"factor n_states: {level} is out of range; a scenario has"
                            f" {MIN_STATES} to {MAX_STATES} states"
                        )
        for both in ("regime", "transparency"):
            split = [f"{both}.persona", f"{both}.rules"]
            if both in factors and any(f in factors for f in split):
                raise ValueError(
                    f"factor {both!r} sets both the persona and the rules, so it cannot be"
                    f" combined with {' or '.join(f for f in split if f in factors)}; cross"
                    f" {split[0]} with {split[1]} instead"
                )
        return factors


class RunSpec(BaseModel):
    """One fully resolved run of an experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    experiment: str
    scenario_source: str
    scenario: dict[str, Any]
    models: dict[str, str]
    prompt_setup: str
    seed: int
    max_retries: int
    conditions: dict[str, str]
    temperatures: dict[str, float] = Field(default_factory=dict)
    """Sampling temperature by state id, for the states that have one set (none: the
    provider's default)."""


def level_label(level: Any) -> str:
    """A readable label for a factor level (lists are joined with '/')."""
    if isinstance(level, list):
        return "/".join(str(x) for x in level)
    return str(level)


def _temperatures(
    experiment: Experiment, specs: dict[str, str], level: float | None
) -> dict[str, float]:
    """Each state's temperature: the factor level, else its model's, else the experiment's;
    states with none (and scripted ones) are left out."""
    out: dict[str, float] = {}
    for sid, spec in specs.items():
        if ModelSpec.parse(spec).is_scripted:
            continue
        value = level if level is not None else experiment.temperatures.get(spec)
        value = value if value is not None else experiment.temperature
        if value is not None:
            out[sid] = float(value)
    return out


def _apply(
    data: dict[str, Any], models: dict[str, str], name: str, level: Any, where: str
) -> str | None:
    """Apply one factor level to scenario data; return a prompt setup name if it sets one."""
    states = data["states"]
    if name == "temperature":
        return None  # applied to the models (`_temperatures`), not to the scenario
    if name in IDENTITY_FACTORS:
        dimension, _, side = name.partition(".")
        if not isinstance(level, list) or len(level) != len(states):
            raise ExperimentError(
                f"{where}: each level must list one {dimension} per state ({len(states)} states)"
            )
        told = f"persona_{dimension}"
        for state, value in zip(states, level, strict=True):
            if side == "persona":
                state[told] = value
            elif side == "rules":
                if state.get(told) is None:  # the models keep being told the scenario's value
                    state[told] = state[dimension]
                state[dimension] = value
            else:
                state[dimension] = value
                state[told] = None  # the persona follows
    elif name == "prompt_setup":
        return str(level)
    elif name == "model":
        for state in states:
            models[state["id"]] = str(level)
    elif name.startswith("model."):
        sid = name[6:]
        if sid not in [s["id"] for s in states]:
            raise ExperimentError(f"{where}: unknown state id {sid!r}")
        models[sid] = str(level)
    elif name.startswith("rules."):
        data.setdefault("rules", {})[name[6:]] = level
    return None  # n_states is applied first, by `expand`


_TOLD_TEXT = {"regime": "doctrine_by_regime", "transparency": "doctrine_by_transparency"}
"""Dimension -> the state field that must give its per-level doctrine for a factor to tell a
state a level its scenario text was not written for."""


def _check_level_text(base: Scenario, scenario: Scenario, names: list[str], where: str) -> None:
    """Refuse a factor that tells a state a regime or transparency other than its scenario's
    when the state's doctrine has no fragments for that dimension: its text was written for one
    level and would contradict the other (e.g. a "parliamentary republic" told it is an
    autocracy). `.rules` factors change no text and need none."""
    for dimension, field in _TOLD_TEXT.items():
        factors = [n for n in names if n in (dimension, f"{dimension}.persona")]
        if not factors:
            continue
        for before, after in zip(base.states, scenario.states, strict=True):
            shown = f"shown_{dimension}"
            if getattr(before, shown) == getattr(after, shown) or getattr(after, field):
                continue
            raise ExperimentError(
                f"{where}: factors.{factors[0]} tells state {after.id} it is"
                f" {getattr(after, shown).value}, but its scenario text was written for"
                f" {getattr(before, shown).value}: state {after.id} has no {field}. Give the"
                f" state a neutral doctrine plus {field} (one fragment per level; an empty"
                " fragment when nothing needs saying), and name_by_regime if its name implies a"
                " regime"
            )


def _run_id(spec: dict[str, Any]) -> str:
    blob = json.dumps(spec, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


EXAMPLES_DIR = Path(__file__).parent / "examples"
"""The example experiments shipped with the package, found by name (`dilemma sweep NAME`)."""


def example_names() -> list[str]:
    """Names of the packaged example experiments."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


def find_experiment(name_or_path: Path) -> Path:
    """A packaged example experiment by name, or an experiment file by path.

    A name that is no example and no file is refused, listing the examples."""
    if str(name_or_path) in example_names():
        return EXAMPLES_DIR / f"{name_or_path}.yaml"
    if not name_or_path.exists():
        raise ExperimentError(
            f"{name_or_path}: no such file and no example experiment of that name"
            f" (examples: {', '.join(example_names())})"
        )
    return name_or_path


def load_experiment(path: Path) -> Experiment:
    """Read and validate an experiment file."""
    try:
        data = read_yaml(path)
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: (top level): expected a mapping of experiment fields")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: invalid experiment"]
        for err in exc.errors():
            lines.append(f"  {field_path(err['loc'])}: {err['msg']}")
        raise ExperimentError("\n".join(lines)) from exc


def run_count(experiment: Experiment) -> int:
    """How many runs the experiment expands to: scenarios x factor levels x repeats."""
    count = len(experiment.scenarios) * experiment.repeats
    for levels in experiment.factors.values():
        count *= len(levels)
    return count


def _check_model_specs(experiment: Experiment, source: Path) -> None:
    """Refuse a malformed model spec or an unknown scripted policy, naming its field."""
    declared = [("model", experiment.model)]
    for name, levels in experiment.factors.items():
        if name == "model" or name.startswith("model."):
            declared += [(f"factors.{name}.{n}", level) for n, level in enumerate(levels)]
    for where, spec in declared:
        if spec is None:
            continue
        try:
            check_spec(spec if isinstance(spec, str) else repr(spec))
        except ModelSpecError as exc:
            raise ExperimentError(f"{source}: {where}: {exc}") from exc


def expand(experiment: Experiment, source: Path) -> list[RunSpec]:
    """Every run of the experiment, fully resolved and validated, in a stable order.

    Refused (ExperimentError, with the count) above MAX_RUNS runs, before any is built.
    """
    count = run_count(experiment)
    if count > MAX_RUNS:
        raise ExperimentError(
            f"{source}: the experiment expands to {count:,} runs (scenarios x factor levels x"
            f" repeats), more than the limit of {MAX_RUNS:,}; split it into several experiments"
        )
    _check_model_specs(experiment, source)
    names = list(experiment.factors)
    runs: list[RunSpec] = []
    hashes: dict[str, dict[str, str]] = {}
    fits: set[tuple[str, str, str]] = set()
    checked: set[str] = set()
    for sname in experiment.scenarios:
        base_dir_path = source.parent / sname
        ref = str(base_dir_path) if base_dir_path.suffix in (".yaml", ".yml") else sname
        try:
            base, label = load_scenario(ref)
        except ScenarioError as exc:
            raise ExperimentError(f"{source}: scenarios: {exc}") from exc
        for combo in itertools.product(*(experiment.factors[n] for n in names)):
            data = base.model_dump(mode="json")
            if experiment.rounds is not None:
                data["rules"]["rounds"] = experiment.rounds
            models: dict[str, str] = {}
            setup = base.prompt_setup
            conditions = {"scenario": base.name}
            levels = dict(zip(names, combo, strict=True))
            reference = base  # what the per-state text checks compare with
            if N_STATES in levels:
                try:
                    data = with_n_states(data, levels[N_STATES], f"{source}: factors.n_states")
                    reference = parse_scenario(copy.deepcopy(data), f"{source}: factors.n_states")
                except ScenarioError as exc:
                    raise ExperimentError(str(exc)) from exc
            for name, level in zip(names, combo, strict=True):
                where = f"{source}: factors.{name}"
                chosen = _apply(data, models, name, level, where)
                setup = chosen or setup
                conditions[name] = level_label(level)
            where = f"{source} (scenario {base.name}, {conditions})"
            try:
                scenario = parse_scenario(data, where)
            except ScenarioError as exc:
                raise ExperimentError(str(exc)) from exc
            _check_level_text(reference, scenario, names, where)
            fit = (setup, scenario.rules.horizon, scenario.rules.communication)
            if fit not in fits:
                try:
                    loaded = load_prompt_setup(setup)
                    check_setup_fits(loaded, scenario.rules)
                except PromptSetupError as exc:
                    raise ExperimentError(f"{where}: prompt_setup: {exc}") from exc
                hashes.setdefault(setup, loaded.template_hashes())
                fits.add(fit)
            fallback = scenario.model or experiment.model or DEFAULT_SPEC
            specs = {s.id: models.get(s.id) or s.model or fallback for s in scenario.states}
            for sid, spec in specs.items():
                if spec not in checked:
                    try:
                        check_spec(spec)
                    except ModelSpecError as exc:
                        raise ExperimentError(f"{where}: model of state {sid}: {exc}") from exc
                    checked.add(spec)
            level = combo[names.index("temperature")] if "temperature" in names else None
            temperatures = _temperatures(experiment, specs, level)
            for n in range(experiment.repeats):
                seed = experiment.seed_base + n
                resolved = {
                    "scenario": scenario.model_dump(mode="json"),
                    "models": specs,
                    "prompt_setup": setup,
                    "prompt_hashes": hashes[setup],
                    "max_retries": experiment.max_retries,
                    "seed": seed,
                }
                if temperatures:  # only then: the ids of runs without one stay as they were
                    resolved["temperatures"] = temperatures
                runs.append(
                    RunSpec(
                        run_id=_run_id(resolved),
                        experiment=experiment.name,
                        scenario_source=label,
                        scenario=resolved["scenario"],
                        models=specs,
                        prompt_setup=setup,
                        seed=seed,
                        max_retries=experiment.max_retries,
                        conditions=conditions,
                        temperatures=temperatures,
                    )
                )
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise ExperimentError(f"{source}: two factor combinations resolve to the same run")
    return runs
