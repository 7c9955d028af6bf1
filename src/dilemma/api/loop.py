"""Run a coroutine to its end from synchronous code, even inside a running event loop.

A Jupyter cell runs inside an event loop, where `asyncio.run` refuses to start another. There the
coroutine runs on a fresh loop in a worker thread while the caller waits; elsewhere it is plain
`asyncio.run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def running_loop() -> bool:
    """Whether this thread is running an event loop (a notebook cell, an async function)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The result of the coroutine `make()` returns, run to its end.

    Without a running loop in this thread: `asyncio.run` (Ctrl-C cancels it cleanly). With one:
    `asyncio.run` in a worker thread with its own loop; the calling thread (and its loop) waits.
    """
    if not running_loop():
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dilemma-sync") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
