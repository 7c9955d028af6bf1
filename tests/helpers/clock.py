"""Time for tests without waiting: a fake clock, and gates that hold async model calls open.

`FakeClock` stands in for a module's `time` (and its async sleep): time passes only when
something sleeps, so a test can check how long a call took, or how long a client waited before
retrying, exactly and at once. `InFlight` and `HoldAfter` are `HeldChatModel.hold` gates: the
first counts the calls in flight at once, the second holds calls open until the test lets go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

_yield = asyncio.sleep  # the real one, kept before any test patches a module's asyncio

TURNS = 1000
"""Event-loop turns a waiter gives other tasks before it goes on regardless (never a sleep)."""


class FakeClock:
    """`time.monotonic`/`perf_counter`/`sleep` and an async sleep on a clock that only sleeps move.

    Concurrent async sleepers overlap: each wakes at its own start plus its delay, after the
    other tasks ready to run have had their turns, so three parallel 1 s sleeps take 1 s.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float, *args: Any, **kwargs: Any) -> None:
        self.sleeps.append(seconds)
        wake = self.now + seconds
        for _ in range(10):  # let every caller that is about to sleep start sleeping first
            await _yield(0)
        self.now = max(self.now, wake)

    def install(
        self, monkeypatch: pytest.MonkeyPatch, module: Any, *, async_sleep: bool = False
    ) -> None:
        """Make `module`'s `time` this clock (and its `asyncio.sleep` too, if asked)."""
        monkeypatch.setattr(module, "time", self)
        if async_sleep:
            monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=self.async_sleep))


@dataclass
class InFlight:
    """Counts the calls in flight at once; each call waits until `wanted` are in flight.

    The wait is bounded (`TURNS` event-loop turns, no sleep), so when fewer calls than `wanted`
    ever run together the test sees that in `peak` instead of hanging; and when more would run
    together, they arrive while the first `wanted` are held and `peak` shows them too.
    """

    wanted: int
    settle: int = 100
    """Turns a call stays open once `wanted` are in flight, so that any further call the code
    under test would let through arrives and shows in `peak`."""
    now: int = 0
    peak: int = 0
    calls: int = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        self.now += 1
        self.calls += 1
        self.peak = max(self.peak, self.now)
        try:
            for _ in range(TURNS):
                if self.now >= self.wanted:
                    break
                await _yield(0)
            for _ in range(self.settle):
                await _yield(0)
            yield
        finally:
            self.now -= 1


@dataclass
class HoldAfter:
    """Lets the first `free` calls through, then holds every later one open until `release`.

    `held` is set when the first call is held: the test knows the run is inside a model call.
    """

    free: int
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        self.calls += 1
        if self.calls > self.free:
            self.held.set()
            await self.release.wait()
        yield


async def wait_for_event(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait until `event` is set; fail (with the task's outcome) if `task` ends first."""
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        raise AssertionError(f"ended before the event was set: {task.result()!r}")
