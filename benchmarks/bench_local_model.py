"""Measure the embedded `local` model: server startup, validation rate and time per decision.

Every decision goes through the real state agent (prompt setup, decision_reply_model, function
calling with a forced tool, re-asks with the validation error) against the real llama.cpp server.

    python benchmarks/bench_local_model.py --decisions 30 [--max-retries 2]

Prints one line per decision and a summary. Never runs as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.decision import decision_reply_model
from agents.local_server import current_server
from agents.models import ModelOptions, resolve_model
from agents.observation import Phase
from agents.personas import Persona
from agents.prompt_setup import load_prompt_setup
from agents.state_agent import CallLog, StateAgent
from scenarios.library import load_builtin
from simulation.visibility import observe
from simulation.world import new_world


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=30)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=700)
    parser.add_argument("--scenarios", default="two-rivals,secret-autocracies,triad")
    args = parser.parse_args()

    t0 = time.perf_counter()
    model = resolve_model("local", options=ModelOptions(max_tokens=args.max_tokens))
    startup = time.perf_counter() - t0
    server = current_server()
    print(
        f"startup {startup:.1f}s (server {server.startup_s if server else 0:.1f}s), "
        f"params {model.params}",
        flush=True,
    )
    setup = load_prompt_setup("baseline")
    names = args.scenarios.split(",")
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    seconds: list[float] = []
    call_seconds: list[float] = []
    out_tokens: list[int] = []
    try:
        for i in range(args.decisions):
            scenario = load_builtin(names[i % len(names)])
            spec = scenario.states[(i // len(names)) % len(scenario.states)]
            world = new_world(scenario, seed=i)
            obs = observe(world, spec.id, Phase.DECISION, 0)
            persona = Persona(
                spec.id, spec.name, spec.regime, spec.transparency, spec.disposition, spec.doctrine
            )
            agent = StateAgent(persona, model, setup, max_retries=args.max_retries)
            schema = decision_reply_model([o.id for o in obs.others], obs.rules.arms_cap_pct, [])
            logs: list[CallLog] = []
            t = time.perf_counter()
            result = await agent.ask(obs, schema, logs.append)
            dt = time.perf_counter() - t
            seconds.append(dt)
            call_seconds += [c.latency_s for c in logs]
            out_tokens += [c.output_tokens or 0 for c in logs]
            for c in logs:
                if c.error:
                    errors[c.error.split(":")[0][:40]] += 1
            kind = (
                "flagged"
                if result.reply is None
                else "first"
                if result.attempts == 1
                else "retried"
            )
            outcomes[kind] += 1
            last = logs[-1]
            print(
                f"{i + 1:3d} {scenario.name:18s} {spec.id:6s} {kind:8s} attempts={result.attempts}"
                f" {dt:5.1f}s out={[c.output_tokens for c in logs]}"
                f" err={(result.error or '')[:90]!r}",
                flush=True,
            )
            if result.reply is None:
                print(f"      last raw: {last.raw[:200]!r}", flush=True)
    finally:
        if model.close is not None:
            model.close()
    n = args.decisions
    valid = outcomes["first"] + outcomes["retried"]
    toks = sum(out_tokens)
    print(
        f"\ndecisions {n}: valid {valid} ({valid / n:.0%}); first attempt {outcomes['first']}"
        f" ({outcomes['first'] / n:.0%}); after re-ask {outcomes['retried']};"
        f" flagged {outcomes['flagged']}"
    )
    print(
        f"seconds per decision: mean {statistics.mean(seconds):.1f}, median"
        f" {statistics.median(seconds):.1f}, max {max(seconds):.1f}"
    )
    print(
        f"calls {len(call_seconds)}: mean {statistics.mean(call_seconds):.1f}s,"
        f" {toks / sum(call_seconds):.1f} output tokens/s overall"
        f" (mean {statistics.mean(out_tokens):.0f} output tokens per call)"
    )
    print(f"errors by kind: {dict(errors.most_common(8))}")


if __name__ == "__main__":
    asyncio.run(main())
