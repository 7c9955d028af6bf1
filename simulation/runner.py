"""Run one scenario end to end: resolve models, write the header, play, close the record."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.models import DEFAULT_SPEC, ModelOptions, ResolvedModel, resolve_model
from agents.personas import Persona
from agents.prompt_setup import PromptSetup, load_prompt_setup
from agents.response_cache import ResponseCache
from agents.state_agent import StateAgent
from records.provenance import git_state, package_versions, utc_now
from records.schema import Header, ModelInfo, PromptInfo, RunEndEvent, Totals
from records.writer import RecordWriter
from scenarios.schema import Scenario
from simulation.engine import Engine, RoundReport
from simulation.world import new_world


class RunSpecError(ValueError):
    """Run arguments that do not fit the scenario (e.g. a model for an unknown state)."""


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


def _record_path(out_dir: Path, scenario: Scenario, seed: int, run_id: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = f"{scenario.name}_s{seed}_{stamp}_{run_id}"
    path = out_dir / f"{base}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = out_dir / f"{base}_{n}.jsonl"
    return path


def _persona(scenario: Scenario, state_id: str) -> Persona:
    s = scenario.state(state_id)
    return Persona(s.id, s.name, s.regime, s.transparency, s.disposition, s.doctrine)


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


async def run_scenario(
    scenario: Scenario,
    models: dict[str, str] | None = None,
    *,
    seed: int,
    out_dir: Path,
    default_model: str | None = None,
    options: ModelOptions | None = None,
    prompt_setup: str | None = None,
    max_retries: int = 2,
    max_in_flight: int | asyncio.Semaphore = 4,
    scenario_source: str = "",
    experiment: dict[str, Any] | None = None,
    resolved: dict[str, ResolvedModel] | None = None,
    record_path: Path | None = None,
    run_id: str | None = None,
    on_round: Callable[[RoundReport], None] | None = None,
    argv: list[str] | None = None,
    cache: ResponseCache | None = None,
    on_event: Callable[[BaseModel], None] | None = None,
) -> Path:
    """Play `scenario` and write its record; return the record's path.

    `resolved` supplies ready chat models per state (tests, benchmarks); otherwise specs are
    resolved from `models` overrides, the scenario and `default_model`. Raises RunFailed (after
    closing the record with the cause) if a model call fails beyond its retries.
    """
    setup = load_prompt_setup(prompt_setup or scenario.prompt_setup)
    kw: dict[str, Any] = {
        "max_retries": max_retries,
        "max_in_flight": max_in_flight,
        "scenario_source": scenario_source,
        "experiment": experiment,
        "record_path": record_path,
        "run_id": run_id,
        "on_round": on_round,
        "argv": argv,
        "cache": cache,
        "on_event": on_event,
    }
    if resolved is None:
        resolved = resolve_models(model_specs(scenario, models, default_model), seed, options)
        try:
            return await _play(scenario, resolved, setup, seed=seed, out_dir=out_dir, **kw)
        finally:
            close_models(resolved.values())
    return await _play(scenario, resolved, setup, seed=seed, out_dir=out_dir, **kw)


async def _play(
    scenario: Scenario,
    resolved: dict[str, ResolvedModel],
    setup: PromptSetup,
    *,
    seed: int,
    out_dir: Path,
    max_retries: int,
    max_in_flight: int | asyncio.Semaphore,
    scenario_source: str,
    experiment: dict[str, Any] | None,
    record_path: Path | None,
    run_id: str | None,
    on_round: Callable[[RoundReport], None] | None,
    argv: list[str] | None,
    cache: ResponseCache | None,
    on_event: Callable[[BaseModel], None] | None,
) -> Path:
    specs = {sid: m.spec for sid, m in resolved.items()}
    run_id = run_id or run_id_for(scenario, specs, setup, seed)
    path = record_path or _record_path(out_dir, scenario, seed, run_id)
    limiter = (
        max_in_flight
        if isinstance(max_in_flight, asyncio.Semaphore)
        else asyncio.Semaphore(max_in_flight)
    )
    revision, dirty = git_state()
    header = Header(
        run_id=run_id,
        scenario_source=scenario_source or scenario.name,
        scenario=scenario.model_dump(mode="json"),
        experiment=experiment,
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
            )
            for sid, m in resolved.items()
        },
        seed=seed,
        max_retries=max_retries,
        response_cache="off" if cache is None else "replay" if cache.replay else "read_write",
        package_versions=package_versions(),
        git_revision=revision,
        git_dirty=dirty,
        argv=argv if argv is not None else sys.argv,
        started_at=utc_now(),
    )
    agents = {
        sid: StateAgent(
            _persona(scenario, sid),
            resolved[sid],
            setup,
            max_retries=max_retries,
            limiter=limiter,
            cache=cache,
        )
        for sid in scenario.ids
    }
    writer = RecordWriter(path)
    writer.open(header)

    def emit(event: BaseModel) -> None:
        writer.write(event)
        if on_event is not None:
            on_event(event)

    engine = Engine(new_world(scenario, seed), agents, emit)
    try:
        end = await engine.play(on_round)
        writer.write(end)
    except BaseException as exc:
        cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        cause = "interrupted" if cancelled else f"{type(exc).__name__}: {exc}"
        writer.write(_failed_end(engine, cause, cancelled))
        if cancelled:
            raise
        raise RunFailed(path, cause) from exc
    finally:
        writer.close()
    return path


def _failed_end(engine: Engine, cause: str, cancelled: bool) -> RunEndEvent:
    totals: Totals = engine.totals
    war = engine.world.war
    return RunEndEvent(
        outcome="interrupted" if cancelled else "failed",
        rounds_played=max(0, engine.world.round - 1),
        war_round=None,
        war_initiator=war.initiator if war else None,
        totals=totals,
        error=cause,
        ended_at=utc_now(),
    )
