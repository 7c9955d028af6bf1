"""Run one scenario end to end: resolve models, write the header, play, close the record.

`RunConfig` says how to play and record a run. `resolve_models` turns specs into chat models;
`play_scenario` plays with ready models; `run_scenario` does both and closes the models.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from dilemma.agents.human_seat import Desk, HumanAgent
from dilemma.agents.prompt_setup import (
    PromptSetup,
    check_setup_fits,
    load_prompt_setup,
    run_setup_name,
)
from dilemma.agents.state_agent import RunIdentity, StateAgent
from dilemma.core.agent import Agent
from dilemma.core.personas import Persona
from dilemma.core.safe_text import redact
from dilemma.models.budget import SpendBudget, SpendLimitReached
from dilemma.models.registry import ModelOptions, ResolvedModel, resolve_model
from dilemma.models.response_cache import ResponseCache
from dilemma.models.spec import DEFAULT_SPEC
from dilemma.records.provenance import git_state, package_versions, utc_now
from dilemma.records.scenario_snapshot import ScenarioSnapshot
from dilemma.records.schema import (
    ExperimentInfo,
    Header,
    ModelInfo,
    PersonaText,
    PromptInfo,
    RunEndEvent,
    Totals,
)
from dilemma.records.writer import RecordWriter
from dilemma.scenarios.schema import Scenario
from dilemma.simulation.engine import Engine, RoundReport
from dilemma.simulation.replay import Replay, ReplayingAgent
from dilemma.simulation.world import new_world


class RunSpecError(ValueError):
    """Run arguments that do not fit the scenario (e.g. a model for an unknown state)."""


class RunStopped(RuntimeError):
    """A run stopped cleanly because a spend limit was reached; its record ends `stopped`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"run stopped: {reason} (record: {path})")
        self.path = path
        self.reason = reason


class RunFailed(RuntimeError):
    """A run that started but could not finish; its record ends with the cause."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"run failed: {cause} (record: {path})")
        self.path = path
        self.cause = cause


def model_specs(
    scenario: Scenario, overrides: dict[str, str] | None, default: str | None
) -> dict[str, str]:
    """The model spec of every state: override, then state, then scenario, then default."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(scenario.ids))
    if unknown:
        raise RunSpecError(
            f"model override for unknown state id(s) {unknown}; known: {scenario.ids}"
        )
    return {
        s.id: overrides.get(s.id) or s.model or scenario.model or default or DEFAULT_SPEC
        for s in scenario.states
    }


def run_id_for(scenario: Scenario, specs: dict[str, str], setup: PromptSetup, seed: int) -> str:
    """A stable id from everything that defines the run."""
    blob = json.dumps(
        {
            "scenario": scenario.model_dump(mode="json"),
            "models": specs,
            "prompt": setup.template_hashes(),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _file_part(name: str) -> str:
    """A scenario name as part of a file name: letters, digits, `_` and `-` only (no separator,
    no dot, so never `..`)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:60] or "run"


def _record_path(out_dir: Path, scenario: Scenario, seed: int, run_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = f"{_file_part(scenario.name)}_s{seed}_{stamp}_{run_id}"
    path = out_dir / f"{base}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = out_dir / f"{base}_{n}.jsonl"
    return path


def persona_of(scenario: Scenario, state_id: str) -> Persona:
    """Who the model is told it is: the persona regime and transparency, not the rules'."""
    s = scenario.state(state_id)
    return Persona(
        s.id, s.shown_name, s.shown_regime, s.shown_transparency, s.disposition, s.shown_doctrine
    )


def resolve_models(
    specs: dict[str, str], seed: int, options: ModelOptions | None
) -> dict[str, ResolvedModel]:
    """Resolve each distinct spec once; states with the same spec share the model."""
    by_spec: dict[str, ResolvedModel] = {}
    try:
        for spec in dict.fromkeys(specs.values()):
            by_spec[spec] = resolve_model(spec, seed=seed, options=options)
    except BaseException:
        close_models(by_spec.values())  # e.g. a started local server, when a later spec fails
        raise
    return {sid: by_spec[spec] for sid, spec in specs.items()}


def close_models(models: Iterable[ResolvedModel]) -> None:
    """Release each distinct model once (stops a local server)."""
    for model in {id(m): m for m in models}.values():
        if model.close is not None:
            model.close()


@dataclass(frozen=True)
class RunConfig:
    """How to play and record one run, apart from the scenario and its models."""

    seed: int
    """Seed of all randomness of the world (and of scripted policies)."""
    out_dir: Path
    """Folder for the record when `record_path` is not given."""
    prompt_setup: str | None = None
    """Prompt setup name or YAML file; None means the scenario's own."""
    max_retries: int = 2
    """Re-asks after an invalid reply."""
    max_in_flight: int | asyncio.Semaphore = 4
    """Model calls in flight at most, or a semaphore shared with other runs (a sweep)."""
    scenario_source: str = ""
    """Where the scenario came from (built-in name or file); default: its name."""
    experiment: ExperimentInfo | None = None
    """The experiment and conditions this run belongs to, for the header."""
    record_path: Path | None = None
    """Exact record file; default: a new, stamped file in `out_dir`."""
    run_id: str | None = None
    """Default: a hash of scenario, models, prompt templates and seed."""
    argv: Sequence[str] | None = None
    """Command line for the header; default: sys.argv."""
    cache: ResponseCache | None = None
    on_round: Callable[[RoundReport], None] | None = None
    """Called after every resolved round."""
    on_event: Callable[[BaseModel], None] | None = None
    """Called with every event after it is written."""
    budget: SpendBudget | None = None
    """Spend limits shared with other runs (a sweep): a call that would exceed them is not
    made, and the run stops (RunStopped, outcome `stopped`) once its calls in flight are done."""
    replay: Replay | None = None
    """Recorded turns to answer from a record before playing on live (`--resume`)."""
    desk: Desk | None = None
    """Where the turns of human seats (model spec `human`) go: the terminal or the web app.
    A run with a human seat and no desk is refused (RunSpecError)."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {self.max_retries}")
        if isinstance(self.max_in_flight, int) and self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, not {self.max_in_flight}")


def _load_setup(scenario: Scenario, config: RunConfig, specs: Iterable[str]) -> PromptSetup:
    """The run's prompt setup: see `run_setup_name` (`local` alone defaults to base-model)."""
    named = "prompt_setup" in scenario.model_fields_set
    setup = load_prompt_setup(
        run_setup_name(config.prompt_setup, scenario.prompt_setup, named, specs)
    )
    check_setup_fits(setup, scenario.rules)
    return setup


async def run_scenario(
    scenario: Scenario,
    config: RunConfig,
    *,
    overrides: Mapping[str, str] | None = None,
    default_model: str | None = None,
    options: ModelOptions | None = None,
) -> Path:
    """Resolve the models (see `model_specs`), play `scenario`, close the models.

    Returns the record's path. Raises RunFailed (after closing the record with the cause) if a
    model call fails beyond its retries, RunStopped (after closing it as `stopped`) if a spend
    limit is reached.
    """
    specs = model_specs(scenario, dict(overrides) if overrides else None, default_model)
    setup = _load_setup(scenario, config, specs.values())  # fails before any model starts
    resolved = resolve_models(specs, config.seed, options)
    try:
        return await _play(scenario, resolved, setup, config)
    finally:
        close_models(resolved.values())


async def play_scenario(
    scenario: Scenario, models: Mapping[str, ResolvedModel], config: RunConfig
) -> Path:
    """Play `scenario` with ready models (one per state; not closed here); see run_scenario."""
    setup = _load_setup(scenario, config, (m.spec for m in models.values()))
    return await _play(scenario, models, setup, config)


def _header(
    scenario: Scenario,
    models: Mapping[str, ResolvedModel],
    setup: PromptSetup,
    config: RunConfig,
    run_id: str,
) -> Header:
    """The record's first line: everything needed to reproduce and compare the run."""
    cache = config.cache
    revision, dirty = git_state()
    return Header(
        run_id=run_id,
        scenario_source=config.scenario_source or scenario.name,
        scenario=ScenarioSnapshot.of(scenario),
        persona_text={
            s.id: PersonaText(name=s.shown_name, doctrine=s.shown_doctrine) for s in scenario.states
        },
        experiment=config.experiment,
        prompt=PromptInfo(
            name=setup.name, version=setup.version, template_hashes=setup.template_hashes()
        ),
        models={
            sid: ModelInfo(
                spec=m.spec,
                provider=m.provider,
                model=m.model,
                params=m.params,
                structured_output=m.structured.value,
                attempt_timeout_s=m.attempt_timeout_s,
                call_deadline_s=m.call_deadline_s,
            )
            for sid, m in models.items()
        },
        seed=config.seed,
        max_retries=config.max_retries,
        response_cache="off" if cache is None else "replay" if cache.replay else "read_write",
        package_versions=package_versions(),
        git_revision=revision,
        git_dirty=dirty,
        argv=list(config.argv if config.argv is not None else sys.argv),
        started_at=utc_now(),
    )


_playing = 0
"""Runs playing now in this process (see `_heap_frozen`)."""
_froze = False
"""Whether `_heap_frozen` froze the heap (it leaves a heap frozen by someone else alone)."""


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """While runs play, leave the objects alive when the first began (modules, models, the
    caller's data) out of the cyclic garbage collector's passes (`gc.freeze`), and hand them back
    when the last run ends (`gc.unfreeze`).

    A run allocates enough to trigger full collections now and then, each of which would
    otherwise walk every object of the process; over a sweep that cost more per model call than
    writing its record. Objects are still freed by reference counting; cyclic garbage among the
    frozen objects waits for the unfreeze.
    """
    global _playing, _froze
    if _playing == 0 and gc.get_freeze_count() == 0:
        gc.freeze()
        _froze = True
    _playing += 1
    try:
        yield
    finally:
        _playing -= 1
        if _playing == 0 and _froze:
            _froze = False
            gc.unfreeze()


async def _play(
    scenario: Scenario,
    models: Mapping[str, ResolvedModel],
    setup: PromptSetup,
    config: RunConfig,
) -> Path:
    specs = {sid: m.spec for sid, m in models.items()}
    run_id = config.run_id or run_id_for(scenario, specs, setup, config.seed)
    path = config.record_path or _record_path(config.out_dir, scenario, config.seed, run_id)
    limiter = (
        config.max_in_flight
        if isinstance(config.max_in_flight, asyncio.Semaphore)
        else asyncio.Semaphore(config.max_in_flight)
    )
    humans = [sid for sid in scenario.ids if models[sid].is_human]
    desk = config.desk
    if humans and desk is None:
        raise RunSpecError(
            f"state(s) {humans} have model `human`: play them with `dilemma play` (terminal) or"
            " `dilemma serve` (web)"
        )
    if humans and scenario.rules.communication != "full":
        raise RunSpecError(
            f"state(s) {humans} have model `human`, but rules.communication is"
            f" {scenario.rules.communication.value}: the seats (terminal and web) ask for every"
            " channel, so human players need communication full"
        )
    header = _header(scenario, models, setup, config, run_id)
    agents: dict[str, Agent] = {}
    for sid in scenario.ids:
        if desk is not None and sid in humans:
            agents[sid] = HumanAgent(persona_of(scenario, sid), models[sid], setup, desk)
            continue
        agents[sid] = StateAgent(
            persona_of(scenario, sid),
            models[sid],
            setup,
            max_retries=config.max_retries,
            limiter=limiter,
            cache=config.cache,
            run=RunIdentity(run_id=run_id, seed=config.seed),
            budget=config.budget,
        )
    if config.replay is not None:
        agents = {sid: ReplayingAgent(agent, config.replay) for sid, agent in agents.items()}
    writer = RecordWriter(path)
    writer.open(header)
    on_event = config.on_event

    def emit(event: BaseModel) -> None:
        writer.write(event)
        if on_event is not None:
            on_event(event)

    engine = Engine(new_world(scenario, config.seed), agents, emit)
    try:
        with _heap_frozen():
            end = await engine.play(config.on_round)
        writer.write(end)
    except SpendLimitReached as exc:
        writer.write(_failed_end(engine, exc.reason, "stopped"))
        raise RunStopped(path, exc.reason) from exc
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        cause = "interrupted" if cancelled else redact(f"{type(exc).__name__}: {exc}")
        writer.write(_failed_end(engine, cause, "interrupted" if cancelled else "failed"))
        if cancelled:
            raise
        raise RunFailed(path, cause) from exc
    finally:
        writer.close()
    return path


def _failed_end(
    engine: Engine, cause: str, outcome: Literal["failed", "interrupted", "stopped"]
) -> RunEndEvent:
    """The closing event of a run that did not finish."""
    totals: Totals = engine.totals
    war = engine.world.war
    return RunEndEvent(
        outcome=outcome,
        rounds_played=max(0, engine.world.round - 1),
        war_round=war.round if war else None,
        war_initiator=war.initiator if war else None,
        totals=totals,
        error=cause,
        ended_at=utc_now(),
    )
