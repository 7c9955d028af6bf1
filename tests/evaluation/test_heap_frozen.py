"""Runs leave the heap as they found it: frozen out of the collector while they play, not after.

`dilemma.simulation.runner._heap_frozen` freezes the objects alive when the first run of a process
starts
(`gc.freeze`) and unfreezes them when the last concurrent run ends, whether it completed or
failed; a heap someone else froze is left alone.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from dilemma.scenarios.schema import Scenario

from dilemma.simulation.engine import RoundReport
from dilemma.simulation.runner import RunConfig, RunFailed, run_scenario
from tests.helpers.engine import make_scenario


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def _scenario(rounds: int = 2) -> Scenario:
    return make_scenario([{"id": "A"}, {"id": "B"}], rounds=rounds)


async def test_frozen_while_runs_play_and_thawed_after(tmp_path: Path) -> None:
    seen: list[int] = []

    def on_round(report: RoundReport) -> None:
        seen.append(gc.get_freeze_count())

    async def one(seed: int) -> Path:
        config = RunConfig(seed=seed, out_dir=tmp_path, argv=["t"], on_round=on_round)
        return await run_scenario(_scenario(3), config, default_model="scripted:reactive")

    await asyncio.gather(*(one(seed) for seed in range(3)))
    assert len(seen) == 9 and all(count > 0 for count in seen)
    assert gc.get_freeze_count() == 0


async def test_a_failed_run_thaws_the_heap(tmp_path: Path) -> None:
    def fail(report: RoundReport) -> None:
        raise RuntimeError("boom")

    config = RunConfig(seed=0, out_dir=tmp_path, argv=["t"], on_round=fail)
    with pytest.raises(RunFailed):
        await run_scenario(_scenario(), config, default_model="scripted:reactive")
    assert gc.get_freeze_count() == 0


async def test_a_heap_frozen_by_someone_else_stays_frozen(tmp_path: Path) -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    config = RunConfig(seed=0, out_dir=tmp_path, argv=["t"])
    await run_scenario(_scenario(), config, default_model="scripted:reactive")
    assert frozen > 0 and gc.get_freeze_count() > 0  # (frozen objects may be freed meanwhile)
