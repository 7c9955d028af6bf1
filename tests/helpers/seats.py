"""Served runs with human seats for the web tests: two-rivals, people and fake or scripted
models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dilemma.agents.human_seat import SeatQueue, Timer, human_model
from dilemma.scenarios.library import load_scenario

from dilemma.models.registry import ResolvedModel, resolve_model
from dilemma.simulation.replay import Replay
from dilemma.simulation.runner import RunConfig, play_scenario
from dilemma.web.seat.app import SeatRun, new_tokens

SCRIPT = "<script>window.__pwned=1</script>"


def injecting(reply: dict[str, Any]) -> None:
    """Edit a scripted reply so every text a model writes carries a script tag."""
    if "messages" in reply:
        reply["messages"] = [{"to": ["all"], "text": f"hello {SCRIPT}"}]
    else:
        reply["public_statement"] = f"We warn you {SCRIPT}"


def seat_run(
    out: Path,
    seats: list[str],
    rounds: int = 3,
    models: Mapping[str, ResolvedModel] | None = None,
    deadline_s: float | None = None,
    timer: Timer | None = None,
    replay: Replay | None = None,
) -> SeatRun:
    """A run of two-rivals with `seats` played by people and the others by `models`
    (default: scripted:hawk), recorded in `out`."""
    scenario, _ = load_scenario("two-rivals")
    scenario = scenario.model_copy(
        update={"rules": scenario.rules.model_copy(update={"rounds": rounds})}
    )
    resolved: dict[str, ResolvedModel] = {}
    for sid in scenario.ids:
        if sid in seats:
            resolved[sid] = human_model()
        elif models is not None and sid in models:
            resolved[sid] = models[sid]
        else:
            resolved[sid] = resolve_model("scripted:hawk", seed=0)

    async def play(queue: SeatQueue) -> Path:
        config = RunConfig(seed=0, out_dir=out, desk=queue, replay=replay)
        return await play_scenario(scenario, resolved, config)

    queue = SeatQueue(deadline_s) if timer is None else SeatQueue(deadline_s, timer)
    return SeatRun(queue=queue, tokens=new_tokens(seats), play=play)
