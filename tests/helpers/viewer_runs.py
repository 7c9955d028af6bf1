"""Folders of records for the viewer tests: a small scripted sweep, a hostile run, a late run.

make_sweep(folder)          4 runs of two-rivals (transparency x model), scripted, 3 rounds;
                            `repeats=2` for 8
play_injected(folder)       a two-state war whose model writes markup into every free text
play_reasking(folder)       a two-state run with a re-ask (markup in the bad reply) and a fallback
write_in_two_steps(src, dst)   a record appearing as a run being written, then finished
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from dilemma.core.ladder import Action
from dilemma.experiments.spec import expand, load_experiment
from dilemma.simulation.runner import RunConfig, play_scenario
from tests.helpers.engine import fake, make_scenario, policy_model
from tests.helpers.records import Move, RecordBuilder
from tests.helpers.sweeps import sweep_locally

SWEEP = """
name: viewer-sweep
scenarios: [two-rivals]
rounds: 3
model: scripted:reactive
factors:
  transparency: [[transparent, transparent], [secretive, secretive]]
  model: [scripted:reactive, scripted:hawk]
repeats: {repeats}
"""

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
STATEMENT = f"We want peace {SCRIPT}"
MESSAGE = f"Talk to us {IMG}"
RATIONALE = f"Strike first {IMG} {SCRIPT}"
REASON = f"They arm {IMG}"


_T = TypeVar("_T")


def _run(play: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine on its own loop in a thread (Playwright's sync API holds this thread's)."""

    async def main() -> _T:
        return await play()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def make_sweep(folder: Path, repeats: int = 1) -> list[Path]:
    """Run the sweep SWEEP (4 conditions x `repeats`) into `folder` (through
    experiments.sweep, as `dilemma sweep`)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder.parent / f"{folder.name}-experiment.yaml"
    spec.write_text(SWEEP.format(repeats=repeats), encoding="utf-8")
    runs = expand(load_experiment(spec), spec)
    _run(lambda: sweep_locally(runs, folder, concurrency=4))
    return sorted(folder.glob("*.jsonl"))


def _injecting_editor() -> Any:
    """A's replies: markup in messages, statements, rationale and threat reasons; war in round 2."""
    decisions = 0

    def edit(reply: dict[str, Any]) -> None:
        nonlocal decisions
        if "messages" in reply:
            reply["messages"] = [{"to": ["all"], "text": MESSAGE}]
            return
        decisions += 1
        reply["public_statement"] = STATEMENT
        reply["private_rationale"] = RATIONALE
        for item in reply["threat"]:
            item["reason"] = REASON
        if decisions == 2:
            reply["action"], reply["target"] = "full_scale_war", "B"

    return edit


def play_injected(folder: Path) -> Path:
    """A two-state run (A injects markup, starts a war in round 2); returns its record."""
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=3, subturns=1)
    a = policy_model("hawk", edit=_injecting_editor())
    b = policy_model("dove")
    return _run(
        lambda: play_scenario(
            scenario,
            {"A": fake(a, "fake-a"), "B": fake(b, "fake-b")},
            RunConfig(seed=1, out_dir=folder, max_retries=0, argv=["test"]),
        )
    )


BAD_ACTION = f"bogus {SCRIPT}"
"""The action of A's first decision reply: invalid, so A is asked again."""


def _reasking_editor(bad_calls: set[int]) -> Any:
    """Decision replies number `bad_calls` (1-based) get an invalid action with markup."""
    decisions = 0

    def edit(reply: dict[str, Any]) -> None:
        nonlocal decisions
        if "messages" in reply:
            return
        decisions += 1
        if decisions in bad_calls:
            reply["action"] = BAD_ACTION

    return edit


def play_reasking(folder: Path) -> Path:
    """States A and B, 2 rounds, one re-ask allowed: A's first decision reply is invalid (its
    raw reply holds SCRIPT) and the re-ask succeeds; B's round-2 decision fails twice (a
    fallback). Returns the record."""
    scenario = make_scenario([{"id": "A"}, {"id": "B"}], rounds=2, subturns=1)
    a = policy_model("hawk", edit=_reasking_editor({1}))
    b = policy_model("dove", edit=_reasking_editor({2, 3}))
    return _run(
        lambda: play_scenario(
            scenario,
            {"A": fake(a, "fake-a"), "B": fake(b, "fake-b")},
            RunConfig(seed=7, out_dir=folder, max_retries=1, argv=["test"]),
        )
    )


@contextmanager
def write_in_two_steps(source: Path, target: Path, run_id: str) -> Iterator[None]:
    """Write `source` to `target` as another run: its first half now, the rest on exit.

    The first half ends in a cut line, as a record being appended looks to a reader.
    """
    lines = source.read_bytes().split(b"\n")
    header = json.loads(lines[0])
    header["run_id"] = run_id
    lines[0] = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    whole = b"\n".join(lines)
    half = len(lines) // 2
    first = b"\n".join(lines[:half]) + b"\n" + lines[half][: len(lines[half]) // 2]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(first)
    yield
    with target.open("ab") as fh:
        fh.write(whole[len(first) :])


def write_run(
    path: Path,
    run_id: str,
    conditions: dict[str, str] | None = None,
    *,
    war: bool = False,
    fallback: bool = False,
    run_end: bool = True,
    truncate: bool = False,
) -> Path:
    """A 3-round synthetic record of states A and B, in an experiment's `conditions`."""
    b = RecordBuilder(["A", "B"], rounds=3, run_id=run_id, models={"A": "m:a", "B": "m:b"})
    b_move = Move(fallback=True) if fallback else Move(change=2, threat=3)
    b.play({"A": Move(change=3, threat=4), "B": b_move})
    b.play({"A": Move(change=3, threat=6), "B": Move(change=2, threat=5)})
    if war:
        b.play({"A": Move(action=Action.FULL_SCALE_WAR, target="B", threat=9)})
    else:
        b.play({})
    path.parent.mkdir(parents=True, exist_ok=True)
    b.write(path, run_end=run_end, truncate=truncate)
    if conditions is not None:
        lines = path.read_text(encoding="utf-8").split("\n")
        header = json.loads(lines[0])
        header["experiment"] = {
            "name": "exp",
            "source": None,
            "runs": None,
            "conditions": conditions,
        }
        lines[0] = json.dumps(header, separators=(",", ":"))
        path.write_text("\n".join(lines), encoding="utf-8")
    return path
