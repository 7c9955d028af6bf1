"""Measure the embedded `local` model, before against after, interleaved decision by decision.

Two configurations decide on the same observations, on two local servers of their own, each
given as SETUP:SAMPLING:TEXT_MAX[:FLAGS] (prompt setup name or YAML file, sampling mode of
dilemma.models.local.server_main, free-text cap or `none`; flags `logits_all`, keep every
token's logits, and `no_fa`, no flash attention):

- before: `--before base-model:prefilter:160:logits_all:no_fa` (0.3.0's default: grammar over
  the 256 most likely tokens, every token sampled, the server keeping the logits of every
  token); `baseline:stock:none:logits_all:no_fa` is the setup before that; 0.4.0's default was
  `forced:160:no_fa` with version 3 of `base-model` (full JSON observations);
- after: `--after base-model:forced:LOCAL_TEXT_MAX` (the current default: grammar-forced
  stretches fed in one batch, free text capped at dilemma.models.local.model.LOCAL_TEXT_MAX,
  flash attention).

For each observation both answer, alternating which goes first, so load on the machine hits
both alike. Every decision goes through the real state agent (prompt setup, per-state reply
schema, function calling with a forced tool, re-asks with the validation error). The
observations come from the built-in scenarios after 0 to 3 rounds of scripted play (dove, hawk,
random and tit-for-tat in turn), so threats range from none to attacks under way.

Measured per configuration: validation rate (a valid decision after at most `--max-retries`
re-asks), seconds per decision (re-asks included), the server's CPU seconds per decision (user
plus system time of its process: unlike wall time it hardly depends on what else the machine
runs, and with one thread it approximates the wall time on an idle core), prompt and output
tokens (output tokens count forced ones too; the tokens sampled and forced are read from the
server's log), the characters of the replies, and the
incoherence rate: the share of valid decisions that choose violent escalation or all-out war
against a state the decider itself rates at threat 3 or lower. Before the measured decisions,
each configuration makes one unmeasured decision (reported apart): the first call of a server
evaluates the whole prompt, later calls reuse the prefix they share with the one before.

    python benchmarks/bench_local_model.py --decisions 30 [--out results.json]

Set DILEMMA_LOCAL_THREADS to choose the servers' threads (default 1). Prints one line per
decision, the load average at the start and the end, and a summary. Never runs as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dilemma.agents.prompt_setup import PromptSetup, load_prompt_setup
from dilemma.agents.state_agent import StateAgent
from dilemma.scenarios.library import load_builtin
from dilemma.scenarios.schema import Scenario
from pydantic import BaseModel

from dilemma.core.agent import CallLog
from dilemma.core.decision import Decision, decision_reply_model, to_decision
from dilemma.core.ladder import ACTION_RUNG, Rung
from dilemma.core.observation import Observation, Phase
from dilemma.core.personas import Persona
from dilemma.models.local.model import LOCAL_TEXT_MAX, local_model_on
from dilemma.models.local.server import (
    THREADS_ENV,
    LocalServer,
    LocalServerConfig,
    ensure_model_file,
)
from dilemma.models.local.server_main import parse_reply_stats
from dilemma.models.registry import resolve_model
from dilemma.models.types import ModelOptions, ResolvedModel
from dilemma.simulation.engine import Engine
from dilemma.simulation.visibility import observe
from dilemma.simulation.world import new_world

SCENARIOS = ("two-rivals", "secret-autocracies", "triad")
POLICIES = ("dove", "hawk", "random", "tit-for-tat")
MAX_ROUNDS_BEFORE = 3
INCOHERENT_RUNGS = frozenset({Rung.VIOLENT_ESCALATION, Rung.ALL_OUT_WAR})
LOW_THREAT = 3


def incoherent(decision: Decision, max_threat: int = LOW_THREAT) -> bool:
    """Whether `decision` takes violent escalation or all-out war against a state it rates at
    threat `max_threat` or lower (False when it names no target or no threat for it)."""
    if ACTION_RUNG[decision.action] not in INCOHERENT_RUNGS:
        return False
    levels = [t.level for t in decision.threat if t.state == decision.target]
    return bool(levels) and levels[0] <= max_threat


def persona_of(scenario: Scenario, state_id: str) -> Persona:
    """The persona a state is shown, as the runner builds it."""
    s = scenario.state(state_id)
    return Persona(s.id, s.name, s.shown_regime, s.shown_transparency, s.disposition, s.doctrine)


@dataclass(frozen=True)
class Situation:
    """One observation to decide on, with the reply schema of its state."""

    index: int
    scenario: Scenario
    state: str
    rounds_before: int
    obs: Observation
    schema: type[BaseModel]


async def situation(index: int) -> Situation:
    """Observation `index`: a built-in scenario after 0-3 rounds of scripted play (seeded)."""
    scenario = load_builtin(SCENARIOS[index % len(SCENARIOS)])
    ids = scenario.ids
    state = ids[(index // len(SCENARIOS)) % len(ids)]
    rounds_before = (index // 2) % (MAX_ROUNDS_BEFORE + 1)
    world = new_world(scenario, seed=index)
    setup = load_prompt_setup("baseline")  # scripted policies read the observation only
    agents = {
        sid: StateAgent(
            persona_of(scenario, sid),
            resolve_model(f"scripted:{POLICIES[(index + n) % len(POLICIES)]}", seed=index),
            setup,
        )
        for n, sid in enumerate(ids)
    }
    engine = Engine(world, agents, lambda _event: None)
    for _ in range(rounds_before):
        await engine.play_round()
        if world.war is not None:
            break
    world.round += 1
    obs = observe(world, state, Phase.DECISION, 0)
    offers = [p.id for p in obs.open_proposals or () if p.proposer != state]
    schema = decision_reply_model([o for o in ids if o != state], obs.rules.arms_cap_pct, offers)
    return Situation(index, scenario, state, world.round - 1, obs, schema)


def cpu_seconds(pid: int | None) -> float:
    """User plus system CPU seconds of process `pid` so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    """One configuration under test."""

    label: str
    setup: PromptSetup
    model: ResolvedModel
    server: LocalServer


@dataclass(frozen=True)
class Outcome:
    """One decision of one configuration."""

    config: str
    index: int
    scenario: str
    state: str
    rounds_before: int
    valid: bool
    attempts: int
    seconds: float
    server_cpu_s: float
    prompt_tokens: int
    output_tokens: int
    output_chars: int
    sampled_tokens: int
    forced_tokens: int
    action: str | None
    rung: str | None
    target_threat: int | None
    incoherent: bool
    error: str | None


async def decide(config: Config, s: Situation, max_retries: int) -> Outcome:
    """Ask `config` for a decision on `s`; time it and classify it."""
    agent = StateAgent(
        persona_of(s.scenario, s.state), config.model, config.setup, max_retries=max_retries
    )
    logs: list[CallLog] = []
    stats0 = len(parse_reply_stats(config.server.log_text()))
    cpu0 = cpu_seconds(config.server.pid)
    t0 = time.perf_counter()
    result = await agent.ask(s.obs, s.schema, logs.append)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds(config.server.pid) - cpu0
    stats = parse_reply_stats(config.server.log_text())[stats0:]
    decision = to_decision(result.reply) if result.reply is not None else None
    threat = None
    if decision is not None:
        threat = next((t.level for t in decision.threat if t.state == decision.target), None)
    return Outcome(
        config=config.label,
        index=s.index,
        scenario=s.scenario.name,
        state=s.state,
        rounds_before=s.rounds_before,
        valid=decision is not None,
        attempts=result.attempts,
        seconds=seconds,
        server_cpu_s=cpu,
        prompt_tokens=sum(c.input_tokens or 0 for c in logs),
        output_tokens=sum(c.output_tokens or 0 for c in logs),
        output_chars=sum(len(c.raw) for c in logs),
        sampled_tokens=sum(sampled for sampled, _ in stats),
        forced_tokens=sum(forced for _, forced in stats),
        action=decision.action.value if decision else None,
        rung=ACTION_RUNG[decision.action].value if decision else None,
        target_threat=threat,
        incoherent=decision is not None and incoherent(decision),
        error=result.error,
    )


def summary(outcomes: list[Outcome]) -> dict[str, float | int | dict[str, int]]:
    """Figures of one configuration's outcomes."""
    n = len(outcomes)
    valid = [o for o in outcomes if o.valid]
    seconds = [o.seconds for o in outcomes]
    tokens = sum(o.output_tokens for o in outcomes)
    return {
        "decisions": n,
        "valid": len(valid),
        "validation_rate": len(valid) / n,
        "first_attempt": sum(o.valid and o.attempts == 1 for o in outcomes),
        "mean_s": statistics.mean(seconds),
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "mean_server_cpu_s": statistics.mean(o.server_cpu_s for o in outcomes),
        "median_server_cpu_s": statistics.median(o.server_cpu_s for o in outcomes),
        "max_server_cpu_s": max(o.server_cpu_s for o in outcomes),
        "mean_prompt_tokens": sum(o.prompt_tokens for o in outcomes) / n,
        "mean_output_tokens": tokens / n,
        "mean_output_chars": sum(o.output_chars for o in outcomes) / n,
        "mean_sampled_tokens": sum(o.sampled_tokens for o in outcomes) / n,
        "mean_forced_tokens": sum(o.forced_tokens for o in outcomes) / n,
        "output_tokens_per_s": tokens / sum(seconds),
        "incoherent": sum(o.incoherent for o in valid),
        "incoherence_rate": sum(o.incoherent for o in valid) / len(valid) if valid else 0.0,
        "low_threat_targets": sum(
            o.target_threat is not None and o.target_threat <= LOW_THREAT for o in valid
        ),
        "rungs": dict(Counter(o.rung for o in valid if o.rung is not None).most_common()),
    }


def start_server(sampling: str, flags: list[str]) -> LocalServer:
    """A local server of our own with the given sampling mode and `flags` (`logits_all`: keep
    every token's logits, as 0.3.0; `no_fa`: without flash attention, as 0.4.0), running
    DILEMMA_LOCAL_THREADS threads (default 1)."""
    server = LocalServer(
        LocalServerConfig(
            model_path=ensure_model_file(),
            n_threads=max(1, int(os.environ.get(THREADS_ENV) or 1)),
            sampling=sampling,
            logits_all="logits_all" in flags,
            flash_attn="no_fa" not in flags,
        )
    )
    server.start()
    return server


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=30)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=700)
    parser.add_argument(
        "--before",
        default="base-model:prefilter:160:logits_all:no_fa",
        help="SETUP:SAMPLING:TEXT_MAX[:logits_all][:no_fa]",
    )
    parser.add_argument(
        "--after",
        default=f"base-model:forced:{LOCAL_TEXT_MAX}",
        help="SETUP:SAMPLING:TEXT_MAX[:logits_all][:no_fa]",
    )
    parser.add_argument("--out", type=Path, help="write every outcome and the summary as JSON")
    args = parser.parse_args()

    options = ModelOptions(max_tokens=args.max_tokens)
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    servers: list[LocalServer] = []
    configs: list[Config] = []
    warmups: dict[str, Outcome] = {}
    try:
        for label, spec in (("before", args.before), ("after", args.after)):
            setup_name, sampling, text_max, *flags = spec.split(":")
            server = start_server(sampling, flags)
            servers.append(server)
            configs.append(
                Config(
                    label,
                    load_prompt_setup(setup_name),
                    local_model_on(server, options, None if text_max == "none" else int(text_max)),
                    server,
                )
            )
            print(
                f"{label}: setup {setup_name}, sampling {sampling}, text max {text_max}, server"
                f" started in"
                f" {server.startup_s or 0:.1f}s, threads {server.config.n_threads}",
                flush=True,
            )
        warm = await situation(args.decisions)  # not one of the measured observations
        for config in configs:
            o = await decide(config, warm, args.max_retries)
            warmups[config.label] = o
            print(
                f"  0 {o.config:6s} first call (unmeasured): {o.seconds:.1f}s,"
                f" server CPU {o.server_cpu_s:.1f}s, out={o.output_tokens}",
                flush=True,
            )
        outcomes: list[Outcome] = []
        for i in range(args.decisions):
            s = await situation(i)
            order = configs if i % 2 == 0 else configs[::-1]
            for config in order:
                o = await decide(config, s, args.max_retries)
                outcomes.append(o)
                note = " INCOHERENT" if o.incoherent else ""
                if not o.valid:
                    note = f" err={(o.error or '')[:80]!r}"
                print(
                    f"{i + 1:3d} {o.config:6s} {o.scenario:18s} {o.state:6s} r{o.rounds_before}"
                    f" {'valid' if o.valid else 'FLAGGED':7s} att={o.attempts} {o.seconds:6.1f}s"
                    f" cpu={o.server_cpu_s:5.1f}s in={o.prompt_tokens:5d}"
                    f" out={o.output_tokens:4d} forced={o.forced_tokens:4d}"
                    f" {o.action or '-':17s} threat={o.target_threat}"
                    f"{note}",
                    flush=True,
                )
    finally:
        for server in servers:
            server.stop()
    load_end = os.getloadavg()
    figures = {c.label: summary([o for o in outcomes if o.config == c.label]) for c in configs}
    for label, f in figures.items():
        print(f"\n{label} ({getattr(args, label)}):")
        for key, value in f.items():
            print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
    before, after = figures["before"]["mean_s"], figures["after"]["mean_s"]
    assert isinstance(before, float) and isinstance(after, float)
    print(f"\nmean seconds per decision after/before: {after / before:.2f}")
    cpu_b, cpu_a = figures["before"]["mean_server_cpu_s"], figures["after"]["mean_server_cpu_s"]
    assert isinstance(cpu_b, float) and isinstance(cpu_a, float)
    print(f"mean server CPU s per decision after/before: {cpu_a / cpu_b:.2f}")
    print(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f} (1 min)")
    if args.out is not None:
        args.out.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "threads": servers[0].config.n_threads if servers else None,
                    "load_average": {"start": load_start, "end": load_end},
                    "summary": figures,
                    "first_calls": {k: asdict(o) for k, o in warmups.items()},
                    "outcomes": [asdict(o) for o in outcomes],
                },
                indent=1,
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    asyncio.run(main())
